/**
 * The widget's DOM: bubble, panel, header with connection state, pre-chat form, the
 * message list, typing line and composer. It re-renders from the client's state on
 * every client event (batched per animation frame), so what it shows is always what
 * the SDK knows — including an honest connection state.
 */

import type { Conversation, SwitchboardClient } from '../../sdk/src/index.js';
import { h } from '../../ui/dom.js';
import type { Lang } from '../../ui/lang.js';
import type { PrechatField } from '../../ui/prechat.js';
import { prechatLine } from '../../ui/prechat.js';
import { renderThread } from '../../ui/thread.js';
import { widgetStrings } from './strings.js';
import type { WidgetStrings } from './strings.js';

/** How the view is set up. */
export interface ViewOptions {
  lang: Lang;
  color: string | null;
  prechat: PrechatField[];
  title: string | null;
  stylesheet: string;
}

/** The mounted widget. */
export class WidgetView {
  private readonly t: WidgetStrings;
  private readonly root: ShadowRoot;
  private readonly bubble: HTMLButtonElement;
  private readonly badge: HTMLSpanElement;
  private readonly panel: HTMLElement;
  private readonly status: HTMLElement;
  private readonly who: HTMLElement;
  private readonly list: HTMLOListElement;
  private readonly typingLine: HTMLElement;
  private readonly notice: HTMLElement;
  private readonly form: HTMLFormElement;
  private readonly input: HTMLTextAreaElement;
  private readonly file: HTMLInputElement;
  private readonly prechat: HTMLFormElement | undefined;
  private isOpen = false;
  private frame = 0;
  /** The reconnect delay of the last `state` event, for the status line. */
  private retryMs = 0;

  constructor(host: HTMLElement, private readonly client: SwitchboardClient, private readonly opts: ViewOptions) {
    this.t = widgetStrings(opts.lang);
    this.root = host.attachShadow({ mode: 'open' });
    if (opts.color && CSS.supports('color', opts.color)) host.style.setProperty('--sb-accent', opts.color);
    const t = this.t;
    this.badge = h('span', { class: 'sb-badge', hidden: true, 'aria-hidden': 'true' });
    this.bubble = h('button', { class: 'sb-bubble', type: 'button', 'data-testid': 'sb-open', 'aria-label': t.open, 'aria-expanded': 'false', 'aria-controls': 'sb-panel' }, h('span', { class: 'sb-bubble-icon', 'aria-hidden': 'true' }, '💬'), this.badge);
    this.status = h('p', { class: 'sb-status', 'data-testid': 'sb-status', role: 'status', 'aria-live': 'polite' }, t.connecting);
    this.who = h('p', { class: 'sb-who' });
    const closeBtn = h('button', { class: 'sb-close', type: 'button', 'aria-label': t.close }, '×');
    this.list = h('ol', { class: 'sb-messages', 'data-testid': 'sb-messages', role: 'log', 'aria-live': 'polite', 'aria-label': opts.title ?? t.title, tabindex: '0' });
    this.typingLine = h('p', { class: 'sb-typing', 'aria-live': 'polite' });
    this.notice = h('p', { class: 'sb-notice', role: 'alert', hidden: true });
    this.input = h('textarea', { class: 'sb-input', 'data-testid': 'sb-input', rows: 1, 'aria-label': t.input, placeholder: t.input, maxlength: client.options.maxBodyChars });
    this.file = h('input', { type: 'file', class: 'sb-file-input', 'aria-label': t.attach, 'data-testid': 'sb-file' });
    const attach = h('label', { class: 'sb-attach', title: t.attach }, h('span', { 'aria-hidden': 'true' }, '📎'), this.file);
    const send = h('button', { class: 'sb-send', type: 'submit', 'data-testid': 'sb-send' }, t.send);
    this.form = h('form', { class: 'sb-composer' }, attach, this.input, send);
    this.prechat = opts.prechat.length ? this.prechatForm(opts.prechat) : undefined;
    this.panel = h('section', { class: 'sb-panel', id: 'sb-panel', role: 'dialog', 'aria-label': opts.title ?? t.title, hidden: true, lang: opts.lang },
      h('header', { class: 'sb-header' }, h('div', {}, h('h2', { class: 'sb-title' }, opts.title ?? t.title), this.who, this.status), closeBtn),
      this.list, this.typingLine, this.notice, this.prechat, this.form);
    this.root.append(h('link', { rel: 'stylesheet', href: opts.stylesheet }), this.panel, this.bubble);
    this.bubble.addEventListener('click', () => this.toggle(!this.isOpen));
    closeBtn.addEventListener('click', () => this.toggle(false));
    this.panel.addEventListener('keydown', (e) => e.key === 'Escape' && this.toggle(false));
    this.wireComposer();
    client.on('state', (s) => (this.retryMs = s.retryInMs ?? 0));
    for (const ev of ['state', 'conversation', 'item', 'sent', 'outbox', 'typing', 'read', 'queue', 'presence', 'lineFailed'] as const) {
      client.on(ev, () => this.schedule());
    }
    document.addEventListener('visibilitychange', () => this.schedule());
    this.render();
  }

