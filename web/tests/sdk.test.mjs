// The SDK against the real engine: chat both ways, reconnect and resume, dedupe, the
// outbox across a "reload" (a new client on the same storage), typing, reads, queue
// positions, pressure, transfers, ends, gaps and final close codes.
import assert from 'node:assert/strict';
import { after, afterEach, before, test } from 'node:test';
import { MemoryStore } from '../dist/sdk/switchboard.mjs';
import { bodies, connectClient } from './clients.mjs';
import { control, startEngine, until } from './engine.mjs';
import { startProxy } from './proxy.mjs';

let engine;
let proxy;
const open = [];

before(async () => {
  engine = await startEngine(['--history-len', '12', '--degrade-visitor-lines-per-s', '2']);
  proxy = await startProxy(engine.http.slice('http://'.length));
});
afterEach(async () => {
  // End what the test left open and disconnect everyone, so the next test's visitor is
  // not given to an agent of this one.
  for (const c of open) for (const conv of c.conversations.values()) if (conv.state !== 'ended') conv.end();
  await new Promise((r) => setTimeout(r, 50));
  for (const c of open.splice(0)) c.close();
  proxy.refuse(false);
  proxy.swallowDownstream(false);
});
after(async () => {
  await proxy?.close();
  await engine?.stop();
});

/** A connected client, closed after the test. */
async function client(token, options = {}, server = engine.http) {
  const c = await connectClient(server, token, options);
  open.push(c.client);
  return c;
}

/** A visitor whose conversation agent `agent` serves; resolves to both sides. */
async function pair(visitorToken, agentToken, visitorOptions = {}, server = engine.http) {
  const agent = await client(agentToken);
  const visitor = await client(visitorToken, visitorOptions, server);
  const vconv = await visitor.client.start();
  await until(() => agent.client.conversations.get(vconv.id)?.state === 'serving', 5_000, 'assignment');
  return { visitor, agent, vconv, aconv: agent.client.conversations.get(vconv.id) };
}

async function endAll(...clients) {
  for (const c of clients) for (const conv of c.conversations.values()) if (conv.state !== 'ended') conv.end();
  await new Promise((r) => setTimeout(r, 50));
}

test('a visitor and an agent chat both ways, in order, with their own lines marked', async () => {
  const { visitor, agent, vconv, aconv } = await pair('v-chat', 'agent:a-chat');
  assert.equal(visitor.client.role, 'visitor');
  assert.equal(agent.client.role, 'agent');
  assert.equal(vconv.agent, 'a-chat');
  vconv.send('hello');
  vconv.send('is anyone there?');
  await until(() => bodies(aconv).length === 2, 5_000, 'agent gets 2 lines');
  aconv.send('yes, hi!');
  await until(() => bodies(vconv).length === 3, 5_000, 'visitor gets the reply');
  assert.deepEqual(bodies(vconv), ['hello', 'is anyone there?', 'yes, hi!']);
  assert.deepEqual(bodies(aconv), bodies(vconv));
  const seqs = vconv.items.map((i) => i.seq);
  assert.deepEqual(seqs, [...seqs].sort((a, b) => a - b));
  assert.deepEqual(vconv.items.filter((i) => i.type === 'message').map((i) => vconv.isMine(i)), [true, true, false]);
  assert.equal(vconv.pending.length, 0);
  await endAll(visitor.client);
});

test('a cut connection reconnects, resumes from its last seq, and drops replayed items', async () => {
  const { visitor, agent, vconv, aconv } = await pair('v-resume', 'agent:a-resume', {}, proxy.http);
  vconv.send('before the cut');
  await until(() => bodies(aconv).length === 1, 5_000, 'first line');
  const states = [];
  visitor.client.on('state', (s) => states.push(s.state));
  proxy.cut();
  await until(() => states.includes('reconnecting'), 5_000, 'reconnecting');
  aconv.send('while you were away');
  await until(() => visitor.client.state === 'connected' && bodies(vconv).length === 2, 5_000, 'resumed');
  assert.deepEqual(bodies(vconv), ['before the cut', 'while you were away']);
  // Ask the engine for everything again: every item comes back, none is shown twice.
  const before = visitor.items.length;
  const count = vconv.items.length;
  visitor.client.sendFrame({ type: 'resume', conv: vconv.id, after_seq: 0 });
  await new Promise((r) => setTimeout(r, 300));
  assert.equal(visitor.items.length, before, 'no item event for a replayed item');
  assert.equal(vconv.items.length, count);
  await endAll(visitor.client);
});

