/**
 * What the client does with each server frame, and the per-connection bookkeeping that
 * makes delivery exactly-once from the page's point of view: which conversations this
 * connection follows, which `resume` is outstanding, which replay is still coming, and
 * when to `ack`. A new connection starts this bookkeeping afresh.
 */

import type { SwitchboardClient } from './client.js';
import { Conversation } from './conversation.js';
import type {
  ConversationFrame, ErrorFrame, GapFrame, Item, MessageItem, PresenceFrame, QueueFrame, ReadFrame, SentFrame,
  ServerFrame, SystemItem, TransferOfferFrame, TypingFrame, WelcomeFrame,
} from './frames.js';

/** Errors after which the lines in flight got no `sent` and must be sent again later. */
const RETRY_CODES = new Set(['rate_limited', 'unavailable', 'conversation_moved']);
/** Errors that mean a `resume` named a conversation we are not (or no longer) in. */
const LOST_CODES = new Set(['unknown_conversation', 'not_participant']);
/** A snapshot's replay not complete after this long is asked for again (ms). */
const REPLAY_WAIT_MS = 3_000;

interface Pending<T> {
  promise: Promise<T>;
  resolve: (v: T) => void;
}

/** Handles server frames for one client. */
export class Dispatcher {
  /** Conversations this connection follows (a snapshot arrived on it). */
  private readonly attached = new Set<number>();
  /** Restored conversations still to resume on this connection, one at a time. */
  private resumeQueue: number[] = [];
  private resumeOutstanding: number | undefined;
  /** conv → the seq its last snapshot promised, and since when (ms). */
  private readonly awaiting = new Map<number, { seq: number; since: number }>();
  /** conv → the last_seq of its newest snapshot: older items are history, not news. */
  private readonly snapshotSeq = new Map<number, number>();
  private readonly acked = new Map<number, number>();
  private readonly ackTimers = new Map<number, ReturnType<typeof setTimeout>>();
  private startWanted: Pending<Conversation> | undefined;
  private startSent = false;
  private lastPressure = 0;

  constructor(private readonly client: SwitchboardClient) {}

  /** A new connection (or none): forget what the old one followed. */
  resetConnection(): void {
    this.attached.clear();
    this.resumeQueue = [];
    this.resumeOutstanding = undefined;
    this.awaiting.clear();
    this.acked.clear();
    for (const t of this.ackTimers.values()) clearTimeout(t);
    this.ackTimers.clear();
    this.startSent = false;
  }

  /** Whether this connection follows `conv`. */
  isAttached(conv: number): boolean {
    return this.attached.has(conv);
  }

  /** Wants a visitor conversation; sends `start` when connected. */
  requestStart(): Promise<Conversation> {
    if (!this.startWanted) {
      let resolve!: (c: Conversation) => void;
      const promise = new Promise<Conversation>((r) => (resolve = r));
      this.startWanted = { promise, resolve };
    }
    this.sendStartIfWanted();
    return this.startWanted.promise;
  }

  private sendStartIfWanted(): void {
    if (!this.startWanted || this.startSent || this.client.role !== 'visitor') return;
    if (this.client.sendFrame({ type: 'start' })) this.startSent = true;
  }

  /** Routes one frame. */
  handle(f: ServerFrame): void {
    switch (f.type) {
      case 'welcome': return this.onWelcome(f);
      case 'conversation': return this.onSnapshot(f);
      case 'message':
      case 'system': return this.onItem(f);
      case 'sent': return this.onSent(f);
      case 'typing': return this.onTyping(f);
      case 'read': return this.onRead(f);
      case 'gap': return this.onGap(f);
      case 'transfer_offer': return this.onOffer(f);
      case 'queue': return this.onQueue(f);
      case 'presence': return this.onPresence(f);
      case 'error': return this.onError(f);
      case 'event': return this.onEvent(f.name, f.data);
    }
  }

