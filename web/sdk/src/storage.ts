/**
 * What survives a page reload: the outbox (lines typed but not yet acknowledged) and,
 * per conversation, its snapshot and last items. Stored as versioned JSON records under
 * one namespace; whatever is read back is validated like a frame from the network,
 * because another script on the page, an older SDK or a full disk may have left
 * anything there.
 */

import type { Attachment, ConversationState, Item } from './frames.js';
import { parseItem } from './frames.js';

/** A synchronous string store: `localStorage`, or `MemoryStore`. */
export interface KeyValueStore {
  /** The value under `key`, or `null`. */
  getItem(key: string): string | null;
  /** Stores `value` under `key`; may throw when full. */
  setItem(key: string, value: string): void;
  /** Removes `key`. */
  removeItem(key: string): void;
}

/** A store that lives as long as the object (Node, or a browser without storage). */
export class MemoryStore implements KeyValueStore {
  private readonly map = new Map<string, string>();
  /** @inheritdoc */
  getItem(key: string): string | null {
    return this.map.get(key) ?? null;
  }
  /** @inheritdoc */
  setItem(key: string, value: string): void {
    this.map.set(key, value);
  }
  /** @inheritdoc */
  removeItem(key: string): void {
    this.map.delete(key);
  }
}

/** `localStorage` when the page may use it, else a `MemoryStore`. */
export function defaultStore(): KeyValueStore {
  try {
    const ls = (globalThis as { localStorage?: KeyValueStore }).localStorage;
    if (ls) {
      ls.setItem('sb:probe', '1');
      ls.removeItem('sb:probe');
      return ls;
    }
  } catch {
    // Storage disabled (private mode, sandboxed frame): fall through.
  }
  return new MemoryStore();
}

/** One line of the outbox. */
export interface OutboxLine {
  /** The id the server dedupes on; the same on every resend. */
  clientMsgId: string;
  /** Its conversation; 0 while the visitor's conversation is still to be started. */
  conv: number;
  /** The text. */
  body: string;
  /** The uploaded file it carries, if any. */
  attachment?: Attachment;
  /** When it was written (ms since the epoch, the page's clock). */
  createdAt: number;
  /** How many times it was sent. */
  attempts: number;
}

/** What is stored of one conversation. */
export interface StoredConversation {
  /** Its id. */
  conv: number;
  /** Its state when last seen. */
  state: ConversationState;
  /** Its visitor. */
  visitor: string;
  /** Its serving agent. */
  agent?: string;
  /** Every item up to this seq was seen (or is known lost). */
  contiguous: number;
  /** The newest items, oldest first. */
  items: Item[];
}

const VERSION = 1;

/** Reads and writes one namespace of a `KeyValueStore`. */
export class PersistedState {
  constructor(
    private readonly store: KeyValueStore,
    private readonly ns: string,
    private readonly maxBody: number,
  ) {}

  private key(name: string): string {
    return `sb:v${VERSION}:${this.ns}:${name}`;
  }

  private read(name: string): unknown {
    try {
      const raw = this.store.getItem(this.key(name));
      return raw === null ? undefined : JSON.parse(raw);
    } catch {
      return undefined;
    }
  }

  /** Writes; a full or disabled store loses the write, which costs a reload's history only. */
  private write(name: string, value: unknown): void {
    try {
      this.store.setItem(this.key(name), JSON.stringify(value));
    } catch (err) {
      console.warn('switchboard: could not store', name, err);
    }
  }

  /** The stored outbox, in order; malformed lines are skipped. */
  loadOutbox(): OutboxLine[] {
    const v = this.read('outbox');
    return Array.isArray(v) ? v.flatMap((l) => outboxLine(l, this.maxBody)) : [];
  }

  /** Replaces the stored outbox. */
  saveOutbox(lines: readonly OutboxLine[]): void {
    this.write('outbox', lines);
  }

  /** The ids of the stored conversations. */
  loadIndex(): number[] {
    const v = this.read('convs');
    return Array.isArray(v) ? v.filter((x): x is number => Number.isSafeInteger(x) && x > 0) : [];
  }

  /** Replaces the index of stored conversations. */
  saveIndex(ids: readonly number[]): void {
    this.write('convs', ids);
  }

  /** One stored conversation, or `undefined` when absent or malformed. */
  loadConversation(conv: number): StoredConversation | undefined {
    return storedConversation(this.read(`conv:${conv}`), conv, this.maxBody);
  }

  /** Stores one conversation. */
  saveConversation(c: StoredConversation): void {
    this.write(`conv:${c.conv}`, c);
  }

  /** Forgets one conversation. */
  removeConversation(conv: number): void {
    try {
      this.store.removeItem(this.key(`conv:${conv}`));
    } catch {
      // Nothing to do: it will be overwritten or ignored.
    }
  }
}

const STATES: readonly string[] = ['waiting', 'serving', 'transferring', 'ended'];

function outboxLine(v: unknown, maxBody: number): OutboxLine[] {
  if (typeof v !== 'object' || v === null) return [];
  const o = v as Record<string, unknown>;
  const ok =
    typeof o['clientMsgId'] === 'string' && o['clientMsgId'].length <= 64 &&
    Number.isSafeInteger(o['conv']) && (o['conv'] as number) >= 0 &&
    typeof o['body'] === 'string' && o['body'].length <= maxBody &&
    Number.isFinite(o['createdAt']) && Number.isSafeInteger(o['attempts']);
  if (!ok) return [];
  const line: OutboxLine = {
    clientMsgId: o['clientMsgId'] as string, conv: o['conv'] as number, body: o['body'] as string,
    createdAt: o['createdAt'] as number, attempts: o['attempts'] as number,
  };
  // An attachment is checked with the frame parser's rules by wrapping it in a message.
  if (o['attachment'] !== undefined) {
    const m = parseItem({ type: 'message', conv: 1, seq: 1, ts: 0, from: 'x', client_msg_id: 'x', body: '', attachment: o['attachment'] }, 1);
    if (!m || m.type !== 'message' || !m.attachment) return [];
    line.attachment = m.attachment;
  }
  return [line];
}

function storedConversation(v: unknown, conv: number, maxBody: number): StoredConversation | undefined {
  if (typeof v !== 'object' || v === null) return undefined;
  const o = v as Record<string, unknown>;
  if (o['conv'] !== conv || !STATES.includes(o['state'] as string) || typeof o['visitor'] !== 'string') return undefined;
  if (!Number.isSafeInteger(o['contiguous']) || !Array.isArray(o['items'])) return undefined;
  const items = (o['items'] as unknown[]).flatMap((i) => {
    const item = parseItem(i, maxBody);
    return item && item.conv === conv ? [item] : [];
  });
  const out: StoredConversation = {
    conv, state: o['state'] as ConversationState, visitor: o['visitor'], contiguous: o['contiguous'] as number, items,
  };
  if (typeof o['agent'] === 'string') out.agent = o['agent'];
  return out;
}
