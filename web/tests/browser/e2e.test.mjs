// The widget and the console in a real Chromium against the real engine: chat both ways,
// offline mid-conversation, reload, transfer, end, queue position, zh-CN, and the
// strict CSP (no violation may be reported). Screenshots go to web/screenshots/.
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { control, startEngine, until } from '../engine.mjs';
import { serveDist } from '../static-server.mjs';
import { newBrowser } from './chromium.mjs';
import { consolePage, paneLines, seqs, visitorPage, widgetLines } from './pages.mjs';

const web = join(dirname(fileURLToPath(import.meta.url)), '../..');
const shots = join(web, 'screenshots');
let engine;
let site;
let visitorBrowser;
let agentBrowser;

before(async () => {
  mkdirSync(shots, { recursive: true });
  engine = await startEngine();
  site = await serveDist(process.env.SB_DIST ?? join(web, 'dist'));
  visitorBrowser = await newBrowser();
  agentBrowser = await newBrowser();
});
after(async () => {
  await visitorBrowser?.close();
  await agentBrowser?.close();
  await site?.close();
  await engine?.stop();
  assert.deepEqual([...(visitorBrowser?.violations ?? []), ...(agentBrowser?.violations ?? [])], [], 'no CSP violation');
});

/** The conversation id the console lists for `visitor`. */
async function convOf(consoleP, visitor) {
  const item = consoleP.getByTestId('sb-conv-item').filter({ hasText: visitor }).first();
  await item.waitFor();
  return Number(await item.getAttribute('data-conv'));
}

async function openWidget(page) {
  await page.getByTestId('sb-open').click();
  await page.getByTestId('sb-input').waitFor();
}

async function say(page, text) {
  await page.getByTestId('sb-input').fill(text);
  await page.getByTestId('sb-send').click();
}

async function reply(consoleP, conv, text) {
  const pane = consoleP.locator(`.pane[data-conv="${conv}"]`);
  await pane.getByTestId('sb-reply-input').fill(text);
  await pane.getByTestId('sb-reply-send').click();
}

test('a queue position shows while no agent is free', async () => {
  const page = await visitorPage(visitorBrowser.context, site, engine, 'v-queue');
  await openWidget(page);
  await say(page, 'anyone?');
  await until(async () => /number 1 in the queue/.test(await page.locator('.switchboard-widget').evaluate((h) => h.shadowRoot.querySelector('.sb-who').textContent)), 10_000, 'queue text');
  const convs = await control(engine, 'GET', '/v1/conversations?state=waiting');
  for (const c of convs.conversations ?? []) await control(engine, 'POST', `/v1/conversations/${c.id}/end`, {});
  await page.close();
});

let bob;
let chat;

test('a visitor and an agent chat both ways, with pre-chat details and read ticks', async () => {
  bob = await consolePage(agentBrowser.context, site, engine, 'bob');
  await bob.getByTestId('sb-status').filter({ hasText: 'Connected' }).waitFor();
  const page = await visitorPage(visitorBrowser.context, site, engine, 'v-alice', { prechat: 'name,order' });
  await page.getByTestId('sb-open').click();
  await page.getByTestId('sb-prechat-name').fill('Alice');
  await page.getByTestId('sb-prechat-order').fill('A-17');
  await page.getByTestId('sb-prechat-start').click();
  await say(page, 'Where is my parcel?');
  const conv = await convOf(bob, 'Alice');
  chat = { page, conv };
  await bob.getByTestId('sb-conv-item').filter({ hasText: 'Alice' }).click();
  await until(async () => (await paneLines(bob, conv)).includes('Where is my parcel?'), 10_000, 'agent sees the line');
  await reply(bob, conv, 'It left this morning.');
  await until(async () => (await widgetLines(page)).includes('It left this morning.'), 10_000, 'visitor sees the reply');
  const mine = await page.getByTestId('sb-messages').locator('[data-mine="true"][data-seq]').count();
  assert.equal(mine, 2, 'pre-chat line and question are the visitor\'s own');
  assert.equal(await page.getByTestId('sb-messages').locator('.sb-msg:not([data-mine])').count(), 1);
  await until(() => page.getByTestId('sb-messages').locator('.sb-read').count(), 10_000, 'read ticks');
  assert.match(await page.getByTestId('sb-status').textContent(), /Connected/);
  await bob.locator(`.pane[data-conv="${conv}"] .details`).filter({ hasText: 'A-17' }).waitFor();
  await page.screenshot({ path: join(shots, 'widget-desktop.png') });
  await bob.screenshot({ path: join(shots, 'console-desktop.png') });
});

