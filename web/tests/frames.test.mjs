// The parsers of untrusted input — server frames, history items, stored state — never
// throw and never let a mistyped value through (property tests with fast-check), and
// the ordered item log keeps order and drops duplicates whatever the arrival order.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { backoffDelay, ItemLog, MemoryStore, parseServerFrame, SwitchboardClient } from '../dist/sdk/switchboard.mjs';

const id = fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER });
const str = fc.string({ maxLength: 40 });
const message = fc.record({ type: fc.constant('message'), conv: id, seq: id, ts: id, from: str, client_msg_id: str, body: str });
const system = fc.record({ type: fc.constant('system'), conv: id, seq: id, ts: id, event: fc.constantFrom('created', 'queued', 'assigned', 'ended'), position: fc.option(id, { nil: undefined }), agent: fc.option(str, { nil: undefined }) }, { requiredKeys: ['type', 'conv', 'seq', 'ts', 'event'] });
const conversation = fc.record({ type: fc.constant('conversation'), conv: id, state: fc.constantFrom('waiting', 'serving', 'transferring', 'ended'), visitor: str, last_seq: id });

test('well-formed frames parse to the same values', () => {
  fc.assert(fc.property(fc.oneof(message, system, conversation), (f) => {
    const parsed = parseServerFrame(JSON.stringify(f), 1 << 20);
    assert.deepEqual(parsed, JSON.parse(JSON.stringify(f)));
  }));
});

test('any text parses to a frame or to undefined, never a throw', () => {
  fc.assert(fc.property(fc.oneof(fc.string(), fc.json(), fc.jsonValue().map((v) => JSON.stringify(v))), (text) => {
    const f = parseServerFrame(text, 1 << 20);
    assert.ok(f === undefined || typeof f.type === 'string');
  }), { numRuns: 2000 });
});

test('a mutated field makes a frame invalid, not mistyped', () => {
  const bad = fc.oneof(fc.constant(-1), fc.constant(1.5), fc.constant('7'), fc.constant(null), fc.constant(2 ** 60), fc.constant([]), fc.constant({}));
  fc.assert(fc.property(message, fc.constantFrom('conv', 'seq', 'ts'), bad, (m, key, v) => {
    assert.equal(parseServerFrame(JSON.stringify({ ...m, [key]: v }), 1 << 20), undefined);
  }));
  assert.equal(parseServerFrame('{"type":"message"}', 1 << 20), undefined);
  assert.equal(parseServerFrame('x'.repeat(100), 10), undefined, 'over the size limit');
  assert.equal(parseServerFrame('{"type":"from_the_future","x":1}', 1 << 20), undefined, 'unknown types are skipped');
  const att = parseServerFrame(JSON.stringify({ type: 'message', conv: 1, seq: 1, ts: 1, from: 'a', client_msg_id: 'c', body: '', attachment: { id: 'u1', name: 'a.png', content_type: 'image/png', size: 3, url: '//evil.example/x' } }), 1 << 20);
  assert.equal(att.attachment.url, undefined, 'an off-server attachment URL is dropped');
});

test('the item log keeps seq order and drops duplicates in any arrival order', () => {
  fc.assert(fc.property(fc.array(fc.integer({ min: 1, max: 30 }), { maxLength: 80 }), (arrivals) => {
    const log = new ItemLog(0, 1000);
    for (const seq of arrivals) log.insert({ type: 'system', conv: 1, seq, ts: 0, event: 'created' });
    const seqs = log.items.map((i) => i.seq);
    assert.deepEqual(seqs, [...new Set(arrivals)].sort((a, b) => a - b));
    let c = 0;
    while (seqs.includes(c + 1)) c++;
    assert.equal(log.contiguous, c);
    assert.equal(log.hasHole, seqs.some((s) => s > c));
  }));
});

test('a gap moves the floor past what is lost', () => {
  const log = new ItemLog(3, 1000);
  log.insert({ type: 'system', conv: 1, seq: 9, ts: 0, event: 'created' });
  assert.equal(log.hasHole, true);
  log.skipTo(9);
  assert.equal(log.contiguous, 9);
  assert.equal(log.hasHole, false);
  assert.equal(log.insert({ type: 'system', conv: 1, seq: 5, ts: 0, event: 'created' }), 'duplicate');
});

test('reconnect delays grow exponentially up to the cap, with full jitter', () => {
  const opts = { baseMs: 500, maxMs: 30_000 };
  assert.equal(backoffDelay(0, opts, () => 0.999999), 499);
  assert.equal(backoffDelay(3, opts, () => 0.999999), 3999);
  assert.equal(backoffDelay(40, opts, () => 0.999999), 29_999);
  assert.equal(backoffDelay(5, opts, () => 0), 0);
  fc.assert(fc.property(fc.nat(100), fc.double({ min: 0, max: 0.9999, noNaN: true }), (n, r) => {
    const d = backoffDelay(n, opts, () => r);
    assert.ok(d >= 0 && d <= Math.min(opts.maxMs, opts.baseMs * 2 ** Math.min(n, 30)));
  }));
});

test('stored state that is not ours is ignored, not trusted', () => {
  const storage = new MemoryStore();
  const ns = 'sb:v1:t';
  storage.setItem(`${ns}:outbox`, JSON.stringify([{ clientMsgId: 'x'.repeat(65), conv: 1, body: 'too long id', createdAt: 0, attempts: 0 }, { clientMsgId: 'ok', conv: 1, body: 'fine', createdAt: 1, attempts: 0 }, 'junk']));
  storage.setItem(`${ns}:convs`, JSON.stringify([1, -5, 'x', 2]));
  storage.setItem(`${ns}:conv:1`, JSON.stringify({ conv: 1, state: 'serving', visitor: 'v', contiguous: 2, items: [{ type: 'message', conv: 1, seq: 1, ts: 0, from: 'v', client_msg_id: 'a', body: 'hi' }, { type: 'message', conv: 99, seq: 2 }] }));
  storage.setItem(`${ns}:conv:2`, '{not json');
  const c = new SwitchboardClient({ server: 'http://127.0.0.1:1', token: 't', storage, storageKey: 't' });
  assert.deepEqual(c.outbox.all().map((l) => l.clientMsgId), ['ok']);
  assert.deepEqual([...c.conversations.keys()], [1]);
  assert.deepEqual(c.conversations.get(1).items.map((i) => i.body), ['hi']);
});