  private onWelcome(f: WelcomeFrame): void {
    this.resetConnection();
    this.client.onWelcome(f.user, f.role, f.conn);
    this.client.fire('welcome', f);
    this.resumeQueue = [...this.client.conversations.values()]
      .filter((c) => c.state !== 'ended' && c.offer === undefined)
      .map((c) => c.id);
    this.resumeNext();
    if (this.client.outbox.of(0).length > 0) this.requestStart();
    this.sendStartIfWanted();
  }

  private resumeNext(): void {
    if (this.resumeOutstanding !== undefined) return;
    const conv = this.resumeQueue.shift();
    if (conv === undefined) return;
    const c = this.client.conversations.get(conv);
    if (!c) return this.resumeNext();
    this.resumeOutstanding = conv;
    if (!this.client.sendFrame({ type: 'resume', conv, after_seq: c.log.contiguous })) this.resumeOutstanding = undefined;
  }

  private resume(c: Conversation): void {
    this.awaiting.set(c.id, { seq: c.log.contiguous + 1, since: Date.now() });
    this.client.sendFrame({ type: 'resume', conv: c.id, after_seq: c.log.contiguous });
  }

  private onSnapshot(f: ConversationFrame): void {
    let c = this.client.conversations.get(f.conv);
    if (!c) {
      c = new Conversation(f.conv, this.client, { state: f.state, visitor: f.visitor, agent: f.agent }, this.client.options.maxItemsInMemory);
      this.client.conversations.set(f.conv, c);
    }
    c.state = f.state;
    c.visitor = f.visitor;
    c.agent = f.agent;
    if (f.state !== 'waiting') c.queuePosition = undefined;
    if (f.state === 'serving' && f.agent === this.client.user) c.offer = undefined;
    this.attached.add(f.conv);
    this.snapshotSeq.set(f.conv, f.last_seq);
    if (f.last_seq > c.log.contiguous) this.awaiting.set(f.conv, { seq: f.last_seq, since: Date.now() });
    else this.awaiting.delete(f.conv);
    if (this.resumeOutstanding === f.conv) {
      this.resumeOutstanding = undefined;
      this.resumeNext();
    }
    this.answerStart(c);
    this.failLinesIfGone(c);
    this.client.markDirty(c.id);
    this.client.fire('conversation', c);
    this.client.flush(c.id);
  }

  private answerStart(c: Conversation): void {
    const want = this.startWanted;
    if (!want || this.client.role !== 'visitor' || c.visitor !== this.client.user || c.state === 'ended') return;
    this.startWanted = undefined;
    this.startSent = false;
    this.client.outbox.adopt(c.id);
    this.client.fire('outbox', { conv: c.id });
    want.resolve(c);
  }

  /** Lines of a conversation we can no longer speak in will never get `sent`. */
  private failLinesIfGone(c: Conversation): void {
    const agentGone = this.client.role === 'agent' && c.agent !== this.client.user;
    if (c.state !== 'ended' && !agentGone) return;
    const reason = c.state === 'ended' ? 'conversation_ended' : 'not_serving_agent';
    const lines = c.pending;
    for (const line of lines) {
      this.client.outbox.remove(line.clientMsgId);
      this.client.fire('lineFailed', { line, reason });
    }
    if (lines.length > 0) this.client.fire('outbox', { conv: c.id });
  }

  private onItem(item: Item): void {
    const c = this.client.conversations.get(item.conv);
    if (!c) return;
    if (c.log.insert(item) === 'duplicate') return;
    if (item.type === 'message') this.onMessage(c, item);
    else if (item.seq > (this.snapshotSeq.get(c.id) ?? 0)) this.applySystem(c, item);
    this.afterInsert(c);
    this.client.fire('item', { conversation: c, item, mine: c.isMine(item) });
    if (item.type === 'system') this.client.fire('conversation', c);
  }

  private onMessage(c: Conversation, m: MessageItem): void {
    if (m.from === this.client.user && this.client.outbox.remove(m.client_msg_id)) {
      // A replay shows a line of ours got through before the connection broke.
      this.client.fire('sent', { conversation: c, clientMsgId: m.client_msg_id, seq: m.seq });
      this.client.fire('outbox', { conv: c.id });
    }
    if (c.typing.delete(m.from)) this.client.fire('typing', { conversation: c, from: m.from, typing: false });
  }