  private prechatForm(fields: PrechatField[]): HTMLFormElement {
    const t = this.t;
    const inputs = fields.map((f) => h('input', { name: f, 'data-testid': `sb-prechat-${f}`, autocomplete: f === 'name' ? 'name' : 'off', maxlength: 200 }));
    const form = h('form', { class: 'sb-prechat' }, h('p', {}, t.prechatIntro),
      ...fields.map((f, i) => h('label', {}, t.fields[f], inputs[i])),
      h('button', { type: 'submit', class: 'sb-send', 'data-testid': 'sb-prechat-start' }, t.start));
    form.addEventListener('submit', (e) => {
      e.preventDefault();
      const answers: Partial<Record<PrechatField, string>> = {};
      fields.forEach((f, i) => (answers[f] = inputs[i]!.value));
      this.client.send(prechatLine(answers));
      this.render();
      this.input.focus();
    });
    return form;
  }

  private wireComposer(): void {
    this.form.addEventListener('submit', (e) => {
      e.preventDefault();
      this.submit();
    });
    this.input.addEventListener('keydown', (e) => {
      if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) {
        e.preventDefault();
        this.submit();
      }
    });
    this.input.addEventListener('input', () => this.conversation()?.notifyTyping());
    this.file.addEventListener('change', () => void this.uploadChosen());
  }

  private submit(): void {
    const body = this.input.value;
    if (body.trim() === '') return;
    try {
      this.client.send(body);
      this.input.value = '';
      this.showNotice(undefined);
    } catch (err) {
      this.showNotice((err as Error).message);
    }
    this.render();
  }

  private async uploadChosen(): Promise<void> {
    const f = this.file.files?.[0];
    this.file.value = '';
    if (!f) return;
    try {
      const c = this.conversation()?.state === 'ended' || !this.conversation() ? await this.client.start() : this.conversation()!;
      const a = await this.client.upload(c.id, f, f.name);
      c.send('', a);
      this.showNotice(undefined);
    } catch (err) {
      this.showNotice(`${this.t.uploadFailed}: ${(err as Error).message}`);
    }
  }

  private showNotice(text: string | undefined): void {
    this.notice.hidden = text === undefined;
    this.notice.textContent = text ?? '';
  }

  private toggle(open: boolean): void {
    this.isOpen = open;
    this.panel.hidden = !open;
    this.bubble.setAttribute('aria-expanded', String(open));
    this.bubble.setAttribute('aria-label', open ? this.t.close : this.t.open);
    this.render();
    if (open) (this.needsPrechat() ? this.prechat?.querySelector('input') ?? this.input : this.input).focus();
    else this.bubble.focus();
  }

  /** Opens the panel (for a page's own "chat with us" link). */
  open(): void {
    this.toggle(true);
  }

  private conversation(): Conversation | undefined {
    return this.client.visitorConversation();
  }

  private needsPrechat(): boolean {
    const c = this.conversation();
    return this.prechat !== undefined && !c && this.client.outbox.all().length === 0;
  }

  private schedule(): void {
    if (this.frame) return;
    this.frame = requestAnimationFrame(() => {
      this.frame = 0;
      this.render();
    });
  }

  private render(): void {
    const c = this.conversation();
    this.renderStatus();
    this.renderWho(c);
    const t = this.t;
    const empty = !c || c.items.length === 0 ? [h('li', { class: 'sb-sys sb-empty' }, t.empty)] : [];
    renderThread(this.list, this.client, c, this.opts.lang, {
      sending: t.sending, sentTick: t.sentTick, readTick: t.readTick, sender: (from) => from || t.agent,
    }, c && c.items.length ? [] : empty);
    if (c?.state === 'ended') this.list.append(h('li', { class: 'sb-sys sb-ended' }, `${t.ended} ${t.newChat}`));
    const typers = c ? [...c.typing.keys()] : [];
    this.typingLine.textContent = typers.length ? t.typing(typers.join(', ')) : '';
    const pre = this.needsPrechat();
    if (this.prechat) this.prechat.hidden = !pre;
    this.form.hidden = pre;
    this.renderBadge(c);
  }

  private renderStatus(): void {
    const t = this.t;
    const s = this.client.state;
    const text = s === 'connected' ? t.connected : s === 'offline' ? t.offline : s === 'reconnecting' ? t.reconnecting(Math.ceil(this.retryMs / 1000)) : s === 'stopped' ? t.stopped : t.connecting;
    this.status.textContent = text;
    this.status.dataset['state'] = s;
  }

  private renderWho(c: Conversation | undefined): void {
    const t = this.t;
    let text = '';
    if (c && c.state === 'waiting') text = t.waiting(c.queuePosition);
    else if (c && c.state !== 'ended' && c.agent) text = t.chattingWith(c.agent);
    this.who.textContent = text;
    this.who.dataset['testid'] = 'sb-who';
  }

  private renderBadge(c: Conversation | undefined): void {
    const visible = this.isOpen && document.visibilityState === 'visible';
    if (visible && c && c.unread > 0) c.markRead();
    const unread = !visible && c ? c.unread : 0;
    this.badge.hidden = unread === 0;
    this.badge.textContent = unread > 99 ? '99+' : String(unread);
    this.bubble.setAttribute('aria-label', unread ? `${this.isOpen ? this.t.close : this.t.open} (${this.t.unread(unread)})` : this.isOpen ? this.t.close : this.t.open);
  }
}
