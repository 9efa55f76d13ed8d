/**
 * `SwitchboardClient`: one user's connection to the engine, kept alive across network
 * loss. It reconnects with backoff, resumes every conversation from the last `seq` it
 * has, drops what it has seen, resends the outbox with the same client message ids
 * until `sent`, and backs off when the engine reports pressure. Frame handling is in
 * `dispatch.ts`; this file owns the socket's life and the public API.
 */

import { backoffDelay } from './backoff.js';
import { Conversation } from './conversation.js';
import type { ConversationHost } from './conversation.js';
import { Dispatcher } from './dispatch.js';
import { Emitter } from './emitter.js';
import type { ClientEvents, ConnectionState } from './events.js';
import type { AgentStatus, Attachment, ClientFrame, Role } from './frames.js';
import { parseServerFrame } from './frames.js';
import { historyPage, HttpError, upload } from './http.js';
import type { HttpContext } from './http.js';
import { fnv1a, newClientMsgId } from './ids.js';
import type { ClientInit, ClientOptions, WebSocketLike } from './options.js';
import { httpBase, queryValue, withDefaults, wsUrl } from './options.js';
import { Outbox } from './outbox.js';
import { defaultStore, PersistedState } from './storage.js';
import type { OutboxLine } from './storage.js';

/** Close codes after which reconnecting would be wrong (docs/protocol.md). */
const FINAL_CLOSE_CODES = new Set([4001, 4002]);
/** How often timers (resends, typing expiry, missing replays) are checked (ms). */
const TICK_MS = 250;

/** A Switchboard chat client for a visitor or an agent. */
export class SwitchboardClient extends Emitter<ClientEvents> implements ConversationHost {
  /** The options in force (defaults filled in). */
  readonly options: ClientOptions;
  /** Conversations by id. */
  readonly conversations = new Map<number, Conversation>();
  /** The user id the engine gave us (after the first `welcome`). */
  user: string | undefined;
  /** Our role. */
  role: Role | undefined;
  /** The current connection id. */
  conn: number | undefined;
  /** The connection state. */
  state: ConnectionState = 'idle';
  /** The engine's last reported pressure level. */
  pressure = 0;

  /** @internal */ readonly outbox: Outbox;
  /** @internal */ readonly persisted: PersistedState;
  private readonly dispatcher: Dispatcher;
  private ws: WebSocketLike | undefined;
  private token: string | undefined;
  private attempt = 0;
  private stopped = true;
  private retryTimer: ReturnType<typeof setTimeout> | undefined;
  private connectTimer: ReturnType<typeof setTimeout> | undefined;
  private tick: ReturnType<typeof setInterval> | undefined;
  private saveTimer: ReturnType<typeof setTimeout> | undefined;
  private readonly dirty = new Set<number>();
  private readonly lastTyping = new Map<number, number>();
  private readonly onOnline = () => this.wake();
  private readonly onOffline = () => this.goOffline();

  constructor(init: ClientInit) {
    super();
    this.options = withDefaults(init);
    const ns = this.options.storageKey ?? fnv1a(`${httpBase(this.options.server)}|${this.options.token ?? 'provider'}`);
    this.persisted = new PersistedState(this.options.storage ?? defaultStore(), ns, this.options.maxBodyChars);
    this.outbox = new Outbox(this.persisted, this.options.maxOutboxLines);
    this.dispatcher = new Dispatcher(this);
    for (const id of this.persisted.loadIndex()) {
      const stored = this.persisted.loadConversation(id);
      if (stored) this.conversations.set(id, Conversation.restore(this, stored, this.options.maxItemsInMemory));
    }
  }

  // ---- the connection's life ----

  /** Connects, and keeps reconnecting until `close()`. Idempotent. */
  connect(): void {
    if (!this.stopped) return;
    this.stopped = false;
    const net = this.network();
    net?.addEventListener('online', this.onOnline);
    net?.addEventListener('offline', this.onOffline);
    this.setState(this.isOffline() ? 'offline' : 'connecting');
    if (!this.isOffline()) void this.open();
  }

  /** Closes the connection and stops reconnecting. Stored state stays. */
  close(): void {
    this.stopped = true;
    const net = this.network();
    net?.removeEventListener('online', this.onOnline);
    net?.removeEventListener('offline', this.onOffline);
    this.clearTimers();
    this.saveNow();
    this.drop(1000, 'client closed');
    this.setState('stopped');
  }