  /** A live system item moves the conversation on (replayed ones are history). */
  private applySystem(c: Conversation, s: SystemItem): void {
    switch (s.event) {
      case 'queued':
      case 'queue_position':
        if (s.position !== undefined) this.setQueue(c, s.position);
        break;
      case 'assigned':
      case 'transferred':
        c.state = 'serving';
        c.agent = s.agent;
        c.queuePosition = undefined;
        break;
      case 'transfer_requested':
        c.state = 'transferring';
        break;
      case 'transfer_failed':
        c.state = s.agent === undefined ? 'waiting' : 'serving';
        if (s.agent !== undefined) c.agent = s.agent;
        break;
      case 'requeued':
        c.state = 'waiting';
        c.agent = undefined;
        break;
      case 'ended':
        c.state = 'ended';
        c.endReason = s.reason;
        break;
    }
    this.failLinesIfGone(c);
  }

  private afterInsert(c: Conversation): void {
    const wait = this.awaiting.get(c.id);
    if (wait && c.log.contiguous >= wait.seq) this.awaiting.delete(c.id);
    // A hole (an item more than one past what we have) means we missed items: resume.
    if (c.log.hasHole && !this.awaiting.has(c.id)) this.resume(c);
    this.client.markDirty(c.id);
    this.scheduleAck(c);
  }

  private scheduleAck(c: Conversation): void {
    if (this.ackTimers.has(c.id)) return;
    this.ackTimers.set(c.id, setTimeout(() => {
      this.ackTimers.delete(c.id);
      const seq = c.log.contiguous;
      if (seq > (this.acked.get(c.id) ?? 0) && this.client.sendFrame({ type: 'ack', conv: c.id, seq })) this.acked.set(c.id, seq);
    }, this.client.options.ackDelayMs));
  }

  private onSent(f: SentFrame): void {
    const c = this.client.conversations.get(f.conv);
    const line = this.client.outbox.remove(f.client_msg_id);
    if (!c || !line) return;
    const item: MessageItem = {
      type: 'message', conv: f.conv, seq: f.seq, ts: f.ts, from: this.client.user ?? '', client_msg_id: f.client_msg_id, body: line.body,
    };
    if (line.attachment) item.attachment = line.attachment;
    const added = c.log.insert(item) === 'added';
    if (added) this.afterInsert(c);
    this.client.fire('sent', { conversation: c, clientMsgId: f.client_msg_id, seq: f.seq });
    this.client.fire('outbox', { conv: c.id });
    if (added) this.client.fire('item', { conversation: c, item, mine: true });
    this.client.flush(c.id);
  }

  private onTyping(f: TypingFrame): void {
    const c = this.client.conversations.get(f.conv);
    if (!c || f.from === this.client.user) return;
    c.typing.set(f.from, Date.now() + this.client.options.typingTimeoutMs);
    this.client.fire('typing', { conversation: c, from: f.from, typing: true });
  }

  private onRead(f: ReadFrame): void {
    const c = this.client.conversations.get(f.conv);
    if (!c || f.from === this.client.user || f.seq <= c.peerReadSeq) return;
    c.peerReadSeq = f.seq;
    this.client.fire('read', { conversation: c, from: f.from, seq: f.seq });
  }

  private onGap(f: GapFrame): void {
    const c = this.client.conversations.get(f.conv);
    if (!c) return;
    c.log.skipTo(f.oldest_seq);
    this.client.markDirty(c.id);
    this.client.fire('gap', { conversation: c, afterSeq: f.after_seq, oldestSeq: f.oldest_seq });
  }

