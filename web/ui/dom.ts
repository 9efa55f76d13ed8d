/**
 * A tiny element builder for the widget and the console. Text always goes in as text
 * nodes (never as HTML), so a chat line can not inject markup; no inline styles or
 * handlers are written, so the pages run under a strict Content-Security-Policy.
 */

/** Attributes: strings are set as attributes, `false`/`undefined` are left out. */
export type Attrs = Record<string, string | number | boolean | undefined>;

/** Creates `<tag>` with attributes and children (strings become text nodes). */
export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Attrs = {},
  ...children: (Node | string | undefined | false)[]
): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === false) continue;
    el.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children) if (c !== undefined && c !== false) el.append(c);
  return el;
}

/** Whether the element is scrolled (nearly) to its end. */
export function atBottom(el: HTMLElement): boolean {
  return el.scrollHeight - el.scrollTop - el.clientHeight < 40;
}

/** The time of day of a server timestamp, in the page's locale. */
export function clock(ts: number, lang: string): string {
  return new Date(ts).toLocaleTimeString(lang, { hour: '2-digit', minute: '2-digit' });
}

/** A human size: 1.2 MB. */
export function size(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KB`;
  return `${(bytes / 1024 / 1024).toFixed(1)} MB`;
}
