/**
 * The JSON frames of `/v1/ws` (docs/protocol.md) and the parser of what the server
 * sends. Everything that arrives is untrusted: `parseServerFrame` checks every field
 * of a known frame type and returns `undefined` for anything else, so the rest of the
 * SDK only ever sees well-typed frames. Unknown frame types are skipped, as the
 * protocol asks of clients, so a newer engine does not break an older page.
 */

/** The role the engine gave the connection. */
export type Role = 'visitor' | 'agent';
/** A conversation's state. */
export type ConversationState = 'waiting' | 'serving' | 'transferring' | 'ended';
/** An agent's availability. */
export type AgentStatus = 'online' | 'away' | 'offline';

/** A file stored by the engine's upload endpoint, as carried by `send` and `message`. */
export interface Attachment {
  /** The upload's id. */
  id: string;
  /** The file name shown to people. */
  name: string;
  /** Its media type, e.g. `image/png`. */
  content_type: string;
  /** Its size in bytes. */
  size: number;
  /** The path to fetch it from (`/v1/uploads/<id>`), when the engine gave one. */
  url?: string;
}

/** `welcome`: the first frame on every connection. */
export interface WelcomeFrame { type: 'welcome'; conn: number; shard: number; user: string; role: Role }
/** `conversation`: a snapshot of one conversation. */
export interface ConversationFrame {
  type: 'conversation'; conv: number; state: ConversationState; visitor: string; agent?: string; last_seq: number;
}
/** `message`: a chat line, ordered by `seq`. */
export interface MessageItem {
  type: 'message'; conv: number; seq: number; ts: number; from: string; client_msg_id: string; body: string;
  attachment?: Attachment;
}
/** `system`: a system event, ordered by `seq` with the chat lines. */
export interface SystemItem {
  type: 'system'; conv: number; seq: number; ts: number; event: string; agent?: string; position?: number; reason?: string;
}
/** One item of a conversation's ordered channel. */
export type Item = MessageItem | SystemItem;
/** `sent`: the server accepted our `send`. */
export interface SentFrame { type: 'sent'; conv: number; client_msg_id: string; seq: number; ts: number }
/** `typing`: someone is typing. */
export interface TypingFrame { type: 'typing'; conv: number; from: string }
/** `read`: someone has read up to `seq`. */
export interface ReadFrame { type: 'read'; conv: number; from: string; seq: number }
/** `gap`: the history no longer reaches back to `after_seq + 1`. */
export interface GapFrame { type: 'gap'; conv: number; after_seq: number; oldest_seq: number }
/** `transfer_offer`: a conversation is offered to this agent. */
export interface TransferOfferFrame { type: 'transfer_offer'; conv: number; from_agent: string; visitor: string }
/** `event`: an application event (e.g. `pressure`). */
export interface AppEventFrame { type: 'event'; name: string; data: unknown }
/** `error`: a request failed; the connection stays open. */
export interface ErrorFrame { type: 'error'; code: string; message: string }
/** `queue`: the visitor's new place in the queue (ephemeral). */
export interface QueueFrame { type: 'queue'; conv: number; position: number }
/** `presence`: the other participant's connections came or went (ephemeral). */
export interface PresenceFrame { type: 'presence'; conv: number; user: string; role: Role; online: boolean }

/** Every server frame the SDK understands. */
export type ServerFrame =
  | WelcomeFrame | ConversationFrame | MessageItem | SystemItem | SentFrame | TypingFrame | ReadFrame
  | GapFrame | TransferOfferFrame | AppEventFrame | ErrorFrame | QueueFrame | PresenceFrame;

/** Every client frame the SDK sends. */
export type ClientFrame =
  | { type: 'start' }
  | { type: 'send'; conv: number; client_msg_id: string; body: string; attachment?: Attachment }
  | { type: 'ack'; conv: number; seq: number }
  | { type: 'resume'; conv: number; after_seq: number }
  | { type: 'typing'; conv: number }
  | { type: 'read'; conv: number; seq: number }
  | { type: 'end'; conv: number }
  | { type: 'agent_status'; status: AgentStatus; capacity?: number }
  | { type: 'transfer'; conv: number; to: string }
  | { type: 'accept_transfer'; conv: number }
  | { type: 'decline_transfer'; conv: number };

/** Longest user id, event name, code or file name the parser accepts (characters). */
const MAX_SHORT = 256;
/** Longest error message the parser accepts (characters). */
const MAX_MESSAGE = 4096;

type Obj = Record<string, unknown>;

/** Why a field could not be read; caught inside this module only. */
class Invalid extends Error {}

function id(o: Obj, key: string): number {
  const v = o[key];
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) throw new Invalid(key);
  return v;
}

function text(o: Obj, key: string, max: number): string {
  const v = o[key];
  if (typeof v !== 'string' || v.length > max) throw new Invalid(key);
  return v;
}

function optional<T>(o: Obj, key: string, read: (o: Obj, key: string) => T): T | undefined {
  return o[key] === undefined || o[key] === null ? undefined : read(o, key);
}

