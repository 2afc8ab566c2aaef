// Pages of other origins in a real (headless) Chromium: CORS for origins listed in
// http.cors_origins, refusals for the others, and go-gin-api's page flow (opened at localhost,
// a plain socket to 127.0.0.1 on the same port).
//
// Run:   cd tests/e2e && npm ci && WSHUB_BIN=../../build/dev/wshub node --test cors.test.mjs
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { chromium } from 'playwright-core';
import { httpJson, startServer, stopServer, wshubBin } from '../support/wshub_process.mjs';

const CHROMIUM_BIN = process.env.CHROMIUM_BIN || '/usr/bin/chromium';

/** A tiny page server on a free loopback port: every path answers an empty HTML page. */
function pageServer() {
  return new Promise((resolve) => {
    const srv = http.createServer((_req, res) => {
      res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' });
      res.end('<!doctype html><title>another origin</title><body></body>');
    });
    srv.listen(0, '127.0.0.1', () => resolve(srv));
  });
}

describe('pages of other origins', { timeout: 5 * 60_000 }, () => {
  let dataDir;
  let server;
  let base;
  let listed;    // page server whose origin is in http.cors_origins
  let unlisted;  // page server whose origin is not
  let browser;

  before(async () => {
    listed = await pageServer();
    unlisted = await pageServer();
    dataDir = await mkdtemp(path.join(os.tmpdir(), 'wshub-e2e-cors-'));
    const allowed = `http://127.0.0.1:${listed.address().port}`;
    server = await startServer(await wshubBin(), 0, dataDir, ['--http.cors_origins', allowed]);
    base = `http://127.0.0.1:${server.port}`;
    browser = await chromium.launch({
      executablePath: CHROMIUM_BIN,
      headless: true,
      timeout: 30_000,
      args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking',
        '--disable-component-update', '--disable-sync', '--disable-quic'],
    });
  }, { timeout: 60_000 });

  after(async () => {
    try { if (browser) await browser.close(); } catch (err) { console.error('closing browser:', err); }
    try { if (server && !server.exited) await stopServer(server); } catch (err) { console.error('stopping server:', err.message); }
    if (server && server.proc && server.exited === null) server.proc.kill('SIGKILL');
    for (const s of [listed, unlisted]) s?.close();
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  }, { timeout: 30_000 });

  /** fetch() from a page of `origin`: the status and body, or the error the browser raised. */
  async function fetchFrom(origin, url, init) {
    const page = await browser.newPage();
    try {
      await page.goto(`${origin}/`);
      return await page.evaluate(async ([u, i]) => {
        try {
          const r = await fetch(u, i);
          return { status: r.status, body: await r.text() };
        } catch (e) {
          return { error: String(e) };
        }
      }, [url, init]);
    } finally {
      await page.close();
    }
  }

  it('lets a listed origin publish and read with a preflighted request', async () => {
    const origin = `http://127.0.0.1:${listed.address().port}`;
    // application/json is not a "simple" content type: the browser sends a preflight first.
    const sent = await fetchFrom(origin, `${base}/api/tool/send_message`, {
      method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ message: 'via CORS' }),
    });
    assert.equal(sent.status, 200, JSON.stringify(sent));
    const id = JSON.parse(sent.body).id;
    const read = await fetchFrom(origin, `${base}/api/tool/messages?after=${id - 1}`, {});
    assert.equal(read.status, 200, JSON.stringify(read));
    assert.equal(JSON.parse(read.body).messages[0].message, 'via CORS');
  });

  it('blocks an origin that is not listed, and refuses its plain form post', async () => {
    const origin = `http://127.0.0.1:${unlisted.address().port}`;
    const before = (await httpJson(`${base}/api/tool/stats`)).body.messages_total;
    const sent = await fetchFrom(origin, `${base}/api/tool/send_message`, {
      method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ message: 'blocked' }),
    });
    assert.ok(sent.error, `the browser let an unlisted origin call: ${JSON.stringify(sent)}`);
    // A form needs no preflight: the browser sends it, the server refuses it (open publishing).
    const page = await browser.newPage();
    try {
      await page.goto(`${origin}/`);
      const [answer] = await Promise.all([
        page.waitForNavigation(),
        page.evaluate((action) => {
          const form = document.createElement('form');
          form.method = 'POST';
          form.action = action;
          const field = document.createElement('input');
          field.name = 'message';
          field.value = 'cross-site form';
          form.appendChild(field);
          document.body.appendChild(form);
          form.submit();
        }, `${base}/api/tool/send_message`),
      ]);
      assert.equal(answer.status(), 403);
      assert.equal(JSON.parse(await answer.text()).code, 10104);
    } finally {
      await page.close();
    }
    assert.equal((await httpJson(`${base}/api/tool/stats`)).body.messages_total, before, 'a refused publish was stored');
  });

  it('runs go-gin-api\'s page flow: opened at localhost, a plain socket to 127.0.0.1', async () => {
    const page = await browser.newPage();
    try {
      await page.goto(`http://localhost:${server.port}/tool/websocket`);
      // Like go-gin-api's page: no subprotocol, an address written for 127.0.0.1, text sent.
      const opened = await page.evaluate((url) => new Promise((resolve) => {
        const ws = new WebSocket(url);
        window.__frames = [];
        ws.onmessage = (e) => window.__frames.push(e.data);
        ws.onopen = () => { ws.send('hello from the page'); ws.send('{"type":"ping","ref":1}'); window.__ws = ws; resolve('open'); };
        ws.onclose = (e) => resolve(`closed ${e.code}`);
      }), `ws://127.0.0.1:${server.port}/socket/system/message`);
      assert.equal(opened, 'open');
      const sent = await httpJson(`${base}/api/tool/send_message`, { method: 'POST', body: new URLSearchParams({ message: 'to the page' }) });
      assert.equal(sent.status, 200, sent.text);
      await page.waitForFunction(() => window.__frames.length >= 1, null, { timeout: 15_000 });
      const frame = JSON.parse(await page.evaluate(() => window.__frames[0]));
      assert.equal(frame.message, 'to the page', 'the first frame is the message (no pong for the page\'s text)');
      assert.equal(frame.type, undefined);
      for (const field of ['id', 'channel', 'username', 'message', 'time', 'ts']) assert.ok(field in frame, field);
    } finally {
      await page.close();
    }
  });
});
