/**
 * The agent console: sign in (a token, or a user name for the development
 * authenticator), status and capacity, the list of conversations grouped by state with
 * unread counts, several conversations open side by side, and an alert (tone and
 * desktop notification) for each new conversation or transfer offer.
 */

import { SwitchboardClient } from '../../sdk/src/index.js';
import type { AgentStatus, Conversation } from '../../sdk/src/index.js';
import { h } from '../../ui/dom.js';
import { pickLang } from '../../ui/lang.js';
import { alertAgent, askPermission } from './alert.js';
import type { CannedReply } from './canned.js';
import { loadCanned } from './canned.js';
import { ConversationPane, listState, visitorDetails } from './pane.js';
import { consoleStrings } from './strings.js';

const query = new URLSearchParams(location.search);
const lang = pickLang(query.get('lang') ?? navigator.language);
const t = consoleStrings(lang);
const SESSION_KEY = 'sb-console-session';
/** Panes open at once; opening one more closes the oldest. */
const MAX_PANES = 4;
const app = document.getElementById('app')!;
document.documentElement.lang = lang;
document.title = t.title;

interface Session {
  server: string;
  token: string;
}

function savedSession(): Session | undefined {
  try {
    const v = JSON.parse(sessionStorage.getItem(SESSION_KEY) ?? 'null') as Session | null;
    return v && typeof v.server === 'string' && typeof v.token === 'string' ? v : undefined;
  } catch {
    return undefined;
  }
}

function signInView(): void {
  const server = h('input', { name: 'server', value: query.get('server') ?? location.origin, 'data-testid': 'sb-signin-server' });
  const secret = h('input', { name: 'secret', required: true, 'data-testid': 'sb-signin-token', autocomplete: 'username' });
  const modeToken = h('input', { type: 'radio', name: 'mode', value: 'token' });
  const modeDev = h('input', { type: 'radio', name: 'mode', value: 'dev', checked: true, 'data-testid': 'sb-signin-dev' });
  const secretLabel = h('span', {}, t.devName);
  const sync = () => (secretLabel.textContent = modeDev.checked ? t.devName : t.token);
  modeToken.addEventListener('change', sync);
  modeDev.addEventListener('change', sync);
  const form = h('form', { class: 'signin', 'aria-label': t.signIn },
    h('h1', {}, t.title),
    h('label', {}, t.server, server),
    h('fieldset', {}, h('legend', {}, t.mode), h('label', {}, modeDev, t.modeDev), h('label', {}, modeToken, t.modeToken)),
    h('label', {}, secretLabel, secret),
    h('button', { type: 'submit', class: 'primary', 'data-testid': 'sb-signin' }, t.signIn));
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    askPermission();
    const value = secret.value.trim();
    const token = modeDev.checked && !value.includes(':') ? `agent:${value}` : value;
    const session = { server: server.value.trim(), token };
    sessionStorage.setItem(SESSION_KEY, JSON.stringify(session));
    startConsole(session);
  });
  app.replaceChildren(form);
  app.removeAttribute('aria-busy');
  secret.focus();
}

/** The signed-in console. */
class ConsoleApp {
  private readonly client: SwitchboardClient;
  private readonly list = h('nav', { class: 'conv-list', 'data-testid': 'sb-conv-list', 'aria-label': t.conversations });
  private readonly panesEl = h('div', { class: 'panes' });
  private readonly connState = h('span', { class: 'conn', role: 'status', 'data-testid': 'sb-status' }, t.connecting);
  private readonly panes = new Map<number, ConversationPane>();
  private readonly seen = new Set<number>();
  private canned: CannedReply[] = [];
  private status: AgentStatus = 'online';
  private capacity = 5;
  private frame = 0;

  constructor(session: Session) {
    this.client = new SwitchboardClient({ server: session.server, token: session.token, storageKey: `console:${session.token}` });
    for (const id of this.client.conversations.keys()) this.seen.add(id);
    void loadCanned(lang).then((r) => (this.canned = r));
    app.replaceChildren(this.topBar(), h('div', { class: 'layout' }, this.list, this.panesEl));
    app.removeAttribute('aria-busy');
    this.client.on('welcome', () => this.client.setStatus(this.status, this.capacity));
    this.client.on('conversation', (c) => this.onConversation(c));
    this.client.on('transferOffer', (e) => alertAgent(t.newOffer(e.fromAgent), e.visitor));
    for (const ev of ['state', 'conversation', 'item', 'sent', 'outbox', 'typing', 'read', 'presence'] as const) {
      this.client.on(ev, () => this.schedule());
    }
    this.client.connect();
    this.render();
  }

