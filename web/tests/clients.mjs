// Builds SDK clients for Node tests: the `ws` package as the WebSocket, a MemoryStore
// unless one is given, and no network signal (Node has no online/offline events).
import WebSocket from 'ws';
import { MemoryStore, SwitchboardClient } from '../dist/sdk/switchboard.mjs';
import { until } from './engine.mjs';

const opened = new Set();

/** Closes every client this module made (an `after` hook, so a failed test leaves no timers). */
export function closeAll() {
  for (const c of opened) c.close();
  opened.clear();
}

/** A client for `token` against `server`, connected; resolves after its welcome. */
export async function connectClient(server, token, options = {}) {
  const client = new SwitchboardClient({
    server, token, WebSocket, storage: options.storage ?? new MemoryStore(), reconnectBaseMs: 50, reconnectMaxMs: 400, ...options,
  });
  opened.add(client);
  const items = [];
  client.on('item', (e) => items.push(e));
  client.connect();
  await until(() => client.state === 'connected', 5_000, `${token} connected`);
  return { client, items };
}

/** The message bodies of a conversation in seq order. */
export function bodies(conversation) {
  return conversation.items.filter((i) => i.type === 'message').map((i) => i.body);
}
