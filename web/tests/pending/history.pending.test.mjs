// PENDING (engine: history paging). GET /v1/conversations/<conv>/items?before_seq=S&limit=N
// with the participant's bearer token answers {"items":[...], "has_more"}; the SDK's
// loadOlder() pages backwards from the oldest item it has.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { MemoryStore } from '../../dist/sdk/switchboard.mjs';
import { bodies, closeAll, connectClient } from '../clients.mjs';
import { startEngine, until } from '../engine.mjs';

let engine;
before(async () => (engine = await startEngine(['--history-len', '500'])));
after(async () => {
  closeAll();
  await engine?.stop();
});

test('the endpoint pages backwards and says when there is more', async () => {
  const visitor = await connectClient(engine.http, 'v-hist');
  const conv = await visitor.client.start();
  for (let i = 0; i < 30; i++) conv.send(`line ${i}`);
  await until(() => conv.pending.length === 0, 5_000, 'all sent');
  const last = conv.log.contiguous;
  const res = await fetch(`${engine.http}/v1/conversations/${conv.id}/items?before_seq=${last + 1}&limit=10`, { headers: { Authorization: 'Bearer v-hist' } });
  assert.equal(res.status, 200);
  const page = await res.json();
  assert.equal(page.items.length, 10);
  assert.equal(page.has_more, true);
  assert.deepEqual(page.items.map((i) => i.seq), Array.from({ length: 10 }, (_, k) => last - 9 + k));
  const other = await fetch(`${engine.http}/v1/conversations/${conv.id}/items?before_seq=5&limit=10`, { headers: { Authorization: 'Bearer stranger' } });
  assert.ok([403, 404].includes(other.status));
  visitor.client.close();
});

test('loadOlder fills a conversation restored with only its newest items', async () => {
  const writer = await connectClient(engine.http, 'v-hist-2');
  const conv = await writer.client.start();
  for (let i = 0; i < 25; i++) conv.send(`old ${i}`);
  await until(() => conv.pending.length === 0, 5_000, 'all sent');
  const stored = conv.toStored(5);
  writer.client.close();
  const storage = new MemoryStore();
  storage.setItem('sb:v1:h:convs', JSON.stringify([conv.id]));
  storage.setItem(`sb:v1:h:conv:${conv.id}`, JSON.stringify(stored));
  const reader = await connectClient(engine.http, 'v-hist-2', { storage, storageKey: 'h', historyPageSize: 8 });
  const c = reader.client.conversations.get(conv.id);
  assert.equal(bodies(c).length, 5);
  while (c.hasOlder) assert.ok((await c.loadOlder()) > 0);
  assert.deepEqual(bodies(c), Array.from({ length: 25 }, (_, i) => `old ${i}`));
  reader.client.close();
});
