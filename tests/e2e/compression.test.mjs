// Compressed message frames (websocket.compression): the server deflates a message once and
// every client that negotiated permessage-deflate inflates it intact. The clients are real:
// a raw TCP socket that shows the frame as it is on the wire, Node's `ws`, Python's
// `websockets` (Debian's python3-websockets) and Debian's Chromium.
//
// Run:   cd tests/e2e && npm ci && WSHUB_BIN=../../build/dev/wshub node --test compression.test.mjs
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import { chromium } from 'playwright-core';
import WebSocket from 'ws';

const CHROMIUM_BIN = process.env.CHROMIUM_BIN || '/usr/bin/chromium';
const TIMEOUT_MS = 15_000;
const MIN_BYTES = 256;  // --websocket.compression_min_bytes below

// A message that deflates well and is far above the threshold, with non-ASCII text in it.
const BIG = 'wshub compresses this line once for every socket — ünïcødé ✓ '.repeat(40);

function startServer(bin, dataDir) {
  const proc = spawn(bin, ['--listen.port', '0', '--data-dir', dataDir, '--log.level', 'info',
    '--store.synchronous', 'normal', '--websocket.compression', 'true',
    '--websocket.compression_min_bytes', String(MIN_BYTES)], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no "listening on" line:\n${output}`)), TIMEOUT_MS);
    const onData = (chunk) => {
      output += chunk;
      const m = /listening on 127\.0\.0\.1:(\d+)/.exec(output);
      if (m) {
        clearTimeout(timer);
        resolve({ proc, port: Number(m[1]), output: () => output });
      }
    };
    proc.stdout.setEncoding('utf8').on('data', onData);
    proc.stderr.setEncoding('utf8').on('data', onData);
    proc.once('exit', (code) => { clearTimeout(timer); reject(new Error(`exited with ${code}:\n${output}`)); });
  });
}

async function publish(port, message) {
  const res = await fetch(`http://127.0.0.1:${port}/api/tool/send_message`, {
    method: 'POST', body: new URLSearchParams({ message }), signal: AbortSignal.timeout(TIMEOUT_MS),
  });
  const text = await res.text();
  assert.equal(res.status, 200, text);
  return JSON.parse(text).id;
}

// Message bytes the server has written to all sockets. Every socket of these tests negotiated
// permessage-deflate (a message is joined before its 101 goes out, so it reaches every open one),
// so one uncompressed copy of BIG alone would pass the bounds the tests check.
async function bytesSent(port) {
  const res = await fetch(`http://127.0.0.1:${port}/metrics`, { signal: AbortSignal.timeout(TIMEOUT_MS) });
  const m = /^wshub_bytes_sent_total (\d+)/m.exec(await res.text());
  assert.ok(m, 'wshub_bytes_sent_total is missing from /metrics');
  return Number(m[1]);
}

// A raw client: the upgrade offering permessage-deflate, then the server's frames byte by byte.
// Resolves with the 101's extension header and the first whole frame: fin, rsv1, opcode, payload.
function rawFirstFrame(port, onUpgraded) {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    const timer = setTimeout(() => { socket.destroy(); reject(new Error('no frame in time')); }, TIMEOUT_MS);
    let buf = Buffer.alloc(0);
    let extensions = null;
    socket.on('connect', () => socket.write(
      'GET /socket/system/message HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
      'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n' +
      'Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n\r\n'));
    socket.on('data', (chunk) => {
      buf = Buffer.concat([buf, chunk]);
      if (extensions === null) {
        const end = buf.indexOf('\r\n\r\n');
        if (end < 0) return;
        const head = buf.subarray(0, end).toString('latin1');
        if (!head.startsWith('HTTP/1.1 101')) return reject(new Error(head));
        extensions = /^sec-websocket-extensions: *(.*)$/im.exec(head)?.[1] ?? '';
        buf = buf.subarray(end + 4);
        onUpgraded();
      }
      if (buf.length < 2) return;
      let len = buf[1] & 0x7f;
      let at = 2;
      if (len === 126) { if (buf.length < 4) return; len = buf.readUInt16BE(2); at = 4; }
      else if (len === 127) { if (buf.length < 10) return; len = Number(buf.readBigUInt64BE(2)); at = 10; }
      if (buf.length < at + len) return;
      clearTimeout(timer);
      socket.destroy();
      resolve({ extensions, header: buf.subarray(0, at), fin: (buf[0] & 0x80) !== 0, rsv1: (buf[0] & 0x40) !== 0,
                opcode: buf[0] & 0x0f, payload: buf.subarray(at, at + len) });
    });
    socket.on('error', reject);
  });
}

