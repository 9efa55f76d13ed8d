/**
 * One conversation as a client sees it: the engine's snapshot (state, visitor, agent),
 * its ordered items, and what the ephemeral frames said last (queue position, typing,
 * read receipts, presence). The client feeds it; pages read it and call its methods.
 */

import type { Attachment, ConversationState, Item } from './frames.js';
import { ItemLog } from './item-log.js';
import type { OutboxLine, StoredConversation } from './storage.js';

/** What a conversation asks of its client. */
export interface ConversationHost {
  /** The signed-in user. */
  readonly user: string | undefined;
  /** Queues a line; returns its client message id. */
  sendLine(conv: number, body: string, attachment?: Attachment): string;
  /** The outbox lines of a conversation, oldest first. */
  pendingLines(conv: number): OutboxLine[];
  /** Sends `typing` unless throttled or under pressure. */
  sendTyping(conv: number): void;
  /** Sends `read`. */
  sendRead(conv: number, seq: number): void;
  /** Sends `end`. */
  sendEnd(conv: number): void;
  /** Sends `transfer`, after an optional note line. */
  sendTransfer(conv: number, to: string, note?: string): void;
  /** Sends `accept_transfer` or `decline_transfer`. */
  answerTransfer(conv: number, accept: boolean): void;
  /** Fetches a page of older items; resolves to how many were new. */
  loadOlder(conv: number, limit?: number): Promise<number>;
}

/** A transfer offered to this agent, not yet answered. */
export interface TransferOffer {
  /** The agent offering it. */
  fromAgent: string;
  /** The conversation's visitor. */
  visitor: string;
}

/** A conversation of the signed-in user. */
export class Conversation {
  /** Its state. */
  state: ConversationState;
  /** Its visitor's user id. */
  visitor: string;
  /** Its serving agent's user id, if any. */
  agent: string | undefined;
  /** The visitor's place in the queue while waiting (1 = next), if known. */
  queuePosition: number | undefined;
  /** The highest seq the other side has read. */
  peerReadSeq = 0;
  /** The highest seq this user has reported as read. */
  readSeq = 0;
  /** Whether the other participant is connected, when the engine said so. */
  peerOnline: boolean | undefined;
  /** A transfer offered to this agent and not answered, if any. */
  offer: TransferOffer | undefined;
  /** How the conversation ended (`system.reason` of `ended`), once ended. */
  endReason: string | undefined;
  /** The ordered items. */
  readonly log: ItemLog;
  /** User ids typing now, with when their indicator runs out (ms, the page's clock). */
  readonly typing = new Map<string, number>();

  constructor(
    /** Its id. */
    readonly id: number,
    private readonly host: ConversationHost,
    init: { state: ConversationState; visitor: string; agent?: string | undefined; contiguous?: number },
    maxItems: number,
  ) {
    this.state = init.state;
    this.visitor = init.visitor;
    this.agent = init.agent;
    this.log = new ItemLog(init.contiguous ?? 0, maxItems);
  }

  /** A conversation rebuilt from storage. */
  static restore(host: ConversationHost, s: StoredConversation, maxItems: number): Conversation {
    const c = new Conversation(s.conv, host, { ...s }, maxItems);
    for (const item of s.items) {
      if (item.seq <= s.contiguous) c.log.insertOlder(item);
      else c.log.insert(item);
    }
    return c;
  }

  /** The items, oldest first. */
  get items(): readonly Item[] {
    return this.log.items;
  }

  /** Lines written here and not yet acknowledged by the server, oldest first. */
  get pending(): OutboxLine[] {
    return this.host.pendingLines(this.id);
  }

  /** Items from others above `readSeq`. */
  get unread(): number {
    const me = this.host.user;
    return this.log.items.filter((i) => i.seq > this.readSeq && i.type === 'message' && i.from !== me).length;
  }

  /** Whether `item` is a line of the signed-in user. */
  isMine(item: Item): boolean {
    return item.type === 'message' && item.from === this.host.user;
  }

  /** Sends a line (kept in the outbox until `sent`); returns its client message id. */
  send(body: string, attachment?: Attachment): string {
    return this.host.sendLine(this.id, body, attachment);
  }

  /** Says the user is typing (throttled; not sent under pressure). */
  notifyTyping(): void {
    this.host.sendTyping(this.id);
  }

  /** Reports everything up to `seq` (default: the newest item) as read. */
  markRead(seq = this.log.newestSeq): void {
    if (seq <= this.readSeq) return;
    this.readSeq = seq;
    this.host.sendRead(this.id, seq);
  }

  /** Ends the conversation. */
  end(): void {
    this.host.sendEnd(this.id);
  }

  /** Offers the conversation to agent `to`; `note` goes first as a chat line. */
  transfer(to: string, note?: string): void {
    this.host.sendTransfer(this.id, to, note);
  }

  /** Takes the conversation offered to this agent. */
  accept(): void {
    this.host.answerTransfer(this.id, true);
  }

  /** Refuses the conversation offered to this agent. */
  decline(): void {
    this.host.answerTransfer(this.id, false);
  }

  /** Loads a page of items older than the oldest in memory; resolves to how many were new. */
  loadOlder(limit?: number): Promise<number> {
    return this.host.loadOlder(this.id, limit);
  }

  /** Whether older items than those in memory may exist. */
  get hasOlder(): boolean {
    const oldest = this.log.oldestSeq;
    return oldest === undefined ? this.log.contiguous > 0 : oldest > 1;
  }

  /** What storage keeps of it. */
  toStored(maxItems: number): StoredConversation {
    const s: StoredConversation = {
      conv: this.id, state: this.state, visitor: this.visitor, contiguous: this.log.contiguous,
      items: this.log.items.slice(-maxItems),
    };
    if (this.agent !== undefined) s.agent = this.agent;
    return s;
  }
}
