/**
 * One open conversation in the console: visitor details, actions (accept, transfer,
 * end), the thread paged backwards, and the reply box with canned replies. Several
 * panes are open side by side; each is scoped by `data-conv`.
 */

import type { Conversation, SwitchboardClient } from '../../sdk/src/index.js';
import { h } from '../../ui/dom.js';
import type { Lang } from '../../ui/lang.js';
import { parsePrechat } from '../../ui/prechat.js';
import { renderThread } from '../../ui/thread.js';
import type { CannedReply } from './canned.js';
import { attachCanned } from './canned.js';
import type { ConsoleStrings } from './strings.js';

/** The visitor details a pre-chat line gave, if the conversation starts with one. */
export function visitorDetails(c: Conversation): Record<string, string> {
  const first = c.items.find((i) => i.type === 'message' && i.from === c.visitor);
  return (first?.type === 'message' && parsePrechat(first.body)) || {};
}

/**
 * How the console files a conversation: an offer to this agent is `transferring`, and one
 * that another agent took over is over for this agent (`ended`), whatever its state.
 */
export function listState(c: Conversation, me: string | undefined): Conversation['state'] {
  if (c.offer) return 'transferring';
  if (c.agent !== undefined && c.agent !== me && c.state !== 'waiting') return 'ended';
  return c.state;
}

/** A conversation's pane. */
export class ConversationPane {
  /** The pane's root element. */
  readonly el: HTMLElement;
  private readonly head: HTMLElement;
  private readonly actions: HTMLElement;
  private readonly thread: HTMLOListElement;
  private readonly typingLine: HTMLElement;
  private readonly reply: HTMLTextAreaElement;
  private readonly transferForm: HTMLFormElement;
  private readonly older: HTMLButtonElement;
  private loadingOlder = false;