test('lines written while disconnected survive a reload and arrive once, in order', async () => {
  const storage = new MemoryStore();
  const { visitor, aconv, vconv } = await pair('v-outbox', 'agent:a-outbox', { storage }, proxy.http);
  proxy.refuse(true);
  proxy.cut();
  await until(() => visitor.client.state === 'reconnecting', 5_000, 'offline');
  for (const line of ['one', 'two', 'three']) vconv.send(line);
  assert.equal(vconv.pending.length, 3);
  visitor.client.close(); // the page goes away with its outbox in storage
  proxy.refuse(false);
  const again = await client('v-outbox', { storage }, proxy.http);
  const conv = again.client.conversations.get(vconv.id);
  assert.ok(conv, 'the conversation is restored from storage');
  assert.equal(conv.pending.length, 0, 'the reload resent the outbox');
  await until(() => bodies(aconv).length === 3, 5_000, 'agent gets the three lines');
  await until(() => conv.pending.length === 0 && bodies(conv).length === 3, 5_000, 'visitor sees them sent');
  assert.deepEqual(bodies(aconv), ['one', 'two', 'three']);
  assert.deepEqual(bodies(conv), ['one', 'two', 'three']);
  await endAll(again.client);
});

test('a line whose sent was lost is sent again with the same id and delivered once', async () => {
  const { visitor, aconv, vconv } = await pair('v-lost-ack', 'agent:a-lost-ack', {}, proxy.http);
  proxy.swallowDownstream(true);
  const id = vconv.send('only once please');
  await until(() => bodies(aconv).length === 1, 5_000, 'the engine took the line');
  assert.equal(vconv.pending.length, 1, 'no sent came back');
  proxy.cut();
  proxy.swallowDownstream(false);
  await until(() => visitor.client.state === 'connected' && vconv.pending.length === 0, 5_000, 'acknowledged after resume');
  assert.deepEqual(bodies(vconv), ['only once please']);
  assert.equal(vconv.items.find((i) => i.type === 'message').client_msg_id, id);
  await new Promise((r) => setTimeout(r, 200));
  assert.deepEqual(bodies(aconv), ['only once please']);
  await endAll(visitor.client);
});

test('typing and read receipts reach the other side', async () => {
  const { visitor, agent, vconv, aconv } = await pair('v-typing', 'agent:a-typing');
  const typing = [];
  agent.client.on('typing', (e) => typing.push(e));
  vconv.notifyTyping();
  vconv.notifyTyping(); // throttled: one frame
  await until(() => typing.length > 0, 5_000, 'typing');
  assert.equal(typing[0].from, 'v-typing');
  assert.equal(typing[0].typing, true);
  assert.ok(aconv.typing.has('v-typing'));
  vconv.send('a line ends the indicator');
  await until(() => bodies(aconv).length === 1, 5_000, 'line');
  assert.equal(aconv.typing.has('v-typing'), false);
  const reads = [];
  visitor.client.on('read', (e) => reads.push(e));
  aconv.markRead();
  await until(() => reads.length > 0, 5_000, 'read receipt');
  assert.equal(reads[0].from, 'a-typing');
  assert.equal(vconv.peerReadSeq, aconv.log.newestSeq);
  await endAll(visitor.client);
});

test('visitors waiting for an agent learn their place in the queue', async () => {
  // Capacity 1: the agent that connects takes one conversation, not both.
  const lone = await startEngine(['--agent-capacity', '1']);
  try {
    const first = await connectClient(lone.http, 'v-queue-1');
    const second = await connectClient(lone.http, 'v-queue-2');
    const c1 = await first.client.start();
    const c2 = await second.client.start();
    await until(() => c1.queuePosition === 1 && c2.queuePosition === 2, 5_000, 'queue positions');
    assert.equal(c1.state, 'waiting');
    // An agent takes the first: the second moves up.
    const agent = await connectClient(lone.http, 'agent:a-queue');
    agent.client.setStatus('online', 1);
    await until(() => c1.state === 'serving' && c2.queuePosition === 1, 5_000, 'moved up');
    assert.equal(c1.agent, 'a-queue');
    assert.equal(c1.queuePosition, undefined);
    for (const c of [first, second, agent]) c.client.close();
  } finally {
    await lone.stop();
  }
});

test('pressure level 1 stops typing indicators; level 0 brings them back', async () => {
  const { visitor, agent, vconv } = await pair('v-pressure', 'agent:a-pressure', { typingIntervalMs: 0 });
  const typing = [];
  agent.client.on('typing', (e) => typing.push(e));
  await control(engine, 'PUT', '/v1/degradation', { level: 1 });
  try {
    await until(() => visitor.client.pressure === 1, 5_000, 'pressure event');
    assert.equal(visitor.client.sendFrame({ type: 'typing', conv: vconv.id }) || true, true);
    typing.length = 0;
    vconv.notifyTyping();
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(typing.length, 0, 'no typing under pressure');
  } finally {
    await control(engine, 'PUT', '/v1/degradation', { level: 0 });
  }
  await until(() => visitor.client.pressure === 0, 5_000, 'pressure over');
  vconv.notifyTyping();
  await until(() => typing.length > 0, 5_000, 'typing again');
  await control(engine, 'PUT', '/v1/degradation', { level: null });
  await endAll(visitor.client);
});