test('several conversations at once: unread counts, canned replies, the widget\'s unread badge', async () => {
  const page = await visitorPage(visitorBrowser.context, site, engine, 'v-second');
  await openWidget(page);
  await say(page, 'second visitor here');
  const conv = await convOf(bob, 'v-second');
  const item = bob.locator(`[data-testid="sb-conv-item"][data-conv="${conv}"]`);
  await item.getByTestId('sb-unread').filter({ hasText: '1' }).waitFor({ timeout: 10_000 });
  await item.click();
  assert.equal(await bob.locator('.pane').count(), 2, 'two conversations open side by side');
  const pane = bob.locator(`.pane[data-conv="${conv}"]`);
  const input = pane.getByTestId('sb-reply-input');
  await input.fill('');
  await input.pressSequentially('/ord');
  await pane.getByTestId('sb-canned').waitFor();
  await input.press('Enter');
  const canned = 'Could you give me your order number (it looks like A-17)?';
  assert.equal(await input.inputValue(), canned);
  await pane.getByTestId('sb-reply-send').click();
  await until(async () => (await widgetLines(page)).includes(canned), 10_000, 'canned reply arrives');
  // Collapsed: a new line shows as a badge on the bubble.
  await page.locator('.switchboard-widget').evaluate((h) => h.shadowRoot.querySelector('.sb-close').click());
  await reply(bob, conv, 'Anything else?');
  await until(async () => /1 unread/.test(await page.getByTestId('sb-open').getAttribute('aria-label')), 10_000, 'unread badge');
  await openWidget(page);
  await until(async () => !/unread/.test(await page.getByTestId('sb-open').getAttribute('aria-label')), 10_000, 'badge cleared');
  await pane.getByTestId('sb-end').click();
  await pane.getByTestId('sb-conv-state').filter({ hasText: 'Ended' }).waitFor({ timeout: 10_000 });
  await pane.locator('.pane-close').click();
  await page.close();
});

test('lines typed offline are delivered once each, in order, on both sides', async () => {
  const { page, conv } = chat;
  await visitorBrowser.context.setOffline(true);
  await page.getByTestId('sb-status').filter({ hasText: /Offline/ }).waitFor();
  for (const line of ['first offline line', 'second offline line', 'third offline line']) await say(page, line);
  assert.equal(await page.getByTestId('sb-messages').locator('[data-pending="true"]').count(), 3);
  await new Promise((r) => setTimeout(r, 300));
  await visitorBrowser.context.setOffline(false);
  await page.getByTestId('sb-status').filter({ hasText: 'Connected' }).waitFor({ timeout: 10_000 });
  const want = ['first offline line', 'second offline line', 'third offline line'];
  await until(async () => (await widgetLines(page)).slice(-3).join() === want.join(), 10_000, 'visitor lines confirmed');
  await until(async () => (await paneLines(bob, conv)).slice(-3).join() === want.join(), 10_000, 'agent got the lines');
  await new Promise((r) => setTimeout(r, 300));
  for (const lines of [await widgetLines(page), await paneLines(bob, conv)]) {
    for (const w of want) assert.equal(lines.filter((l) => l === w).length, 1, `"${w}" exactly once`);
  }
  assert.equal(await page.getByTestId('sb-messages').locator('[data-pending="true"]').count(), 0);
  const s = await seqs(page.getByTestId('sb-messages'));
  assert.deepEqual(s, [...s].sort((a, b) => a - b), 'in seq order');
  assert.deepEqual(await seqs(bob.locator(`.pane[data-conv="${conv}"]`).getByTestId('sb-thread')), s, 'same items on both sides');
});

test('a reload restores the history', async () => {
  const { page } = chat;
  const before = await seqs(page.getByTestId('sb-messages'));
  const lines = await widgetLines(page);
  await page.reload();
  await openWidget(page);
  await until(async () => (await seqs(page.getByTestId('sb-messages'))).length >= before.length, 10_000, 'history back');
  assert.deepEqual(await seqs(page.getByTestId('sb-messages')), before);
  assert.deepEqual(await widgetLines(page), lines);
});

