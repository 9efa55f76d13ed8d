/**
 * Renders one conversation's items and pending lines into a list element; shared by the
 * widget (`sb-messages`) and the console (`sb-thread`). Each item is an element with
 * `data-seq` (and `data-mine="true"` for the signed-in user's lines); lines still in the
 * outbox have `data-pending="true"` and no `data-seq` until the engine gives them one.
 */

import type { Attachment, Conversation, MessageItem, OutboxLine, SwitchboardClient } from '../sdk/src/index.js';
import { atBottom, clock, h, size } from './dom.js';
import type { Lang } from './lang.js';
import { parsePrechat } from './prechat.js';
import { systemText } from './system-text.js';

/** The words the thread needs. */
export interface ThreadWords {
  sending: string; sentTick: string; readTick: string;
  /** Shown for a line of someone else: a name for the sender's user id. */
  sender: (from: string) => string;
}

function attachmentView(client: SwitchboardClient, a: Attachment): HTMLElement {
  const url = client.attachmentUrl(a);
  if (a.content_type.startsWith('image/')) {
    return h('a', { class: 'sb-att', href: url, target: '_blank', rel: 'noopener' }, h('img', { src: url, alt: a.name, loading: 'lazy' }));
  }
  return h('a', { class: 'sb-att sb-file', href: url, target: '_blank', rel: 'noopener', download: a.name }, `📎 ${a.name} (${size(a.size)})`);
}

/** A line's text, or, for a pre-chat line, its answers as a small definition list. */
function bodyView(body: string): HTMLElement | undefined {
  if (!body) return undefined;
  const pre = parsePrechat(body);
  if (!pre) return h('span', { class: 'sb-body' }, body);
  return h('dl', { class: 'sb-body sb-prechat-card' }, ...Object.entries(pre).flatMap(([k, v]) => [h('dt', {}, k), h('dd', {}, v)]));
}

function messageView(client: SwitchboardClient, c: Conversation, m: MessageItem, lang: Lang, w: ThreadWords): HTMLElement {
  const mine = c.isMine(m);
  const read = mine && c.peerReadSeq >= m.seq;
  const tick = mine ? h('span', { class: read ? 'sb-tick sb-read' : 'sb-tick', title: read ? w.readTick : w.sentTick, 'aria-label': read ? w.readTick : w.sentTick }, read ? '✓✓' : '✓') : undefined;
  return h('li', { class: mine ? 'sb-msg sb-mine' : 'sb-msg', 'data-seq': m.seq, 'data-mine': mine ? 'true' : undefined },
    mine ? undefined : h('span', { class: 'sb-from' }, w.sender(m.from)),
    bodyView(m.body),
    m.attachment ? attachmentView(client, m.attachment) : undefined,
    h('span', { class: 'sb-meta' }, clock(m.ts, lang), tick),
  );
}

function pendingView(client: SwitchboardClient, l: OutboxLine, w: ThreadWords): HTMLElement {
  return h('li', { class: 'sb-msg sb-mine sb-pending', 'data-mine': 'true', 'data-pending': 'true', 'data-client-msg-id': l.clientMsgId },
    bodyView(l.body),
    l.attachment ? attachmentView(client, l.attachment) : undefined,
    h('span', { class: 'sb-meta', 'aria-label': w.sending, title: w.sending }, '🕓'),
  );
}

/** Replaces the children of `list` with the conversation's items and pending lines. */
export function renderThread(list: HTMLElement, client: SwitchboardClient, c: Conversation | undefined, lang: Lang, w: ThreadWords, before: Node[] = []): void {
  const stick = atBottom(list);
  const nodes: Node[] = [...before];
  if (c) {
    for (const item of c.items) {
      nodes.push(item.type === 'message'
        ? messageView(client, c, item, lang, w)
        : h('li', { class: 'sb-sys', 'data-seq': item.seq, role: 'note' }, systemText(item, lang)));
    }
    for (const l of c.pending) nodes.push(pendingView(client, l, w));
  }
  list.replaceChildren(...nodes);
  if (stick) list.scrollTop = list.scrollHeight;
}