  constructor(
    private readonly client: SwitchboardClient,
    private readonly conv: Conversation,
    private readonly t: ConsoleStrings,
    private readonly lang: Lang,
    canned: () => CannedReply[],
    onClose: () => void,
  ) {
    this.head = h('div', { class: 'pane-head' });
    this.actions = h('div', { class: 'pane-actions' });
    this.older = h('button', { type: 'button', class: 'older', 'data-testid': 'sb-older' }, t.older);
    this.older.addEventListener('click', () => void this.loadOlder());
    this.thread = h('ol', { class: 'thread', 'data-testid': 'sb-thread', role: 'log', 'aria-live': 'polite', tabindex: '0' });
    this.thread.addEventListener('scroll', () => this.thread.scrollTop === 0 && void this.loadOlder());
    this.typingLine = h('p', { class: 'typing', 'aria-live': 'polite' });
    this.reply = h('textarea', { class: 'reply', 'data-testid': 'sb-reply-input', rows: 2, 'aria-label': t.reply, placeholder: t.reply });
    const send = h('button', { type: 'submit', 'data-testid': 'sb-reply-send' }, t.send);
    const picker = attachCanned(this.reply, canned, t.cannedHint);
    const form = h('form', { class: 'composer' }, picker, this.reply, send);
    form.addEventListener('submit', (e) => {
      e.preventDefault();
      this.send();
    });
    this.reply.addEventListener('keydown', (e) => {
      if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) {
        e.preventDefault();
        this.send();
      }
    });
    this.reply.addEventListener('input', () => conv.notifyTyping());
    this.transferForm = this.buildTransferForm();
    const close = h('button', { type: 'button', class: 'pane-close', 'aria-label': t.closePane }, '×');
    close.addEventListener('click', onClose);
    this.el = h('section', { class: 'pane', 'data-conv': conv.id, 'aria-label': `${t.visitor} ${conv.visitor}` },
      h('header', {}, this.head, close), this.actions, this.transferForm, this.older, this.thread, this.typingLine, form);
    this.render();
  }

  private buildTransferForm(): HTMLFormElement {
    const t = this.t;
    const to = h('input', { name: 'to', required: true, 'data-testid': 'sb-transfer-to', 'aria-label': t.transferTo, placeholder: t.transferTo });
    const note = h('input', { name: 'note', 'data-testid': 'sb-transfer-note', 'aria-label': t.transferNote, placeholder: t.transferNote });
    const cancel = h('button', { type: 'button' }, t.cancel);
    const form = h('form', { class: 'transfer-form', hidden: true }, to, note, h('button', { type: 'submit', 'data-testid': 'sb-transfer-confirm' }, t.transferGo), cancel);
    cancel.addEventListener('click', () => (form.hidden = true));
    form.addEventListener('submit', (e) => {
      e.preventDefault();
      if (!to.value.trim()) return;
      this.conv.transfer(to.value.trim(), note.value);
      form.hidden = true;
      to.value = '';
      note.value = '';
    });
    return form;
  }

  private send(): void {
    const body = this.reply.value;
    if (body.trim() === '' || this.conv.state === 'ended') return;
    try {
      this.conv.send(body);
      this.reply.value = '';
    } catch (err) {
      console.warn(err);
    }
  }

  private async loadOlder(): Promise<void> {
    if (this.loadingOlder || !this.conv.hasOlder) return;
    this.loadingOlder = true;
    const height = this.thread.scrollHeight;
    try {
      await this.conv.loadOlder();
      this.render();
      this.thread.scrollTop = this.thread.scrollHeight - height;
    } catch (err) {
      console.warn('history', err);
    } finally {
      this.loadingOlder = false;
    }
  }

  /** Focuses the reply box. */
  focus(): void {
    this.reply.focus();
  }

  /** Redraws from the conversation's state. */
  render(): void {
    const c = this.conv;
    const t = this.t;
    const details = visitorDetails(c);
    this.head.replaceChildren(
      h('h2', {}, details['name'] ? `${details['name']} (${c.visitor})` : c.visitor),
      this.stateBadge(),
      h('dl', { class: 'details', 'aria-label': t.details }, ...Object.entries(details).flatMap(([k, v]) => [h('dt', {}, k), h('dd', {}, v)])),
    );
    this.renderActions();
    this.older.hidden = !c.hasOlder;
    renderThread(this.thread, this.client, c, this.lang, {
      sending: '…', sentTick: '✓', readTick: '✓✓', sender: (from) => (from === c.visitor ? (details['name'] ?? from) : from),
    });
    const typers = [...c.typing.keys()];
    this.typingLine.textContent = typers.length ? t.typing(typers.join(', ')) : '';
    this.reply.disabled = c.state === 'ended' || c.offer !== undefined;
    if (document.visibilityState === 'visible' && c.state !== 'ended') c.markRead();
  }

  private stateBadge(): HTMLElement {
    const c = this.conv;
    const shown = listState(c, this.client.user);
    const text = shown === 'ended' && c.state !== 'ended' && c.agent ? this.t.movedTo(c.agent) : this.t[shown];
    return h('span', { class: `state state-${shown}`, 'data-testid': 'sb-conv-state' }, text);
  }

  private renderActions(): void {
    const c = this.conv;
    const t = this.t;
    const buttons: HTMLElement[] = [];
    if (c.offer) {
      const accept = h('button', { type: 'button', class: 'primary', 'data-testid': 'sb-accept' }, t.accept);
      const decline = h('button', { type: 'button', 'data-testid': 'sb-decline' }, t.decline);
      accept.addEventListener('click', () => c.accept());
      decline.addEventListener('click', () => c.decline());
      buttons.push(h('span', { class: 'offer' }, t.offeredBy(c.offer.fromAgent)), accept, decline);
    } else if (c.state !== 'ended' && c.agent === this.client.user) {
      const transfer = h('button', { type: 'button', 'data-testid': 'sb-transfer', disabled: c.state === 'transferring' }, t.transfer);
      const end = h('button', { type: 'button', class: 'danger', 'data-testid': 'sb-end' }, t.end);
      transfer.addEventListener('click', () => {
        this.transferForm.hidden = false;
        this.transferForm.querySelector('input')?.focus();
      });
      end.addEventListener('click', () => c.end());
      buttons.push(transfer, end);
    }
    this.actions.replaceChildren(...buttons);
  }
}
