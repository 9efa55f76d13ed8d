/**
 * The client's options. Every limit (sizes, counts, delays) is a field here with a
 * default, so an embedding page can tune it and nothing is a hidden constant.
 */

import type { KeyValueStore } from './storage.js';

/** The WebSocket constructor the client uses (the browser's, or `ws` in Node). */
export type WebSocketConstructor = new (url: string, protocols?: string | string[]) => WebSocketLike;

/** The part of the WebSocket interface the client uses. */
export interface WebSocketLike {
  /** 0 connecting, 1 open, 2 closing, 3 closed. */
  readonly readyState: number;
  /** The subprotocol the server chose. */
  readonly protocol: string;
  /** Sends a text message. */
  send(data: string): void;
  /** Starts the closing handshake. */
  close(code?: number, reason?: string): void;
  /** Called once open. */
  onopen: ((ev: unknown) => void) | null;
  /** Called for each message. */
  onmessage: ((ev: { data: unknown }) => void) | null;
  /** Called once closed. */
  onclose: ((ev: { code: number; reason: string }) => void) | null;
  /** Called on an error (a close follows). */
  onerror: ((ev: unknown) => void) | null;
}

/** Where the browser says whether it is online; `window` in a page. */
export interface NetworkSignal {
  /** Registers `online` / `offline` listeners. */
  addEventListener(type: 'online' | 'offline', listener: () => void): void;
  /** Unregisters them. */
  removeEventListener(type: 'online' | 'offline', listener: () => void): void;
}

/** Everything a `SwitchboardClient` is configured with. */
export interface ClientOptions {
  /**
   * The engine's address: `https://chat.example`, `http://127.0.0.1:8080` or a `ws(s)://`
   * form. Empty: the page's own origin.
   */
  server: string;
  /** The token (`?token=` of `/v1/ws`, `Bearer` of HTTP calls). Or use `tokenProvider`. */
  token?: string;
  /** Called before each connection for a fresh token (e.g. from the shop's back end). */
  tokenProvider?: () => Promise<string>;
  /** The WebSocket to use; default `globalThis.WebSocket`. */
  WebSocket?: WebSocketConstructor;
  /** Where the outbox and the conversations survive a reload; default `localStorage`, else memory. */
  storage?: KeyValueStore;
  /** `fetch` for uploads and history; default `globalThis.fetch`. */
  fetch?: typeof fetch;
  /** Online/offline signal; default `window` when there is one. */
  network?: NetworkSignal;
  /** The storage namespace; default derived from the server and token. */
  storageKey?: string;

  /** Upper bound of the first reconnect delay (ms). */
  reconnectBaseMs: number;
  /** Upper bound of any reconnect delay (ms). */
  reconnectMaxMs: number;
  /** A connection not open after this long is given up and retried (ms). */
  connectTimeoutMs: number;
  /** A line without `sent` after this long on the same connection is sent again (ms). */
  resendTimeoutMs: number;
  /** Delay before resending after `rate_limited`, `unavailable` or `conversation_moved` (ms). */
  retryAfterMs: number;
  /** A line is given up after this many sends without `sent`. */
  maxSendAttempts: number;
  /** Lines sent and not yet acknowledged, per conversation, at pressure level 0 or 1. */
  maxInFlight: number;
  /** How much slower resends get, and one line in flight, at pressure level ≥ 2. */
  pressureSlowdown: number;
  /** `ack` is sent this long after the newest item, to batch several items (ms). */
  ackDelayMs: number;
  /** At most one `typing` per conversation per this interval (ms). */
  typingIntervalMs: number;
  /** Someone's typing indicator stops after this long without a new `typing` (ms). */
  typingTimeoutMs: number;
  /** Items kept in memory per conversation (oldest dropped). */
  maxItemsInMemory: number;
  /** Items stored per conversation for a reload. */
  maxItemsStored: number;
  /** Conversations kept in storage (ended ones dropped first). */
  maxConversationsStored: number;
  /** Lines the outbox holds; `send` refuses more. */
  maxOutboxLines: number;
  /** Longest line `send` accepts (characters). */
  maxBodyChars: number;
  /** Longest server message the client parses (characters); longer ones are dropped. */
  maxFrameChars: number;
  /** Largest file `upload` sends (bytes); the engine has its own limit too. */
  maxUploadBytes: number;
  /** Items asked for per history page. */
  historyPageSize: number;
  /** HTTP calls (upload, history) are aborted after this long (ms). */
  httpTimeoutMs: number;
}

/** The defaults of every limit. */
export const DEFAULT_OPTIONS = {
  reconnectBaseMs: 500,
  reconnectMaxMs: 30_000,
  connectTimeoutMs: 10_000,
  resendTimeoutMs: 10_000,
  retryAfterMs: 1_000,
  maxSendAttempts: 50,
  maxInFlight: 8,
  pressureSlowdown: 4,
  ackDelayMs: 200,
  typingIntervalMs: 3_000,
  typingTimeoutMs: 6_000,
  maxItemsInMemory: 1_000,
  maxItemsStored: 200,
  maxConversationsStored: 20,
  maxOutboxLines: 200,
  maxBodyChars: 8_000,
  maxFrameChars: 1_048_576,
  maxUploadBytes: 10 * 1024 * 1024,
  historyPageSize: 50,
  httpTimeoutMs: 30_000,
} satisfies Partial<ClientOptions>;

/** What a caller passes: the server, and any options it wants to change. */
export type ClientInit = Pick<ClientOptions, 'server'> & Partial<ClientOptions>;

/** Fills in defaults. */
export function withDefaults(init: ClientInit): ClientOptions {
  return { ...DEFAULT_OPTIONS, ...init };
}

/** The WebSocket URL of `/v1/ws` for `server` (empty: the page's origin). */
export function wsUrl(server: string, token: string): string {
  const base = httpBase(server).replace(/^http/, 'ws');
  return `${base}/v1/ws?token=${queryValue(token)}`;
}

/**
 * A query value with only what must be escaped escaped: tokens (JWTs, `agent:bob`) are
 * sent as they are, since the engine compares the raw query text and does not
 * percent-decode it; `&`, `#`, `%`, spaces and non-ASCII are still escaped.
 */
export function queryValue(v: string): string {
  return encodeURIComponent(v).replace(/%(3A|40|2F|2B|3D|2C)/g, (m) => decodeURIComponent(m));
}

/** The HTTP origin of `server`, without a trailing slash. */
export function httpBase(server: string): string {
  let s = server.trim();
  if (s === '') {
    const loc = (globalThis as { location?: { origin: string } }).location;
    s = loc ? loc.origin : 'http://127.0.0.1';
  }
  s = s.replace(/^ws(s?):/, 'http$1:');
  if (!/^https?:\/\//.test(s)) s = `http://${s}`;
  return s.replace(/\/+$/, '');
}