  private async open(): Promise<void> {
    clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    let token: string;
    try {
      token = this.options.token ?? (await this.requireProvider()());
    } catch (err) {
      console.warn('switchboard: no token', err);
      return this.scheduleRetry();
    }
    if (this.stopped || this.ws) return;
    this.token = token;
    const Ctor = this.options.WebSocket ?? (globalThis as { WebSocket?: ClientOptions['WebSocket'] }).WebSocket;
    if (!Ctor) throw new Error('switchboard: no WebSocket implementation; pass options.WebSocket');
    const ws = new Ctor(wsUrl(this.options.server, token), 'switchboard.v1.json');
    this.ws = ws;
    this.connectTimer = setTimeout(() => {
      if (this.ws === ws && this.conn === undefined) this.drop(4000, 'connect timeout');
    }, this.options.connectTimeoutMs);
    ws.onmessage = (ev) => {
      if (this.ws === ws && typeof ev.data === 'string') this.onText(ev.data);
    };
    ws.onclose = (ev) => {
      if (this.ws === ws) this.onClosed(ev.code, ev.reason);
    };
    ws.onerror = () => {
      // A close event always follows; the reconnect is decided there.
    };
  }

  private requireProvider(): () => Promise<string> {
    const p = this.options.tokenProvider;
    if (!p) throw new Error('switchboard: pass options.token or options.tokenProvider');
    return p;
  }

  private onText(data: string): void {
    const frame = parseServerFrame(data, this.options.maxFrameChars, this.options.maxBodyChars);
    if (frame) this.dispatcher.handle(frame);
  }

  /** @internal The `welcome` frame arrived: the connection is usable. */
  onWelcome(user: string, role: Role, conn: number): void {
    clearTimeout(this.connectTimer);
    if (this.user !== undefined && this.user !== user) this.forgetAll();
    this.user = user;
    this.role = role;
    this.conn = conn;
    this.attempt = 0;
    this.outbox.resetConnection();
    this.setState('connected');
    clearInterval(this.tick);
    this.tick = setInterval(() => this.onTick(), TICK_MS);
  }

  private onClosed(code: number, reason: string): void {
    this.ws = undefined;
    this.conn = undefined;
    this.dispatcher.resetConnection();
    clearTimeout(this.connectTimer);
    clearInterval(this.tick);
    this.tick = undefined;
    if (this.stopped) return;
    if (FINAL_CLOSE_CODES.has(code)) {
      this.stopped = true;
      this.setState('stopped', { code, reason });
      return;
    }
    if (this.isOffline()) return this.setState('offline', { code, reason });
    this.scheduleRetry(code, reason);
  }

