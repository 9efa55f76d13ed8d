/**
 * The engine's HTTP side for chat clients: uploads (`POST /v1/uploads`) and history
 * pages (`GET /v1/conversations/<conv>/items`). Answers are untrusted and checked
 * before use; every call has a timeout.
 */

import type { Attachment, Item } from './frames.js';
import { parseItem } from './frames.js';

/** Why an HTTP call failed. */
export class HttpError extends Error {
  constructor(
    /** The HTTP status, or 0 when there was no answer (network, timeout, bad JSON). */
    readonly status: number,
    message: string,
  ) {
    super(message);
    this.name = 'HttpError';
  }
}

/** What every call needs. */
export interface HttpContext {
  /** `http(s)://host:port` of the engine. */
  base: string;
  /** The bearer token. */
  token: string;
  /** The fetch to use. */
  fetch: typeof fetch;
  /** Abort after this long (ms). */
  timeoutMs: number;
}

async function call(ctx: HttpContext, path: string, init: RequestInit): Promise<unknown> {
  const ac = new AbortController();
  const timer = setTimeout(() => ac.abort(), ctx.timeoutMs);
  try {
    const headers = new Headers(init.headers);
    headers.set('Authorization', `Bearer ${ctx.token}`);
    const res = await ctx.fetch(`${ctx.base}${path}`, { ...init, headers, signal: ac.signal });
    if (!res.ok) throw new HttpError(res.status, `${init.method ?? 'GET'} ${path}: HTTP ${res.status}`);
    return await res.json();
  } catch (err) {
    if (err instanceof HttpError) throw err;
    throw new HttpError(0, `${init.method ?? 'GET'} ${path}: ${(err as Error).message}`);
  } finally {
    clearTimeout(timer);
  }
}

/** Uploads a file for conversation `conv`; resolves to the stored file's description. */
export async function upload(ctx: HttpContext, conv: number, file: Blob, name: string): Promise<Attachment> {
  const type = file.type || 'application/octet-stream';
  const path = `/v1/uploads?conv=${conv}&name=${encodeURIComponent(name)}`;
  const v = await call(ctx, path, { method: 'POST', body: file, headers: { 'Content-Type': type } });
  const item = parseItem({ type: 'message', conv, seq: 1, ts: 0, from: 'x', client_msg_id: 'x', body: '', attachment: v }, 1);
  if (!item || item.type !== 'message' || !item.attachment) throw new HttpError(0, 'upload: malformed answer');
  return item.attachment;
}

/** One page of history. */
export interface HistoryPage {
  /** The items, in the order given (checked and filtered to `conv`). */
  items: Item[];
  /** Whether older items exist. */
  hasMore: boolean;
}

/** Items of `conv` with seq below `beforeSeq`, at most `limit`. */
export async function historyPage(ctx: HttpContext, conv: number, beforeSeq: number, limit: number, maxBody: number): Promise<HistoryPage> {
  const v = await call(ctx, `/v1/conversations/${conv}/items?before_seq=${beforeSeq}&limit=${limit}`, { method: 'GET' });
  if (typeof v !== 'object' || v === null || !Array.isArray((v as { items?: unknown }).items)) {
    throw new HttpError(0, 'history: malformed answer');
  }
  const o = v as { items: unknown[]; has_more?: unknown };
  const items = o.items.flatMap((i) => {
    const item = parseItem(i, maxBody);
    return item && item.conv === conv && item.seq < beforeSeq ? [item] : [];
  });
  return { items, hasMore: o.has_more === true };
}
