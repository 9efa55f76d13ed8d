// PENDING (engine: static files). The engine serves web/dist/ at /demo/, /console/ and
// /sdk/..., with manifest.json's content types and the strict CSP, and the widget on
// its /demo/ page chats and shows an uploaded image inline (same origin, so the CSP's
// connect-src 'self' covers uploads and history).
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { startEngine } from '../engine.mjs';
import { CSP } from '../static-server.mjs';
import { newBrowser } from '../browser/chromium.mjs';

const web = join(dirname(fileURLToPath(import.meta.url)), '../..');
const manifest = JSON.parse(readFileSync(join(web, 'dist/manifest.json'), 'utf8'));
let engine;
let browser;
before(async () => {
  engine = await startEngine();
  browser = await newBrowser();
});
after(async () => {
  await browser?.close();
  await engine?.stop();
});

test('every file of the manifest is served with its content type and the CSP', async () => {
  for (const f of manifest.files) {
    const res = await fetch(`${engine.http}/${f.path}`);
    assert.equal(res.status, 200, f.path);
    assert.equal(res.headers.get('content-type'), f.content_type, f.path);
    assert.equal(res.headers.get('content-security-policy'), CSP, f.path);
    assert.ok(Buffer.from(await res.arrayBuffer()).equals(readFileSync(join(web, 'dist', f.path))), f.path);
  }
  for (const dir of ['/demo/', '/console/']) {
    const res = await fetch(`${engine.http}${dir}`);
    assert.equal(res.status, 200, dir);
    assert.match(res.headers.get('content-type'), /^text\/html/);
  }
});

test('the engine-served demo page chats and shows an uploaded image inline', async () => {
  const page = await browser.context.newPage();
  await page.goto(`${engine.http}/demo/?token=v-served&prechat=none`);
  await page.getByTestId('sb-open').click();
  await page.getByTestId('sb-input').fill('hello from the served page');
  await page.getByTestId('sb-send').click();
  await page.getByTestId('sb-messages').locator('[data-mine="true"][data-seq]').first().waitFor({ timeout: 10_000 });
  const png = Buffer.from('89504e470d0a1a0a0000000d4948445200000001000000010806000000' + '1f15c4890000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082', 'hex');
  await page.getByTestId('sb-file').setInputFiles({ name: 'dot.png', mimeType: 'image/png', buffer: png });
  const img = page.getByTestId('sb-messages').locator('[data-seq] img');
  await img.waitFor({ timeout: 10_000 });
  assert.equal(await img.evaluate((el) => el.complete && el.naturalWidth), 1);
  assert.deepEqual(browser.violations, []);
});
