/**
 * Lines written and not yet acknowledged. Every change is written to storage at once,
 * so a line typed just before a reload is sent after it, with the same client message
 * id: the engine dedupes on that id, so a line that did get through before the reload
 * is acknowledged with its first seq and never shown twice.
 */

import type { Attachment } from './frames.js';
import type { OutboxLine, PersistedState } from './storage.js';

/** The outbox, with which lines are in flight on the current connection. */
export class Outbox {
  private lines: OutboxLine[];
  /** client_msg_id → when it was last sent on this connection (ms). */
  private readonly inFlight = new Map<string, number>();
  /** client_msg_id → not before this time may it be sent again (ms). */
  private readonly holdUntil = new Map<string, number>();

  constructor(private readonly persisted: PersistedState, private readonly maxLines: number) {
    this.lines = persisted.loadOutbox();
  }

  /** Every line, oldest first. */
  all(): readonly OutboxLine[] {
    return this.lines;
  }

  /** The lines of one conversation, oldest first. */
  of(conv: number): OutboxLine[] {
    return this.lines.filter((l) => l.conv === conv);
  }

  /** Adds a line; returns `undefined` when the outbox is full. */
  add(line: { clientMsgId: string; conv: number; body: string; attachment?: Attachment | undefined }, now: number): OutboxLine | undefined {
    if (this.lines.length >= this.maxLines) return undefined;
    const l: OutboxLine = { clientMsgId: line.clientMsgId, conv: line.conv, body: line.body, createdAt: now, attempts: 0 };
    if (line.attachment) l.attachment = line.attachment;
    this.lines.push(l);
    this.save();
    return l;
  }

  /** Removes a line (acknowledged or given up); returns it. */
  remove(clientMsgId: string): OutboxLine | undefined {
    const i = this.lines.findIndex((l) => l.clientMsgId === clientMsgId);
    if (i < 0) return undefined;
    const [line] = this.lines.splice(i, 1);
    this.inFlight.delete(clientMsgId);
    this.holdUntil.delete(clientMsgId);
    this.save();
    return line;
  }

  /** Gives the lines waiting for a new conversation (`conv` 0) their conversation. */
  adopt(conv: number): void {
    let changed = false;
    for (const l of this.lines) {
      if (l.conv === 0) {
        l.conv = conv;
        changed = true;
      }
    }
    if (changed) this.save();
  }

  /**
   * The lines of `conv` to send now, in order: not in flight (or in flight longer than
   * `resendAfterMs`), none after a line held back, at most `maxInFlight` in flight in
   * all. Marks them in flight and counts the attempt.
   */
  takeDue(conv: number, now: number, maxInFlight: number, resendAfterMs: number): OutboxLine[] {
    const mine = this.of(conv);
    let flying = mine.filter((l) => this.isFlying(l, now, resendAfterMs)).length;
    const due: OutboxLine[] = [];
    for (const l of mine) {
      if (flying >= maxInFlight) break;
      if (this.isFlying(l, now, resendAfterMs)) continue;
      // A line held back (refused, to be sent again) holds back every later line too:
      // sending those first would put them before it in the conversation.
      if ((this.holdUntil.get(l.clientMsgId) ?? 0) > now) break;
      this.inFlight.set(l.clientMsgId, now);
      l.attempts++;
      due.push(l);
      flying++;
    }
    if (due.length) this.save();
    return due;
  }

  private isFlying(l: OutboxLine, now: number, resendAfterMs: number): boolean {
    const at = this.inFlight.get(l.clientMsgId);
    return at !== undefined && now - at < resendAfterMs;
  }

  /** The server did not take the lines in flight: send them again after `delayMs`. */
  holdInFlight(now: number, delayMs: number): void {
    for (const id of this.inFlight.keys()) this.holdUntil.set(id, now + delayMs);
    this.inFlight.clear();
  }

  /** A new connection: nothing is in flight on it. */
  resetConnection(): void {
    this.inFlight.clear();
  }

  /** Lines sent `maxAttempts` times without `sent`. */
  exhausted(maxAttempts: number): OutboxLine[] {
    return this.lines.filter((l) => l.attempts >= maxAttempts && !this.inFlight.has(l.clientMsgId));
  }

  private save(): void {
    this.persisted.saveOutbox(this.lines);
  }
}
