// A real Chromium over wss:// and https:// with a test CA it trusts (issue 15): the CA
// is made with openssl and put in the NSS database of a throw-away $HOME (certutil,
// from libnss3-tools) — the way a company's own CA reaches its browsers — so nothing
// skips certificate checks. In the browser: a fetch of /health over https, a
// WebSocket over wss:// that gets its welcome, and an EventSource on an HTTP session
// (issue 15 part 2) that receives the frames a POSTed `start` causes, with the cursor
// as each event's id.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { chromium } from 'playwright-core';
import { startEngine } from '../engine.mjs';

let dir;
let engine;
let context;
let origin;

function openssl(...args) {
  execFileSync('openssl', args, { cwd: dir, stdio: 'ignore' });
}

function makePki() {
  openssl('req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', 'ca.key',
    '-out', 'ca.pem', '-days', '2', '-subj', '/CN=Switchboard browser test CA',
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign');
  openssl('req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', 'srv.key',
    '-out', 'srv.csr', '-subj', '/CN=localhost');
  writeFileSync(join(dir, 'ext'), 'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n');
  openssl('x509', '-req', '-in', 'srv.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-days', '2',
    '-extfile', 'ext', '-out', 'srv.pem');
  const nssdb = join(dir, 'home', '.pki', 'nssdb');
  mkdirSync(nssdb, { recursive: true });
  execFileSync('certutil', ['-d', `sql:${nssdb}`, '-N', '--empty-password']);
  execFileSync('certutil', ['-d', `sql:${nssdb}`, '-A', '-t', 'C,,', '-n', 'sb-test-ca', '-i', join(dir, 'ca.pem')]);
}

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'sb-wss-'));
  makePki();
  engine = await startEngine(['--tls-cert', join(dir, 'srv.pem'), '--tls-key', join(dir, 'srv.key')]);
  origin = `https://localhost:${new URL(engine.http).port}`;
  context = await chromium.launchPersistentContext(join(dir, 'profile'), {
    executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
    headless: true,
    env: { ...process.env, HOME: join(dir, 'home') },
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync'],
  });
});

after(async () => {
  await context?.close();
  await engine?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

test('Chromium trusts the test CA: https /health, a wss:// chat welcome, an EventSource session', async () => {
  const page = await context.newPage();
  const answer = await page.goto(`${origin}/health`);
  assert.equal(answer.status(), 200, 'https navigation with the CA trusted (no certificate error)');
  const security = await answer.securityDetails();
  assert.equal(security.protocol, 'TLS 1.3');
  assert.equal(security.subjectName, 'localhost');

  const welcome = await page.evaluate((wsUrl) => new Promise((resolve, reject) => {
    const ws = new WebSocket(wsUrl, 'switchboard.v1.json');
    ws.onmessage = (e) => { resolve({ frame: JSON.parse(e.data), protocol: ws.protocol }); ws.close(); };
    ws.onerror = () => reject(new Error('wss:// failed'));
  }), `wss://localhost:${new URL(engine.http).port}/v1/ws?token=alice`);
  assert.equal(welcome.protocol, 'switchboard.v1.json');
  assert.equal(welcome.frame.type, 'welcome');
  assert.equal(welcome.frame.user, 'alice');

  const streamed = await page.evaluate(async () => {
    const opened = await fetch('/v1/sessions', { method: 'POST', headers: { Authorization: 'Bearer sse-visitor' } });
    const session = await opened.json();
    const events = [];
    const source = new EventSource(`/v1/sessions/${session.session}/events?cursor=${session.cursor}`);
    const done = new Promise((resolve, reject) => {
      source.onmessage = (e) => {
        events.push({ id: e.lastEventId, frame: JSON.parse(e.data) });
        if (events.some((x) => x.frame.type === 'system')) resolve();
      };
      setTimeout(() => reject(new Error(`no system frame; got ${JSON.stringify(events)}`)), 8_000);
    });
    await new Promise((r) => { source.onopen = r; });
    const posted = await fetch(`/v1/sessions/${session.session}`, { method: 'POST', body: JSON.stringify({ type: 'start' }) });
    await done;
    source.close();
    return { opened: session.frames[0], posted: posted.status, events };
  });
  assert.equal(streamed.opened.type, 'welcome');
  assert.equal(streamed.opened.user, 'sse-visitor');
  assert.equal(streamed.posted, 202);
  const ids = streamed.events.map((e) => Number(e.id));
  assert.ok(ids.every((id, i) => Number.isInteger(id) && (i === 0 || id > ids[i - 1])), `ids rise: ${ids}`);
  assert.ok(streamed.events.some((e) => e.frame.type === 'system' && e.frame.conv > 0), JSON.stringify(streamed.events));
  await page.close();
});
