// End-to-end test of the wshub toolbox page in a real (headless) Chromium.
//
// Run:   cd tests/e2e && npm ci && WSHUB_BIN=../../build/dev/wshub npm test
//
// Needs: the wshub binary (env WSHUB_BIN) and Debian's chromium at /usr/bin/chromium
// (apt-get install -y chromium; another path may be given with env CHROMIUM_BIN).
// No browser is ever downloaded: playwright-core only drives the installed one.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { access, mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { constants as fsConstants } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { httpJson, startServer, stopServer, wshubBin } from '../support/wshub_process.mjs';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const WEB_DIR = path.resolve(HERE, '..', '..', 'web');
const ARTIFACTS = path.join(HERE, 'artifacts');
const CHROMIUM_BIN = process.env.CHROMIUM_BIN || '/usr/bin/chromium';

const UI_TIMEOUT_MS = 15_000;      // default for every Playwright wait
const RECONNECT_TIMEOUT_MS = 40_000; // backoff is capped at 10 s, allow a few tries
const TEST_TIMEOUT_MS = 90_000;

// ------------------------------------------------------------------ helpers

function publish(base, fields, headers = {}) {
  return httpJson(`${base}/api/tool/send_message`, {
    method: 'POST',
    headers, // fetch sets application/x-www-form-urlencoded for URLSearchParams
    body: new URLSearchParams(fields),
  });
}

async function stats(base) {
  const r = await httpJson(`${base}/api/tool/stats`);
  assert.equal(r.status, 200, `GET /api/tool/stats: HTTP ${r.status} ${r.text}`);
  assert.ok(r.body && typeof r.body === 'object', `stats is not JSON: ${r.text}`);
  return r.body;
}

/** Waits until the page's timeline shows message `id`, returns what the item shows. */
async function timelineItem(page, id, timeout = UI_TIMEOUT_MS) {
  const li = page.locator(`#timeline li[data-id="${id}"]`);
  await li.first().waitFor({ state: 'visible', timeout });
  assert.equal(await li.count(), 1, `message ${id} is shown more than once`);
  return {
    text: await li.innerText(),
    channel: await li.getAttribute('data-channel'),
    body: await li.locator('[data-testid="msg-body"]').textContent(),
    idText: await li.locator('[data-testid="msg-id"]').textContent(),
    channelText: await li.locator('[data-testid="msg-channel"]').textContent(),
  };
}

async function waitState(page, state, timeout = UI_TIMEOUT_MS) {
  await page.locator(`#conn-state[data-state="${state}"]`).waitFor({ state: 'attached', timeout });
}

/** Records every value #conn-state[data-state] takes from now on, in window.__e2eStates. */
async function recordStates(page) {
  await page.evaluate(() => {
    const el = document.getElementById('conn-state');
    window.__e2eStates = [el.dataset.state];
    if (window.__e2eObserver) window.__e2eObserver.disconnect();
    window.__e2eObserver = new MutationObserver(() => {
      const s = el.dataset.state;
      if (window.__e2eStates[window.__e2eStates.length - 1] !== s) window.__e2eStates.push(s);
    });
    window.__e2eObserver.observe(el, { attributes: true, attributeFilter: ['data-state'] });
  });
}

async function ids(page) {
  return page.locator('#timeline li[data-id]').evaluateAll((els) => els.map((e) => Number(e.dataset.id)));
}

// ------------------------------------------------------------------ the test