test('at pressure level 2, rate-limited lines are sent again until each arrives once, in order', async () => {
  const { visitor, vconv, aconv } = await pair('v-rate', 'agent:a-rate', { retryAfterMs: 100, pressureSlowdown: 2 });
  const codes = [];
  visitor.client.on('error', (e) => codes.push(e.code));
  await control(engine, 'PUT', '/v1/degradation', { level: 2 });
  try {
    await until(() => visitor.client.pressure === 2, 5_000, 'level 2');
    const want = ['r1', 'r2', 'r3', 'r4', 'r5', 'r6'];
    for (const line of want) vconv.send(line);
    await until(() => bodies(aconv).length === 6, 15_000, 'all six delivered');
    assert.deepEqual(bodies(aconv), want);
    await until(() => vconv.pending.length === 0, 5_000, 'all acknowledged');
    assert.deepEqual(bodies(vconv), want);
  } finally {
    await control(engine, 'PUT', '/v1/degradation', { level: null });
  }
  assert.ok(codes.includes('rate_limited'), 'the engine did refuse some lines');
  assert.ok(codes.every((c) => c === 'rate_limited'), `only rate limits: ${codes}`);
});

test('a transfer moves the conversation to the agent who accepts it', async () => {
  const { visitor, agent, vconv, aconv } = await pair('v-transfer', 'agent:a-from');
  const target = await client('agent:a-to');
  const offers = [];
  target.client.on('transferOffer', (e) => offers.push(e));
  aconv.transfer('a-to', 'VIP customer, order A-17');
  await until(() => offers.length === 1, 5_000, 'offer');
  assert.equal(offers[0].fromAgent, 'a-from');
  assert.equal(offers[0].visitor, 'v-transfer');
  const tconv = target.client.conversations.get(vconv.id);
  assert.equal(tconv.state, 'transferring');
  tconv.accept();
  await until(() => vconv.agent === 'a-to' && tconv.state === 'serving', 5_000, 'transferred');
  assert.deepEqual(bodies(tconv), ['VIP customer, order A-17'], 'the new agent has the history');
  await until(() => aconv.agent === 'a-to', 5_000, 'the old agent sees it moved');
  assert.ok(vconv.items.some((i) => i.type === 'system' && i.event === 'transferred' && i.agent === 'a-to'));
  tconv.send('carol here');
  await until(() => bodies(vconv).includes('carol here'), 5_000, 'new agent speaks');
  await endAll(visitor.client);
  assert.ok(agent);
});

test('an ended conversation shows as ended on both sides and refuses lines', async () => {
  const { visitor, vconv, aconv } = await pair('v-end', 'agent:a-end');
  const failed = [];
  visitor.client.on('lineFailed', (e) => failed.push(e));
  aconv.end();
  await until(() => vconv.state === 'ended' && aconv.state === 'ended', 5_000, 'ended');
  assert.equal(vconv.endReason, 'agent');
  // The visitor's next line opens a new conversation rather than vanishing.
  visitor.client.send('one more question');
  await until(() => visitor.client.visitorConversation().id !== vconv.id, 5_000, 'new conversation');
  const next = visitor.client.visitorConversation();
  await until(() => bodies(next).length === 1, 5_000, 'line in the new conversation');
  assert.equal(failed.length, 0);
  await endAll(visitor.client);
});

test('a resume the bounded history cannot serve reports the gap and goes on', async () => {
  const { visitor, agent, vconv, aconv } = await pair('v-gap', 'agent:a-gap', {}, proxy.http);
  const gaps = [];
  visitor.client.on('gap', (e) => gaps.push(e));
  proxy.refuse(true);
  proxy.cut();
  await until(() => visitor.client.state === 'reconnecting', 5_000, 'cut');
  for (let i = 0; i < 15; i++) aconv.send(`line ${i}`);
  await until(() => bodies(aconv).length === 15, 5_000, 'agent sent 15');
  proxy.refuse(false);
  await until(() => gaps.length === 1 && bodies(vconv).includes('line 14'), 5_000, 'gap and replay');
  assert.ok(gaps[0].oldestSeq > gaps[0].afterSeq + 1);
  assert.equal(vconv.log.contiguous, aconv.log.contiguous);
  assert.equal(vconv.log.hasHole, false);
  await endAll(visitor.client);
  assert.ok(agent);
});

test('a kicked connection (4002) is not reconnected', async () => {
  const { client: c } = await client('v-kicked');
  const conn = c.conn;
  await control(engine, 'DELETE', `/v1/connections/${conn}`, undefined);
  await until(() => c.state === 'stopped', 5_000, 'stopped');
  await new Promise((r) => setTimeout(r, 600));
  assert.equal(c.state, 'stopped');
});