function oneOf<T extends string>(o: Obj, key: string, values: readonly T[]): T {
  const v = o[key];
  if (typeof v !== 'string' || !(values as readonly string[]).includes(v)) throw new Invalid(key);
  return v as T;
}

function object(v: unknown): Obj {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new Invalid('object');
  return v as Obj;
}

function attachment(o: Obj, key: string): Attachment {
  const a = object(o[key]);
  const out: Attachment = {
    id: text(a, 'id', MAX_SHORT),
    name: text(a, 'name', MAX_SHORT),
    content_type: text(a, 'content_type', MAX_SHORT),
    size: id(a, 'size'),
  };
  const url = optional(a, 'url', (x, k) => text(x, k, 2048));
  // Only a same-server path is followed: an attachment can never point the page elsewhere.
  if (url !== undefined && url.startsWith('/') && !url.startsWith('//')) out.url = url;
  return out;
}

const short = (o: Obj, k: string) => text(o, k, MAX_SHORT);
const ROLES = ['visitor', 'agent'] as const;
const STATES = ['waiting', 'serving', 'transferring', 'ended'] as const;

function message(o: Obj, maxBody: number): MessageItem {
  const m: MessageItem = {
    type: 'message', conv: id(o, 'conv'), seq: id(o, 'seq'), ts: id(o, 'ts'), from: short(o, 'from'),
    client_msg_id: short(o, 'client_msg_id'), body: text(o, 'body', maxBody),
  };
  const a = optional(o, 'attachment', attachment);
  if (a) m.attachment = a;
  return m;
}

function system(o: Obj): SystemItem {
  const s: SystemItem = { type: 'system', conv: id(o, 'conv'), seq: id(o, 'seq'), ts: id(o, 'ts'), event: short(o, 'event') };
  const agent = optional(o, 'agent', short);
  const position = optional(o, 'position', id);
  const reason = optional(o, 'reason', short);
  if (agent !== undefined) s.agent = agent;
  if (position !== undefined) s.position = position;
  if (reason !== undefined) s.reason = reason;
  return s;
}

function conversation(o: Obj): ConversationFrame {
  const c: ConversationFrame = {
    type: 'conversation', conv: id(o, 'conv'), state: oneOf(o, 'state', STATES), visitor: short(o, 'visitor'),
    last_seq: id(o, 'last_seq'),
  };
  const agent = optional(o, 'agent', short);
  if (agent !== undefined) c.agent = agent;
  return c;
}

function presence(o: Obj): PresenceFrame {
  const online = o['online'];
  if (typeof online !== 'boolean') throw new Invalid('online');
  return { type: 'presence', conv: id(o, 'conv'), user: short(o, 'user'), role: oneOf(o, 'role', ROLES), online };
}

/** Reads a frame of a known type from a parsed object; throws `Invalid`. */
function frame(o: Obj, maxBody: number): ServerFrame | undefined {
  switch (o['type']) {
    case 'welcome':
      return { type: 'welcome', conn: id(o, 'conn'), shard: id(o, 'shard'), user: short(o, 'user'), role: oneOf(o, 'role', ROLES) };
    case 'conversation': return conversation(o);
    case 'message': return message(o, maxBody);
    case 'system': return system(o);
    case 'sent':
      return { type: 'sent', conv: id(o, 'conv'), client_msg_id: short(o, 'client_msg_id'), seq: id(o, 'seq'), ts: id(o, 'ts') };
    case 'typing': return { type: 'typing', conv: id(o, 'conv'), from: short(o, 'from') };
    case 'read': return { type: 'read', conv: id(o, 'conv'), from: short(o, 'from'), seq: id(o, 'seq') };
    case 'gap': return { type: 'gap', conv: id(o, 'conv'), after_seq: id(o, 'after_seq'), oldest_seq: id(o, 'oldest_seq') };
    case 'transfer_offer':
      return { type: 'transfer_offer', conv: id(o, 'conv'), from_agent: short(o, 'from_agent'), visitor: short(o, 'visitor') };
    case 'event': return { type: 'event', name: short(o, 'name'), data: o['data'] ?? null };
    case 'error': return { type: 'error', code: short(o, 'code'), message: text(o, 'message', MAX_MESSAGE) };
    case 'queue': return { type: 'queue', conv: id(o, 'conv'), position: id(o, 'position') };
    case 'presence': return presence(o);
    default: return undefined;
  }
}

/**
 * Parses one server text message. Returns `undefined` for text over `maxChars`, text that
 * is not a JSON object, an unknown `type`, or a known type with a missing or mistyped
 * field. Never throws.
 */
export function parseServerFrame(data: string, maxChars: number, maxBody = maxChars): ServerFrame | undefined {
  if (data.length > maxChars) return undefined;
  try {
    return frame(object(JSON.parse(data)), maxBody);
  } catch {
    return undefined;
  }
}

/**
 * Reads one item of a history page (`GET /v1/conversations/<conv>/items`): a `message` or
 * a `system` object. Returns `undefined` for anything else. Never throws.
 */
export function parseItem(value: unknown, maxBody: number): Item | undefined {
  try {
    const f = frame(object(value), maxBody);
    return f && (f.type === 'message' || f.type === 'system') ? f : undefined;
  } catch {
    return undefined;
  }
}
