/**
 * Canned replies: a list configured in `canned.json` beside the console, offered while
 * the reply starts with `/` (filtered by what follows), chosen with the arrow keys and
 * Enter or Tab, or a click.
 */

import { h } from '../../ui/dom.js';
import type { Lang } from '../../ui/lang.js';

/** One canned reply. */
export interface CannedReply {
  shortcut: string;
  text: string;
}

/** Loads `canned.json` (relative to the page); an absent or bad file gives no replies. */
export async function loadCanned(lang: Lang): Promise<CannedReply[]> {
  try {
    const res = await fetch('canned.json');
    const v = (await res.json()) as { replies?: { shortcut?: unknown; text?: Record<string, unknown> }[] };
    return (v.replies ?? []).flatMap((r) => {
      const text = r.text?.[lang] ?? r.text?.['en'];
      return typeof r.shortcut === 'string' && typeof text === 'string' ? [{ shortcut: r.shortcut, text }] : [];
    });
  } catch {
    return [];
  }
}

/** Attaches the picker to a reply box. */
export function attachCanned(input: HTMLTextAreaElement, replies: () => CannedReply[], label: string): HTMLElement {
  const box = h('ul', { class: 'canned', role: 'listbox', 'aria-label': label, hidden: true, 'data-testid': 'sb-canned' });
  let shown: CannedReply[] = [];
  let active = 0;
  const close = () => {
    box.hidden = true;
    shown = [];
    input.removeAttribute('aria-activedescendant');
  };
  const choose = (r: CannedReply) => {
    input.value = r.text;
    close();
    input.focus();
  };
  const draw = () => {
    box.replaceChildren(...shown.map((r, i) => {
      const li = h('li', { role: 'option', id: `canned-${r.shortcut}`, 'aria-selected': String(i === active), class: i === active ? 'active' : undefined },
        h('b', {}, `/${r.shortcut}`), ' ', r.text);
      li.addEventListener('mousedown', (e) => {
        e.preventDefault();
        choose(r);
      });
      return li;
    }));
    box.hidden = shown.length === 0;
    if (shown[active]) input.setAttribute('aria-activedescendant', `canned-${shown[active]!.shortcut}`);
  };
  input.addEventListener('input', () => {
    const v = input.value;
    if (!v.startsWith('/') || v.includes('\n')) return close();
    const q = v.slice(1).toLowerCase();
    shown = replies().filter((r) => r.shortcut.toLowerCase().startsWith(q) || r.text.toLowerCase().includes(q));
    active = 0;
    draw();
  });
  input.addEventListener('keydown', (e) => {
    if (box.hidden) return;
    if (e.key === 'ArrowDown' || e.key === 'ArrowUp') {
      e.preventDefault();
      active = (active + (e.key === 'ArrowDown' ? 1 : shown.length - 1)) % shown.length;
      draw();
    } else if (e.key === 'Enter' || e.key === 'Tab') {
      e.preventDefault();
      e.stopImmediatePropagation();
      const r = shown[active];
      if (r) choose(r);
    } else if (e.key === 'Escape') {
      e.stopPropagation();
      close();
    }
  });
  input.addEventListener('blur', close);
  return box;
}