function runPython(port) {
  // Python's websockets offers permessage-deflate by default and inflates what it receives.
  const script = `
import asyncio, json, sys
import websockets
async def main():
    async with websockets.connect("ws://127.0.0.1:${port}/socket/system/message", open_timeout=10) as ws:
        print(json.dumps({"ready": True, "extensions": [type(e).__name__ for e in ws.extensions]}), flush=True)
        frame = await asyncio.wait_for(ws.recv(), 10)
        print(json.dumps({"frame": frame}), flush=True)
asyncio.run(main())
`;
  // Debian's interpreter, where python3-websockets installs the module.
  const proc = spawn('/usr/bin/python3', ['-c', script], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  proc.stderr.setEncoding('utf8').on('data', (d) => { err += d; });
  const lines = [];
  let wake = null;
  proc.stdout.setEncoding('utf8').on('data', (d) => {
    out += d;
    let i;
    while ((i = out.indexOf('\n')) >= 0) { lines.push(JSON.parse(out.slice(0, i))); out = out.slice(i + 1); wake?.(); }
  });
  const exited = new Promise((resolve) => proc.once('exit', resolve));
  const next = async () => {
    const deadline = Date.now() + TIMEOUT_MS;
    while (lines.length === 0) {
      const code = await Promise.race([exited.then((c) => ({ c })), new Promise((r) => { wake = r; setTimeout(r, 500); })]);
      if (code && code.c !== undefined && lines.length === 0) throw new Error(`python exited ${code.c}: ${err}`);
      if (Date.now() > deadline) throw new Error(`python said nothing: ${err}`);
    }
    return lines.shift();
  };
  return { next, exited, kill: () => proc.kill('SIGKILL') };
}

describe('compressed message frames', () => {
  let server;
  let dir;

  before(async () => {
    assert.ok(process.env.WSHUB_BIN, 'WSHUB_BIN must name the wshub binary');
    dir = await mkdtemp(path.join(os.tmpdir(), 'wshub-deflate-'));
    server = await startServer(process.env.WSHUB_BIN, dir);
  });

  after(async () => {
    if (server) {
      server.proc.kill('SIGTERM');
      await new Promise((r) => server.proc.once('exit', r));
    }
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('goes out deflated with RSV1 set, as seen on the wire, and inflates to the JSON frame', async () => {
    let upgraded;
    const ready = new Promise((r) => { upgraded = r; });
    const frame = rawFirstFrame(server.port, () => upgraded());
    await ready;
    const id = await publish(server.port, BIG);
    const f = await frame;
    assert.match(f.extensions, /permessage-deflate/);
    assert.match(f.extensions, /server_no_context_takeover/);
    assert.ok(f.fin && f.rsv1, `first byte ${f.header[0].toString(16)}: FIN and RSV1 expected`);
    assert.equal(f.opcode, 1);
    const text = zlib.inflateRawSync(Buffer.concat([f.payload, Buffer.from([0, 0, 0xff, 0xff])]),
      { finishFlush: zlib.constants.Z_SYNC_FLUSH }).toString('utf8');
    const json = JSON.parse(text);
    assert.equal(json.id, id);
    assert.equal(json.message, BIG);
    assert.ok(f.payload.length < Buffer.byteLength(text) / 4, `${f.payload.length} deflated bytes for ${Buffer.byteLength(text)}`);
    console.log(`on the wire: header ${f.header.toString('hex')} (FIN=1 RSV1=${f.rsv1 ? 1 : 0} opcode=${f.opcode}), ` +
                `${f.payload.length} deflated bytes for ${Buffer.byteLength(text)} of JSON; ` +
                `first deflated bytes: ${f.payload.subarray(0, 24).toString('hex')}`);
  });

  it('small frames below compression_min_bytes go out as they are', async () => {
    let upgraded;
    const ready = new Promise((r) => { upgraded = r; });
    const frame = rawFirstFrame(server.port, () => upgraded());
    await ready;
    await publish(server.port, 'hi');
    const f = await frame;
    assert.ok(f.payload.length < MIN_BYTES);
    assert.equal(f.rsv1, false);
    assert.equal(JSON.parse(f.payload.toString('utf8')).message, 'hi');
  });

  it('Node ws inflates it intact', async () => {
    const ws = new WebSocket(`ws://127.0.0.1:${server.port}/socket/system/message`);
    const opened = new Promise((resolve, reject) => { ws.once('open', resolve); ws.once('error', reject); });
    const received = new Promise((resolve) => ws.once('message', (data) => resolve(data.toString('utf8'))));
    await opened;
    assert.match(ws.extensions, /permessage-deflate/);
    const before = await bytesSent(server.port);
    const id = await publish(server.port, BIG);
    const json = JSON.parse(await received);
    assert.equal(json.id, id);
    assert.equal(json.message, BIG);
    ws.close();
    const sent = (await bytesSent(server.port)) - before;
    assert.ok(sent < Buffer.byteLength(BIG), `${sent} bytes written for a ${Buffer.byteLength(BIG)}-byte message`);
  });

  it('Python websockets inflates it intact', async () => {
    const py = runPython(server.port);
    try {
      const hello = await py.next();
      assert.ok(hello.ready);
      assert.ok(hello.extensions.some((e) => /Deflate/i.test(e)), `extensions: ${hello.extensions}`);
      const before = await bytesSent(server.port);
      const id = await publish(server.port, BIG);
      const json = JSON.parse((await py.next()).frame);
      assert.equal(json.id, id);
      assert.equal(json.message, BIG);
      const sent = (await bytesSent(server.port)) - before;
      assert.ok(sent < Buffer.byteLength(BIG), `${sent} bytes written for a ${Buffer.byteLength(BIG)}-byte message`);
      assert.equal(await py.exited, 0);
    } finally {
      py.kill();
    }
  });

  it('Chromium inflates it intact', async () => {
    const browser = await chromium.launch({ executablePath: CHROMIUM_BIN, args: ['--no-sandbox'] });
    try {
      const page = await browser.newPage();
      // The page is the server's own, so the socket is same-origin.
      await page.goto(`http://127.0.0.1:${server.port}/`);
      await page.evaluate(() => new Promise((resolve, reject) => {
        const ws = new WebSocket(`ws://${location.host}/socket/system/message`);
        window.received = new Promise((r) => { ws.onmessage = (e) => r(e.data); });
        ws.onopen = () => resolve(ws.extensions);
        ws.onerror = () => reject(new Error('socket error'));
        window.socket = ws;
      })).then((extensions) => assert.match(extensions, /permessage-deflate/));
      const before = await bytesSent(server.port);
      const id = await publish(server.port, BIG);
      const json = JSON.parse(await page.evaluate(() => window.received));
      assert.equal(json.id, id);
      assert.equal(json.message, BIG);
      const sent = (await bytesSent(server.port)) - before;
      assert.ok(sent < Buffer.byteLength(BIG), `${sent} bytes written for a ${Buffer.byteLength(BIG)}-byte message`);
    } finally {
      await browser.close();
    }
  });
});