test('a transfer and an end show on both sides', async () => {
  const { page, conv } = chat;
  const carol = await consolePage(agentBrowser.context, site, engine, 'carol');
  const pane = bob.locator(`.pane[data-conv="${conv}"]`);
  await pane.getByTestId('sb-transfer').click();
  await pane.getByTestId('sb-transfer-to').fill('carol');
  await pane.getByTestId('sb-transfer-note').fill('Parcel question, order A-17');
  await pane.getByTestId('sb-transfer-confirm').click();
  const item = carol.locator(`[data-testid="sb-conv-item"][data-conv="${conv}"]`);
  await item.waitFor({ timeout: 10_000 });
  await item.click();
  const cpane = carol.locator(`.pane[data-conv="${conv}"]`);
  await cpane.getByTestId('sb-accept').click();
  await until(async () => (await paneLines(carol, conv)).includes('Parcel question, order A-17'), 10_000, 'carol has the history');
  await page.getByTestId('sb-messages').locator('.sb-sys', { hasText: 'Transferred to carol' }).waitFor({ timeout: 10_000 });
  await pane.locator('.sb-sys', { hasText: 'Transferred to carol' }).waitFor({ timeout: 10_000 });
  await pane.getByTestId('sb-conv-state').filter({ hasText: 'Transferred to carol' }).waitFor({ timeout: 10_000 });
  await bob.locator(`[data-testid="sb-conv-item"][data-conv="${conv}"][data-state="ended"]`).waitFor();
  await reply(carol, conv, 'Carol here, I will check.');
  await until(async () => (await widgetLines(page)).includes('Carol here, I will check.'), 10_000, 'carol speaks');
  await cpane.getByTestId('sb-end').click();
  await page.getByTestId('sb-messages').locator('.sb-sys', { hasText: 'Conversation ended' }).waitFor({ timeout: 10_000 });
  await cpane.getByTestId('sb-conv-state').filter({ hasText: 'Ended' }).waitFor({ timeout: 10_000 });
  await carol.close();
});

test('zh-CN strings render in the widget and the console', async () => {
  const page = await visitorPage(visitorBrowser.context, site, engine, 'v-zh', { lang: 'zh-CN' });
  assert.equal(await page.getByTestId('sb-open').getAttribute('aria-label'), '打开在线客服');
  await openWidget(page);
  await page.getByTestId('sb-status').filter({ hasText: '已连接' }).waitFor();
  assert.equal(await page.getByTestId('sb-send').textContent(), '发送');
  assert.equal(await page.getByTestId('sb-input').getAttribute('placeholder'), '输入消息');
  const zhConsole = await consolePage(agentBrowser.context, site, engine, 'dan', { lang: 'zh-CN' });
  await zhConsole.locator('h1', { hasText: '客服工作台' }).waitFor();
  await zhConsole.getByTestId('sb-status').filter({ hasText: '已连接' }).waitFor();
  await say(page, '你好，我想查一下订单');
  await page.getByTestId('sb-messages').locator('.sb-sys', { hasText: '已加入会话' }).waitFor({ timeout: 10_000 });
  await page.screenshot({ path: join(shots, 'widget-zh-CN.png') });
  await page.close();
  await zhConsole.close();
});

test('the widget and the console work at 360 px wide', async () => {
  const { page } = chat;
  await page.setViewportSize({ width: 360, height: 740 });
  // The panel is still open from the tests before (at 360 px it covers the bubble).
  await page.getByTestId('sb-input').waitFor();
  const box = await page.locator('.switchboard-widget').evaluate((h) => {
    const r = h.shadowRoot.querySelector('.sb-panel').getBoundingClientRect();
    return { left: r.left, right: r.right };
  });
  assert.ok(box.left >= 0 && box.right <= 360, `panel inside the viewport: ${JSON.stringify(box)}`);
  await page.screenshot({ path: join(shots, 'widget-360.png') });
  await bob.setViewportSize({ width: 360, height: 740 });
  await bob.screenshot({ path: join(shots, 'console-360.png'), fullPage: true });
  const list = await bob.getByTestId('sb-conv-list').boundingBox();
  assert.ok(list.width <= 360);
});
