/**
 * The Switchboard browser SDK: a chat client for visitors and agents over the engine's
 * `/v1/ws` JSON protocol. See `web/sdk/README.md`.
 */

export { SwitchboardClient } from './client.js';
export { Conversation } from './conversation.js';
export type { TransferOffer } from './conversation.js';
export type { ClientEvents, ConnectionState } from './events.js';
export type { Unsubscribe } from './emitter.js';
export type {
  AgentStatus, Attachment, ConversationState, Item, MessageItem, Role, ServerFrame, SystemItem, ClientFrame,
} from './frames.js';
export { parseServerFrame, parseItem } from './frames.js';
export { DEFAULT_OPTIONS, httpBase, wsUrl } from './options.js';
export type { ClientInit, ClientOptions, NetworkSignal, WebSocketConstructor, WebSocketLike } from './options.js';
export { MemoryStore } from './storage.js';
export type { KeyValueStore, OutboxLine } from './storage.js';
export { HttpError } from './http.js';
export type { HistoryPage } from './http.js';
export { backoffDelay } from './backoff.js';
export { ItemLog } from './item-log.js';
