// PENDING (engine: uploads). POST /v1/uploads?conv=C&name=N with the participant's
// bearer token stores a file; a line carries it as `attachment`; GET /v1/uploads/<id>
// ?token= returns it; 413 over the size limit, 415 for a type not allowed.
// Assumes the engine's limit flag is --max-upload-bytes (adjust when it lands).
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { bodies, closeAll, connectClient } from '../clients.mjs';
import { startEngine, until } from '../engine.mjs';

const PNG = Buffer.from('89504e470d0a1a0a0000000d4948445200000001000000010806000000' + '1f15c4890000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082', 'hex');
let engine;
before(async () => (engine = await startEngine(['--max-upload-bytes', '65536'])));
after(async () => {
  closeAll();
  await engine?.stop();
});

test('an image uploaded by the visitor reaches the agent as an attachment', async () => {
  const agent = await connectClient(engine.http, 'agent:a-up');
  const visitor = await connectClient(engine.http, 'v-up');
  const conv = await visitor.client.start();
  await until(() => agent.client.conversations.get(conv.id)?.state === 'serving', 5_000, 'assigned');
  const a = await visitor.client.upload(conv.id, new Blob([PNG], { type: 'image/png' }), 'dot.png');
  assert.equal(a.content_type, 'image/png');
  assert.equal(a.size, PNG.length);
  assert.equal(a.name, 'dot.png');
  conv.send('', a);
  const aconv = agent.client.conversations.get(conv.id);
  await until(() => aconv.items.some((i) => i.type === 'message' && i.attachment?.id === a.id), 5_000, 'attachment delivered');
  const res = await fetch(agent.client.attachmentUrl(a));
  assert.equal(res.status, 200);
  assert.ok(Buffer.from(await res.arrayBuffer()).equals(PNG));
  assert.deepEqual(bodies(conv), ['']);
  agent.client.close();
  visitor.client.close();
});

test('uploads over the limit get 413 and disallowed types 415', async () => {
  const visitor = await connectClient(engine.http, 'v-up-limits');
  const conv = await visitor.client.start();
  const big = await fetch(`${engine.http}/v1/uploads?conv=${conv.id}&name=big.png`, { method: 'POST', headers: { Authorization: 'Bearer v-up-limits', 'Content-Type': 'image/png' }, body: Buffer.alloc(65537) });
  assert.equal(big.status, 413);
  const exe = await fetch(`${engine.http}/v1/uploads?conv=${conv.id}&name=x.exe`, { method: 'POST', headers: { Authorization: 'Bearer v-up-limits', 'Content-Type': 'application/x-msdownload' }, body: Buffer.alloc(10) });
  assert.equal(exe.status, 415);
  const stranger = await fetch(`${engine.http}/v1/uploads?conv=${conv.id}&name=a.png`, { method: 'POST', headers: { Authorization: 'Bearer someone-else', 'Content-Type': 'image/png' }, body: PNG });
  assert.ok([403, 404].includes(stranger.status), `a non-participant is refused, got ${stranger.status}`);
  visitor.client.close();
});