  private scheduleRetry(code?: number, reason?: string): void {
    if (this.stopped) return;
    const slow = this.pressure >= 2 ? this.options.pressureSlowdown : 1;
    const delay = backoffDelay(this.attempt++, {
      baseMs: this.options.reconnectBaseMs * slow,
      maxMs: this.options.reconnectMaxMs,
    });
    const extra: { retryInMs: number; code?: number; reason?: string } = { retryInMs: delay };
    if (code !== undefined) extra.code = code;
    if (reason !== undefined) extra.reason = reason;
    this.setState('reconnecting', extra);
    clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => void this.open(), delay);
  }

  /** The network came back: reconnect now instead of waiting for the backoff. */
  private wake(): void {
    if (this.stopped || this.ws) return;
    this.attempt = 0;
    this.setState('connecting');
    void this.open();
  }

  /** The browser went offline: drop the socket now rather than wait for TCP to notice. */
  private goOffline(): void {
    if (this.stopped) return;
    clearTimeout(this.retryTimer);
    this.drop(4000, 'offline');
    this.setState('offline');
  }

  private drop(code: number, reason: string): void {
    const ws = this.ws;
    if (!ws) return;
    this.ws = undefined;
    this.conn = undefined;
    this.dispatcher.resetConnection();
    clearInterval(this.tick);
    this.tick = undefined;
    try {
      ws.close(code, reason);
    } catch {
      // Already closed.
    }
  }

  private network() {
    return this.options.network ?? (globalThis as { window?: ClientOptions['network'] }).window;
  }

  private isOffline(): boolean {
    const nav = (globalThis as { navigator?: { onLine?: boolean } }).navigator;
    return this.network() !== undefined && nav?.onLine === false;
  }

  private setState(state: ConnectionState, extra: { retryInMs?: number; code?: number; reason?: string } = {}): void {
    this.state = state;
    this.emit('state', { state, ...extra });
  }

  private clearTimers(): void {
    clearTimeout(this.retryTimer);
    clearTimeout(this.connectTimer);
    clearInterval(this.tick);
    this.tick = undefined;
  }

  private onTick(): void {
    this.dispatcher.onTick(Date.now());
  }

  // ---- sending ----

  /** @internal Sends a frame if connected; returns whether it was written. */
  sendFrame(frame: ClientFrame): boolean {
    const ws = this.ws;
    if (!ws || ws.readyState !== 1 || this.conn === undefined) return false;
    ws.send(JSON.stringify(frame));
    return true;
  }

  /** Sends the outbox lines of `conv` that are due. */
  flush(conv: number): void {
    if (this.conn === undefined || !this.dispatcher.isAttached(conv)) return;
    const slow = this.pressure >= 2;
    const max = slow ? 1 : this.options.maxInFlight;
    const resendAfter = this.options.resendTimeoutMs * (slow ? this.options.pressureSlowdown : 1);
    for (const line of this.outbox.takeDue(conv, Date.now(), max, resendAfter)) {
      const frame: ClientFrame = { type: 'send', conv, client_msg_id: line.clientMsgId, body: line.body };
      if (line.attachment) frame.attachment = line.attachment;
      this.sendFrame(frame);
    }
  }

  /**
   * A visitor's line: into its open conversation, or, when it has none, into a new one
   * (started as soon as the connection is up). Returns the line's client message id.
   */
  send(body: string, attachment?: Attachment): string {
    const open = this.visitorConversation();
    if (open && open.state !== 'ended') return this.sendLine(open.id, body, attachment);
    const id = this.sendLine(0, body, attachment);
    this.dispatcher.requestStart();
    return id;
  }

  /** A visitor opens its conversation (or gets back the one it has open). */
  start(): Promise<Conversation> {
    return this.dispatcher.requestStart();
  }

  /** The visitor's newest conversation, if any. */
  visitorConversation(): Conversation | undefined {
    let best: Conversation | undefined;
    for (const c of this.conversations.values()) {
      if (this.user !== undefined && c.visitor !== this.user) continue;
      if (!best || c.id > best.id) best = c;
    }
    return best;
  }

  /** An agent's status and capacity (concurrent conversations). */
  setStatus(status: AgentStatus, capacity?: number): boolean {
    const frame: ClientFrame = { type: 'agent_status', status };
    if (capacity !== undefined) frame.capacity = capacity;
    return this.sendFrame(frame);
  }

  /** @inheritdoc */
  sendLine(conv: number, body: string, attachment?: Attachment): string {
    if (body.length > this.options.maxBodyChars) throw new RangeError(`a line is at most ${this.options.maxBodyChars} characters`);
    if (body.trim() === '' && !attachment) throw new RangeError('an empty line');
    const clientMsgId = newClientMsgId();
    const line = this.outbox.add({ clientMsgId, conv, body, attachment }, Date.now());
    if (!line) throw new RangeError(`the outbox is full (${this.options.maxOutboxLines} lines)`);
    this.emit('outbox', { conv });
    if (conv !== 0) this.flush(conv);
    return clientMsgId;
  }

  /** @inheritdoc */
  pendingLines(conv: number): OutboxLine[] {
    return this.outbox.of(conv);
  }

  /** @inheritdoc */
  sendTyping(conv: number): void {
    if (this.pressure >= 1) return;
    const now = Date.now();
    if (now - (this.lastTyping.get(conv) ?? 0) < this.options.typingIntervalMs) return;
    if (this.sendFrame({ type: 'typing', conv })) this.lastTyping.set(conv, now);
  }

  /** @inheritdoc */
  sendRead(conv: number, seq: number): void {
    // Level ≥ 1 drops read receipts at the engine anyway; the newest is sent when it ends.
    if (this.pressure >= 1) return;
    this.sendFrame({ type: 'read', conv, seq });
  }

  /** @inheritdoc */
  sendEnd(conv: number): void {
    this.sendFrame({ type: 'end', conv });
  }

  /** @inheritdoc */
  sendTransfer(conv: number, to: string, note?: string): void {
    if (note && note.trim() !== '') this.sendLine(conv, note);
    this.sendFrame({ type: 'transfer', conv, to });
  }

  /** @inheritdoc */
  answerTransfer(conv: number, accept: boolean): void {
    const c = this.conversations.get(conv);
    if (c) {
      c.offer = undefined;
      this.emit('conversation', c);
    }
    this.sendFrame({ type: accept ? 'accept_transfer' : 'decline_transfer', conv });
  }

  // ---- HTTP: uploads and history ----

  private http(): HttpContext {
    const token = this.token ?? this.options.token;
    if (token === undefined) throw new HttpError(0, 'not connected yet: no token');
    const f = this.options.fetch ?? globalThis.fetch.bind(globalThis);
    return { base: httpBase(this.options.server), token, fetch: f, timeoutMs: this.options.httpTimeoutMs };
  }

  /** Uploads a file to conversation `conv`; send the result with `conversation.send(body, attachment)`. */
  async upload(conv: number, file: Blob, name: string): Promise<Attachment> {
    if (file.size > this.options.maxUploadBytes) throw new HttpError(413, `over ${this.options.maxUploadBytes} bytes`);
    return upload(this.http(), conv, file, name);
  }

  /** The URL an attachment is fetched from (the token rides in the query, for `<img>`). */
  attachmentUrl(a: Attachment): string {
    const path = a.url ?? `/v1/uploads/${encodeURIComponent(a.id)}`;
    const token = this.token ?? this.options.token ?? '';
    return `${httpBase(this.options.server)}${path}?token=${queryValue(token)}`;
  }

  /** @inheritdoc */
  async loadOlder(conv: number, limit = this.options.historyPageSize): Promise<number> {
    const c = this.conversations.get(conv);
    if (!c) return 0;
    const before = c.log.oldestSeq ?? c.log.contiguous + 1;
    if (before <= 1) return 0;
    const page = await historyPage(this.http(), conv, before, limit, this.options.maxBodyChars);
    let added = 0;
    for (const item of page.items) if (c.log.insertOlder(item) === 'added') added++;
    if (added) {
      this.markDirty(conv);
      this.emit('conversation', c);
    }
    return added;
  }

  // ---- storage ----

  /** @internal Schedules a conversation's storage write. */
  markDirty(conv: number): void {
    this.dirty.add(conv);
    if (this.saveTimer === undefined) this.saveTimer = setTimeout(() => this.saveNow(), 100);
  }

  private saveNow(): void {
    clearTimeout(this.saveTimer);
    this.saveTimer = undefined;
    for (const id of this.dirty) {
      const c = this.conversations.get(id);
      if (c) this.persisted.saveConversation(c.toStored(this.options.maxItemsStored));
    }
    this.dirty.clear();
    this.persisted.saveIndex(this.prunedIndex());
  }

  /** The stored conversations to keep: the newest, ended ones dropped first. */
  private prunedIndex(): number[] {
    const all = [...this.conversations.values()].sort((a, b) => b.id - a.id);
    const open = all.filter((c) => c.state !== 'ended');
    const ended = all.filter((c) => c.state === 'ended');
    const keep = [...open, ...ended].slice(0, this.options.maxConversationsStored);
    for (const c of all) if (!keep.includes(c)) this.persisted.removeConversation(c.id);
    return keep.map((c) => c.id);
  }

  /** Forgets a conversation here and in storage (e.g. the visitor closed an ended chat). */
  forget(conv: number): void {
    this.conversations.delete(conv);
    this.persisted.removeConversation(conv);
    this.persisted.saveIndex(this.prunedIndex());
  }

  private forgetAll(): void {
    for (const id of [...this.conversations.keys()]) this.forget(id);
    for (const l of [...this.outbox.all()]) this.outbox.remove(l.clientMsgId);
  }

  /** @internal Lets the dispatcher emit. */
  fire<K extends keyof ClientEvents>(name: K, payload: ClientEvents[K]): void {
    this.emit(name, payload);
  }
}