  private topBar(): HTMLElement {
    const status = h('select', { 'data-testid': 'sb-agent-status', 'aria-label': t.status },
      ...(['online', 'away', 'offline'] as const).map((s) => h('option', { value: s, selected: s === this.status }, t[s])));
    const capacity = h('input', { type: 'number', min: 1, max: 50, value: this.capacity, 'data-testid': 'sb-capacity', 'aria-label': t.capacity });
    const apply = () => {
      this.status = status.value as AgentStatus;
      this.capacity = Math.min(50, Math.max(1, Number(capacity.value) || 1));
      this.client.setStatus(this.status, this.capacity);
    };
    status.addEventListener('change', apply);
    capacity.addEventListener('change', apply);
    const out = h('button', { type: 'button', 'data-testid': 'sb-signout' }, t.signOut);
    out.addEventListener('click', () => {
      this.client.close();
      sessionStorage.removeItem(SESSION_KEY);
      signInView();
    });
    return h('header', { class: 'top' }, h('h1', {}, t.title), this.connState, h('span', { class: 'me', 'data-testid': 'sb-me' }),
      h('label', {}, t.status, status), h('label', {}, t.capacity, capacity), out);
  }

  private onConversation(c: Conversation): void {
    if (this.seen.has(c.id)) return;
    this.seen.add(c.id);
    if (c.agent === this.client.user && c.state === 'serving') {
      alertAgent(t.newConversation, c.visitor);
      if (this.panes.size === 0) this.open(c);
    }
  }

  private open(c: Conversation): void {
    if (this.panes.has(c.id)) return this.panes.get(c.id)!.focus();
    if (this.panes.size >= MAX_PANES) this.close(this.panes.keys().next().value!);
    const pane = new ConversationPane(this.client, c, t, lang, () => this.canned, () => this.close(c.id));
    this.panes.set(c.id, pane);
    this.panesEl.append(pane.el);
    this.render();
    pane.focus();
  }

  private close(conv: number): void {
    this.panes.get(conv)?.el.remove();
    this.panes.delete(conv);
    if (this.client.conversations.get(conv)?.state === 'ended') this.client.forget(conv);
    this.render();
  }

  private schedule(): void {
    if (this.frame) return;
    this.frame = requestAnimationFrame(() => {
      this.frame = 0;
      this.render();
    });
  }

  private render(): void {
    const s = this.client.state;
    this.connState.textContent = { idle: t.connecting, connecting: t.connecting, connected: t.connected, reconnecting: t.reconnecting, offline: t.offlineNet, stopped: t.stopped }[s];
    this.connState.dataset['state'] = s;
    const me = app.querySelector('[data-testid="sb-me"]');
    if (me) me.textContent = this.client.user ?? '';
    this.renderList();
    for (const p of this.panes.values()) p.render();
    if (this.panes.size === 0) this.panesEl.replaceChildren(h('p', { class: 'hint' }, t.pickHint));
    else this.panesEl.querySelector('.hint')?.remove();
  }

  private renderList(): void {
    const all = [...this.client.conversations.values()].sort((a, b) => b.id - a.id);
    const groups = (['transferring', 'waiting', 'serving', 'ended'] as const).map((state) => {
      const convs = all.filter((c) => listState(c, this.client.user) === state);
      if (convs.length === 0) return undefined;
      return h('section', { class: 'group' }, h('h2', {}, `${t[state]} (${convs.length})`), h('ul', {}, ...convs.map((c) => this.item(c))));
    });
    this.list.replaceChildren(h('h2', { class: 'list-title' }, t.conversations), ...(all.length ? groups.filter((g) => g !== undefined) : [h('p', { class: 'hint' }, t.none)]));
  }

  private item(c: Conversation): HTMLElement {
    const details = visitorDetails(c);
    const last = [...c.items].reverse().find((i) => i.type === 'message');
    const unread = this.panes.has(c.id) ? 0 : c.unread;
    const btn = h('button', { type: 'button', class: this.panes.has(c.id) ? 'conv open' : 'conv', 'aria-pressed': String(this.panes.has(c.id)) },
      h('span', { class: 'who' }, details['name'] ?? c.visitor),
      details['order'] ? h('span', { class: 'order' }, `#${details['order']}`) : undefined,
      unread ? h('span', { class: 'unread', 'data-testid': 'sb-unread', 'aria-label': t.unread(unread) }, String(unread)) : undefined,
      h('span', { class: 'preview' }, c.offer ? t.offeredBy(c.offer.fromAgent) : last?.type === 'message' ? last.body.split('\n')[0]! : ''));
    btn.addEventListener('click', () => this.open(c));
    return h('li', { 'data-testid': 'sb-conv-item', 'data-conv': c.id, 'data-state': listState(c, this.client.user) }, btn);
  }
}

function startConsole(session: Session): void {
  (window as { switchboardConsole?: ConsoleApp }).switchboardConsole = new ConsoleApp(session);
}

const saved = savedSession();
if (saved) startConsole(saved);
else signInView();