describe('wshub toolbox page', { timeout: 10 * 60_000 }, () => {
  let bin;
  let dataDir;
  let server;       // current ServerRun
  let port;
  let base;
  let browser;
  const pages = []; // [pageA, pageB]
  const pageErrors = [];
  const sendRequests = []; // POSTs to send_message made by page A
  let lastPublishedId = 0;

  before(async () => {
    bin = await wshubBin();
    try {
      await access(CHROMIUM_BIN, fsConstants.X_OK);
    } catch {
      throw new Error(`no Chromium at ${CHROMIUM_BIN}: install it with "apt-get install -y chromium" (or set CHROMIUM_BIN)`);
    }
    await mkdir(ARTIFACTS, { recursive: true });
    dataDir = await mkdtemp(path.join(os.tmpdir(), 'wshub-e2e-data-'));

    server = await startServer(bin, 0, dataDir);
    port = server.port;
    assert.ok(port > 0, 'server printed a port');
    base = `http://127.0.0.1:${port}`;

    // Playwright refuses --user-data-dir in args (it would need launchPersistentContext,
    // which gives only one context). Without it, Playwright starts the browser with a
    // fresh temporary profile of its own and deletes it on close: that is what we want.
    browser = await chromium.launch({
      executablePath: CHROMIUM_BIN,
      headless: true,
      timeout: 30_000,
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
        '--disable-quic',
      ],
    });
  }, { timeout: 60_000 });

  after(async () => {
    // Runs even when a test failed: close the browser, stop the server, clean up.
    try { if (browser) await browser.close(); } catch (err) { console.error('closing browser:', err); }
    try {
      if (server && !server.exited) await stopServer(server);
    } catch (err) {
      console.error('stopping server:', err.message);
    }
    if (server && server.proc && server.exited === null) server.proc.kill('SIGKILL');
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  }, { timeout: 30_000 });

  it('serves the page and its files from web/', { timeout: TEST_TIMEOUT_MS }, async () => {
    for (const [url, file, type] of [
      ['/', 'index.html', /text\/html/],
      ['/tool/websocket', 'index.html', /text\/html/],
      ['/web/app.js', 'app.js', /javascript/],
      ['/web/style.css', 'style.css', /text\/css/],
      ['/web/wshub.js', '../clients/js/wshub.js', /javascript/],  // the JS client the page imports
    ]) {
      const res = await fetch(base + url, { signal: AbortSignal.timeout(10_000) });
      assert.equal(res.status, 200, `GET ${url}: HTTP ${res.status}`);
      assert.match(res.headers.get('content-type') || '', type, `GET ${url}: content-type`);
      const served = await res.text();
      const onDisk = await readFile(path.join(WEB_DIR, file), 'utf8');
      assert.ok(served === onDisk,
        `GET ${url} differs from web/${file}: the binary embeds an older copy (rebuild the server)`);
      if (url === '/') assert.match(served, /<script type="module" src="\/web\/app.js">/);
      if (url === '/web/app.js') assert.match(served, /^import \{ WshubClient \} from '\.\/wshub\.js';$/m, 'the page uses the client');
    }
  });

  it('opens the page in two browser contexts and both connect', { timeout: TEST_TIMEOUT_MS }, async () => {
    for (const url of ['/tool/websocket', '/']) {
      const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
      context.setDefaultTimeout(UI_TIMEOUT_MS);
      const page = await context.newPage();
      page.on('pageerror', (err) => pageErrors.push(`${url}: ${err.message}`));
      await page.goto(base + url, { waitUntil: 'load' });
      pages.push(page);
    }
    const [pageA] = pages;
    pageA.on('request', (req) => {
      if (new URL(req.url()).pathname === '/api/tool/send_message') sendRequests.push(req.method());
    });
    for (const page of pages) {
      await waitState(page, 'open');
      assert.equal((await page.locator('#conn-state').textContent()).trim(), 'open');
      assert.equal(await page.locator('#conn-url').textContent(), `ws://127.0.0.1:${port}/socket/system/message`);
      assert.notEqual((await page.locator('#conn-since').textContent()).trim(), '', 'time of the last state change');
    }
    // The status strip polls /api/tool/stats: both sockets show up.
    await pageA.waitForFunction(() => Number(document.getElementById('stats-connections').textContent) >= 2,
      null, { timeout: UI_TIMEOUT_MS });
    assert.match(await pageA.locator('#stats-rate').textContent(), /^\d+(\.\d+)?$/);
  });

  it('sends from the form (Enter sends, Shift+Enter is a newline) and both timelines show it',
    { timeout: TEST_TIMEOUT_MS }, async () => {
      const [pageA, pageB] = pages;
      const line1 = `from page A ${Date.now()} <b>not bold</b> & "quoted"`;
      const line2 = 'second line';
      const message = pageA.locator('#message');
      await message.click();
      await message.pressSequentially(line1, { delay: 0 });
      await message.press('Shift+Enter');
      await message.pressSequentially(line2, { delay: 0 });
      assert.equal(await message.inputValue(), `${line1}\n${line2}`, 'Shift+Enter inserts a newline');
      assert.equal(sendRequests.length, 0, 'Shift+Enter does not send');
      await message.press('Enter');

      const result = pageA.locator('#send-result[data-status="ok"]');
      await result.waitFor({ timeout: UI_TIMEOUT_MS });
      const id = Number(await result.getAttribute('data-id'));
      assert.ok(Number.isInteger(id) && id > 0, `send result shows an id: ${await result.textContent()}`);
      const resultText = await result.textContent();
      assert.match(resultText, new RegExp(`id ${id}\\b`));
      assert.match(resultText, /recipients \d+/);
      assert.ok(Number(await result.getAttribute('data-recipients')) >= 2, `recipients >= 2: ${resultText}`);
      assert.equal(await message.inputValue(), '', 'the textarea is cleared after a successful send');
      assert.equal(sendRequests.length, 1);

      for (const page of pages) {
        const item = await timelineItem(page, id);
        assert.equal(item.body, `${line1}\n${line2}`, 'message text shown as text (escaped)');
        assert.equal(item.channel, 'system');
        assert.match(item.channelText, /system/);
        assert.match(item.idText, new RegExp(`\\b${id}\\b`));
        assert.match(item.text, /\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}/, 'shows the time');
        assert.equal(await page.locator('#timeline b').count(), 0, 'markup in a message is not rendered');
      }
      assert.equal(await pageB.locator('#timeline li[data-id]').first().getAttribute('data-id'), String(id));
      lastPublishedId = id;
    });

  it('shows a message published with a plain HTTP POST in both timelines', { timeout: TEST_TIMEOUT_MS }, async () => {
    const text = `from node ${Date.now()}`;
    const r = await publish(base, { message: text, channel: 'system' });
    assert.equal(r.status, 200, `POST send_message: HTTP ${r.status} ${r.text}`);
    assert.equal(r.body && r.body.status, 'OK', `answer: ${r.text}`);
    assert.ok(Number.isInteger(r.body.id) && r.body.id > lastPublishedId, `id grows: ${r.text}`);
    assert.ok(r.body.recipients >= 2, `both pages are recipients: ${r.text}`);
    for (const page of pages) {
      const item = await timelineItem(page, r.body.id);
      assert.equal(item.body, text);
      assert.equal(item.channel, 'system');
      // newest first
      assert.equal(await page.locator('#timeline li[data-id]').first().getAttribute('data-id'), String(r.body.id));
    }
    lastPublishedId = r.body.id;
  });

  it('refuses an empty message on the page without a request', { timeout: TEST_TIMEOUT_MS }, async () => {
    const [pageA] = pages;
    const before = await stats(base);
    const requestsBefore = sendRequests.length;
    await pageA.locator('#message').fill('   \n\t  ');
    await pageA.locator('#send').click();
    const hint = pageA.locator('#message-hint');
    await hint.waitFor({ state: 'visible', timeout: UI_TIMEOUT_MS });
    assert.match(await hint.textContent(), /empty|type a message/i);
    assert.equal(await pageA.locator('#message').getAttribute('aria-invalid'), 'true');
    // The previous "Sent: id …" is gone: it would read as the answer to this attempt.
    assert.equal(await pageA.locator('#send-result').getAttribute('data-status'), null);
    assert.equal((await pageA.locator('#send-result').textContent()).trim(), '');
    // Keyboard path too: Enter in the textarea.
    await pageA.locator('#message').press('Enter');
    // Any request the page made would have been sent by now; also the server's count:
    // a round trip through the page's own event loop first, so nothing is in flight.
    await pageA.evaluate(() => new Promise((r) => setTimeout(r, 0)));
    assert.equal(sendRequests.length, requestsBefore, 'no request for an empty message');
    const after = await stats(base);
    assert.equal(after.messages_total, before.messages_total, 'messages_total unchanged');
    // The hint goes away once there is text.
    await pageA.locator('#message').fill('x');
    await hint.waitFor({ state: 'hidden', timeout: UI_TIMEOUT_MS });
    await pageA.locator('#message').fill('');
  });

  it('shows the server\'s error for an invalid channel', { timeout: TEST_TIMEOUT_MS }, async () => {
    const [pageA] = pages;
    const channel = 'x'.repeat(300);
    const direct = await publish(base, { message: 'bad channel', channel });
    assert.ok(!direct.ok, `server accepted a 300-character channel (HTTP ${direct.status} ${direct.text})`);
    assert.ok(direct.body && typeof direct.body.message === 'string', `error body is JSON {code,message}: ${direct.text}`);

    await pageA.locator('#channel').fill(channel);
    await pageA.locator('#message').fill('bad channel');
    await pageA.locator('#send').click();
    const result = pageA.locator('#send-result[data-status="error"]');
    await result.waitFor({ timeout: UI_TIMEOUT_MS });
    const text = await result.textContent();
    assert.ok(text.includes(direct.body.message), `page shows the server's message "${direct.body.message}": ${text}`);
    if (direct.body.code !== undefined) assert.ok(text.includes(String(direct.body.code)), `page shows the code: ${text}`);
    assert.ok(text.includes(String(direct.status)), `page shows the HTTP status: ${text}`);
    await pageA.locator('#channel').fill('system');
  });

  it('shows the server\'s error for a message over 70 KiB (413)', { timeout: TEST_TIMEOUT_MS }, async () => {
    const [pageA] = pages;
    const big = 'a'.repeat(71 * 1024);
    const direct = await publish(base, { message: big, channel: 'system' });
    assert.equal(direct.status, 413, `a ${big.length}-byte message: HTTP ${direct.status} ${direct.text.slice(0, 200)}`);
    await pageA.locator('#message').fill(big);
    await pageA.locator('#send').click();
    const result = pageA.locator('#send-result[data-status="error"]');
    await result.waitFor({ timeout: UI_TIMEOUT_MS });
    const text = await result.textContent();
    assert.match(text, /413/);
    if (direct.body && direct.body.message) {
      assert.ok(text.includes(direct.body.message), `page shows "${direct.body.message}": ${text}`);
    }
    await pageA.locator('#message').fill('');
  });

  it('reconnects after a server restart, resumes and shows new messages', { timeout: 3 * TEST_TIMEOUT_MS }, async () => {
    const idsBefore = await Promise.all(pages.map(ids));
    for (const page of pages) await recordStates(page);

    const exit = await stopServer(server);
    assert.deepEqual(exit, { code: 0, signal: null }, `SIGTERM stops the server with exit 0; output:\n${server.tail(10)}`);

    // Both pages notice and start reconnecting while the server is down.
    for (const page of pages) {
      await page.waitForFunction(() => window.__e2eStates.includes('reconnecting'), null, { timeout: UI_TIMEOUT_MS });
    }

    server = await startServer(bin, port, dataDir);
    assert.equal(server.port, port, 'restarted on the same port');

    for (const page of pages) {
      await page.waitForFunction(() => {
        const s = window.__e2eStates;
        const i = s.indexOf('reconnecting');
        return i >= 0 && s.indexOf('open', i) > i && document.getElementById('conn-state').dataset.state === 'open';
      }, null, { timeout: RECONNECT_TIMEOUT_MS });
      // It resumes from the newest message it saw, on the channel the server welcomed it to.
      const url = await page.locator('#conn-url').textContent();
      assert.match(url, new RegExp(`^ws://127\\.0\\.0\\.1:${port}/socket/system/message\\?channel=system&last_id=${lastPublishedId}$`));
    }

    const text = `after restart ${Date.now()}`;
    const r = await publish(base, { message: text, channel: 'system' });
    assert.equal(r.status, 200, `POST after restart: HTTP ${r.status} ${r.text}`);
    assert.ok(r.body.id > lastPublishedId,
      `ids go on after a restart with the same data dir: got ${r.body.id} after ${lastPublishedId}`);
    for (const [i, page] of pages.entries()) {
      const item = await timelineItem(page, r.body.id, UI_TIMEOUT_MS);
      assert.equal(item.body, text);
      const now = await ids(page);
      assert.equal(new Set(now).size, now.length, `no message shown twice: ${now}`);
      for (const id of idsBefore[i]) assert.ok(now.includes(id), `message ${id} from before the restart is still shown`);
    }
    lastPublishedId = r.body.id;
  });

  it('watches and stops watching channels with the picker (subscribe/unsubscribe)', { timeout: TEST_TIMEOUT_MS }, async () => {
    const [pageA, pageB] = pages;
    const chip = (page, c) => page.locator(`#watched li[data-channel="${c}"]`);
    await chip(pageA, 'system').waitFor({ timeout: UI_TIMEOUT_MS });
    assert.equal(await chip(pageA, 'system').locator('[data-testid="unwatch"]').isDisabled(), true,
      'the last channel cannot be removed');

    await pageA.locator('#watch-channel').fill('news');
    await pageA.locator('#watch').click();
    await chip(pageA, 'news').waitFor({ timeout: UI_TIMEOUT_MS });
    await pageA.locator('#watch-result[data-status="ok"]').waitFor({ timeout: UI_TIMEOUT_MS });
    assert.equal(await pageA.locator('#watch-channel').inputValue(), '');
    assert.match(await pageA.evaluate(() => location.search), /channel=system&channel=news/, 'the page URL keeps the channels');

    // A message on news reaches page A only; B, on system alone, gets the next system message
    // (in id order, so the news one would have come first).
    const onNews = await publish(base, { message: 'news for A', channel: 'news' });
    const onSystem = await publish(base, { message: 'system for both', channel: 'system' });
    assert.equal((await timelineItem(pageA, onNews.body.id)).channel, 'news');
    await timelineItem(pageB, onSystem.body.id);
    assert.equal(await pageB.locator(`#timeline li[data-id="${onNews.body.id}"]`).count(), 0, 'B does not watch news');
    await timelineItem(pageA, onSystem.body.id);

    // A name the server refuses: its error, with the code, and no chip.
    await pageA.locator('#watch-channel').fill('bad channel!');
    await pageA.locator('#watch').click();
    const refused = pageA.locator('#watch-result[data-status="error"]');
    await refused.waitFor({ timeout: UI_TIMEOUT_MS });
    assert.match(await refused.textContent(), /10103/);
    assert.equal(await pageA.locator('#watched li').count(), 2);
    await pageA.screenshot({ path: path.join(ARTIFACTS, 'toolbox-channels.png') });

    // Stop watching news: the next news message does not reach A.
    await chip(pageA, 'news').locator('[data-testid="unwatch"]').click();
    await chip(pageA, 'news').waitFor({ state: 'detached', timeout: UI_TIMEOUT_MS });
    const late = await publish(base, { message: 'news after unwatch', channel: 'news' });
    const marker = await publish(base, { message: 'system after unwatch', channel: 'system' });
    await timelineItem(pageA, marker.body.id);
    assert.equal(await pageA.locator(`#timeline li[data-id="${late.body.id}"]`).count(), 0, 'unsubscribed from news');
    lastPublishedId = marker.body.id;
  });

  it('shows the latest stored messages of the watched channels when the page opens', { timeout: TEST_TIMEOUT_MS }, async () => {
    const stored = [];
    for (let i = 0; i < 3; i++) stored.push((await publish(base, { message: `stored ${i}`, channel: 'hist' })).body.id);
    const other = (await publish(base, { message: 'not watched', channel: 'elsewhere' })).body.id;
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    context.setDefaultTimeout(UI_TIMEOUT_MS);
    try {
      const page = await context.newPage();
      page.on('pageerror', (err) => pageErrors.push(`history: ${err.message}`));
      await page.goto(base + '/?channel=hist', { waitUntil: 'load' });
      await waitState(page, 'open');
      for (const id of stored) assert.equal((await timelineItem(page, id)).channel, 'hist');
      assert.deepEqual(await ids(page), [...stored].reverse(), 'newest first, nothing else');
      assert.equal(await page.locator(`#timeline li[data-id="${other}"]`).count(), 0);
      assert.deepEqual(await page.locator('#watched li').evaluateAll((els) => els.map((e) => e.dataset.channel)), ['hist']);
      await page.screenshot({ path: path.join(ARTIFACTS, 'toolbox-history.png') });
    } finally {
      await context.close();
    }
  });

  it('is usable by keyboard at phone width, where Enter is a newline; screenshots', { timeout: TEST_TIMEOUT_MS }, async () => {
    const [pageA] = pages;
    await pageA.locator('#send-result').scrollIntoViewIfNeeded();
    await pageA.screenshot({ path: path.join(ARTIFACTS, 'toolbox.png') });

    const context = await browser.newContext({ viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true });
    context.setDefaultTimeout(UI_TIMEOUT_MS);
    try {
      const page = await context.newPage();
      page.on('pageerror', (err) => pageErrors.push(`phone: ${err.message}`));
      await page.goto(base + '/', { waitUntil: 'load' });
      await waitState(page, 'open');
      // Single column: the form is below the timeline, not beside it.
      const tl = await page.locator('.timeline-panel').boundingBox();
      const form = await page.locator('.send-panel').boundingBox();
      assert.ok(form.y >= tl.y + tl.height - 1, `single column at 390px: timeline ${JSON.stringify(tl)} form ${JSON.stringify(form)}`);
      const width = await page.evaluate(() => document.documentElement.scrollWidth);
      assert.ok(width <= 390, `no horizontal scrolling at 390px (scrollWidth ${width})`);

      // Keyboard only: Tab reaches the form fields in order, with a visible focus ring.
      const order = [];
      for (let i = 0; i < 15 && !order.includes('send'); i++) {
        await page.keyboard.press('Tab');
        const f = await page.evaluate(() => {
          const a = document.activeElement;
          const cs = getComputedStyle(a);
          return { id: a.id, outline: cs.outlineStyle !== 'none' && parseFloat(cs.outlineWidth) > 0 };
        });
        if (['message', 'channel', 'api-key', 'send'].includes(f.id)) {
          order.push(f.id);
          assert.ok(f.outline, `visible focus on #${f.id}`);
        }
      }
      assert.deepEqual(order, ['message', 'channel', 'api-key', 'send']);
      // No Shift key on a phone: Enter types a newline; the Send button sends.
      assert.match(await page.locator('#message-help').textContent(), /Enter starts a new line/);
      const text = `from the phone ${Date.now()}`;
      await page.locator('#message').fill(text);
      await page.locator('#message').press('Enter');
      await page.locator('#message').pressSequentially('line 2', { delay: 0 });
      assert.equal(await page.locator('#message').inputValue(), `${text}\nline 2`);
      assert.equal(await page.locator('#send-result').getAttribute('data-status'), null, 'Enter did not send');
      await page.locator('#send').focus();
      await page.keyboard.press('Enter');
      const result = page.locator('#send-result[data-status="ok"]');
      await result.waitFor({ timeout: UI_TIMEOUT_MS });
      await timelineItem(page, Number(await result.getAttribute('data-id')));
      await page.screenshot({ path: path.join(ARTIFACTS, 'toolbox-phone.png'), fullPage: true });
    } finally {
      await context.close();
    }
  });

  it('raised no script errors on the pages', () => {
    assert.deepEqual(pageErrors, []);
  });
});
