/**
 * The events a `SwitchboardClient` emits, with their payload types.
 */

import type { Conversation } from './conversation.js';
import type { Item, Role, WelcomeFrame } from './frames.js';
import type { OutboxLine } from './storage.js';

/**
 * The connection as a person should be told about it: `connecting` (first attempt),
 * `connected`, `reconnecting` (lost, a retry is scheduled), `offline` (the browser says
 * there is no network; retried when it comes back), `stopped` (closed by `close()`, or
 * by the server with 4001 replaced / 4002 kicked: not retried).
 */
export type ConnectionState = 'idle' | 'connecting' | 'connected' | 'reconnecting' | 'offline' | 'stopped';

/** Every event name and its payload. */
export interface ClientEvents {
  /** The connection state changed. `retryInMs` with `reconnecting`; `code`/`reason` of a close. */
  state: { state: ConnectionState; retryInMs?: number; code?: number; reason?: string };
  /** A connection was accepted; says who we are. */
  welcome: WelcomeFrame;
  /** A conversation appeared or its state, agent, queue place, presence or offer changed. */
  conversation: Conversation;
  /** A new ordered item (never one seen before). `mine`: a line of the signed-in user. */
  item: { conversation: Conversation; item: Item; mine: boolean };
  /** One of our lines was accepted with `seq`. */
  sent: { conversation: Conversation; clientMsgId: string; seq: number };
  /** The outbox changed (a line added, accepted or given up). */
  outbox: { conv: number };
  /** Someone started (`typing: true`) or stopped being shown as typing. */
  typing: { conversation: Conversation; from: string; typing: boolean };
  /** The other side has read up to `seq`. */
  read: { conversation: Conversation; from: string; seq: number };
  /** The visitor's new place in the queue. */
  queue: { conversation: Conversation; position: number };
  /** The other participant came online or went offline. */
  presence: { conversation: Conversation; user: string; role: Role; online: boolean };
  /** A conversation is offered to this agent. */
  transferOffer: { conversation: Conversation; fromAgent: string; visitor: string };
  /** Items `afterSeq + 1 .. oldestSeq - 1` are lost for good. */
  gap: { conversation: Conversation; afterSeq: number; oldestSeq: number };
  /** The engine's pressure level (0 normal … 3); the client already backs off. */
  pressure: { level: number };
  /** An application event from the company's back end (other than `pressure`). */
  event: { name: string; data: unknown };
  /** The server refused a request. */
  error: { code: string; message: string };
  /** A line was given up: its conversation ended or moved away, or too many attempts. */
  lineFailed: { line: OutboxLine; reason: string };
}
