// PENDING (engine: presence and queue frames). {"type":"presence",...} when the other
// participant's connections come and go; {"type":"queue","conv","position"} frames
// instead of later queue_position items.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { closeAll, connectClient } from '../clients.mjs';
import { startEngine, until } from '../engine.mjs';

let engine;
before(async () => (engine = await startEngine(['--agent-capacity', '1'])));
after(async () => {
  closeAll();
  await engine?.stop();
});

test('the agent sees the visitor go offline and come back', async () => {
  const agent = await connectClient(engine.http, 'agent:a-pres');
  const visitor = await connectClient(engine.http, 'v-pres');
  const conv = await visitor.client.start();
  await until(() => agent.client.conversations.get(conv.id)?.state === 'serving', 5_000, 'assigned');
  const events = [];
  agent.client.on('presence', (e) => events.push(e));
  visitor.client.close();
  await until(() => events.some((e) => e.online === false), 5_000, 'offline presence');
  assert.equal(events.at(-1).user, 'v-pres');
  assert.equal(events.at(-1).role, 'visitor');
  assert.equal(agent.client.conversations.get(conv.id).peerOnline, false);
  const back = await connectClient(engine.http, 'v-pres');
  await back.client.start();
  await until(() => events.at(-1)?.online === true, 5_000, 'online presence');
  agent.client.conversations.get(conv.id).end();
  agent.client.close();
  back.client.close();
});

test('queue frames move a waiting visitor up', async () => {
  const first = await connectClient(engine.http, 'v-qf-1');
  const second = await connectClient(engine.http, 'v-qf-2');
  const c1 = await first.client.start();
  const c2 = await second.client.start();
  await until(() => c2.queuePosition === 2, 5_000, 'second in line');
  const itemsBefore = c2.items.length;
  const agent = await connectClient(engine.http, 'agent:a-qf');
  await until(() => c1.state === 'serving' && c2.queuePosition === 1, 5_000, 'moved up');
  assert.equal(c2.items.length, itemsBefore, 'the move came as an ephemeral queue frame, not an item');
  for (const c of [first, second, agent]) c.client.close();
});