  private onOffer(f: TransferOfferFrame): void {
    let c = this.client.conversations.get(f.conv);
    if (!c) {
      c = new Conversation(f.conv, this.client, { state: 'transferring', visitor: f.visitor, agent: f.from_agent }, this.client.options.maxItemsInMemory);
      this.client.conversations.set(f.conv, c);
    }
    c.state = 'transferring';
    c.offer = { fromAgent: f.from_agent, visitor: f.visitor };
    this.client.fire('transferOffer', { conversation: c, fromAgent: f.from_agent, visitor: f.visitor });
    this.client.fire('conversation', c);
  }

  private setQueue(c: Conversation, position: number): void {
    c.queuePosition = position;
    this.client.fire('queue', { conversation: c, position });
  }

  private onQueue(f: QueueFrame): void {
    const c = this.client.conversations.get(f.conv);
    if (!c || c.state !== 'waiting') return;
    this.setQueue(c, f.position);
    this.client.fire('conversation', c);
  }

  private onPresence(f: PresenceFrame): void {
    const c = this.client.conversations.get(f.conv);
    if (!c || f.user === this.client.user) return;
    c.peerOnline = f.online;
    this.client.fire('presence', { conversation: c, user: f.user, role: f.role, online: f.online });
    this.client.fire('conversation', c);
  }

  private onError(f: ErrorFrame): void {
    const now = Date.now();
    if (RETRY_CODES.has(f.code)) {
      const slow = this.client.pressure >= 2 ? this.client.options.pressureSlowdown : 1;
      const delay = this.client.options.retryAfterMs * slow * (0.5 + Math.random());
      this.client.outbox.holdInFlight(now, delay);
      if (f.code !== 'rate_limited') for (const conv of this.attached) this.resumeAttached(conv);
    } else if (LOST_CODES.has(f.code) && this.resumeOutstanding !== undefined) {
      this.lose(this.resumeOutstanding, f.code);
      this.resumeOutstanding = undefined;
      this.resumeNext();
    }
    this.client.fire('error', { code: f.code, message: f.message });
  }

  private resumeAttached(conv: number): void {
    const c = this.client.conversations.get(conv);
    if (c) this.resume(c);
  }

  /** The engine no longer has us in a stored conversation: it is over for this page. */
  private lose(conv: number, code: string): void {
    const c = this.client.conversations.get(conv);
    if (!c) return;
    c.state = 'ended';
    c.endReason = code;
    this.failLinesIfGone(c);
    this.client.markDirty(conv);
    this.client.fire('conversation', c);
  }

  private onEvent(name: string, data: unknown): void {
    if (name !== 'pressure') return this.client.fire('event', { name, data });
    const level = (data as { level?: unknown } | null)?.level;
    if (typeof level !== 'number' || !Number.isInteger(level) || level < 0 || level > 3) return;
    this.client.pressure = level;
    if (level === 0 && this.lastPressure > 0) this.resendReads();
    this.lastPressure = level;
    this.client.fire('pressure', { level });
  }

  /** Read receipts held back under pressure are sent once it is over. */
  private resendReads(): void {
    for (const c of this.client.conversations.values()) {
      if (c.readSeq > 0 && this.attached.has(c.id)) this.client.sendRead(c.id, c.readSeq);
    }
  }

  /** Timers: typing indicators running out, replays that never came, resends, give-ups. */
  onTick(now: number): void {
    for (const c of this.client.conversations.values()) {
      for (const [user, until] of c.typing) {
        if (until > now) continue;
        c.typing.delete(user);
        this.client.fire('typing', { conversation: c, from: user, typing: false });
      }
    }
    for (const [conv, wait] of this.awaiting) {
      if (now - wait.since < REPLAY_WAIT_MS) continue;
      const c = this.client.conversations.get(conv);
      if (c) this.resume(c);
    }
    for (const conv of this.attached) this.client.flush(conv);
    this.giveUp();
  }

  private giveUp(): void {
    for (const line of this.client.outbox.exhausted(this.client.options.maxSendAttempts)) {
      this.client.outbox.remove(line.clientMsgId);
      this.client.fire('lineFailed', { line, reason: 'too_many_attempts' });
      this.client.fire('outbox', { conv: line.conv });
    }
  }
}
