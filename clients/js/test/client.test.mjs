// The JS client against a real wshub binary ($WSHUB_BIN) on a free loopback port, with the `ws`
// package as the WebSocket (Node 20 has no global one).
//
// Run:   cd clients/js && npm ci && WSHUB_BIN=../../build/dev/wshub npm test
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import WebSocket from 'ws';
import { WshubClient, WshubError, tokenExpiry } from '../wshub.js';
import { eventually, httpJson, killServer, startServer, stopServer, wshubBin } from '../../../tests/support/wshub_process.mjs';

const SECRET = 'a-test-secret-of-at-least-32-characters!';

/** An HS256 JWT signed with SECRET. */
function makeToken(claims) {
  const enc = (o) => Buffer.from(JSON.stringify(o)).toString('base64url');
  const head = `${enc({ alg: 'HS256', typ: 'JWT' })}.${enc(claims)}`;
  return `${head}.${createHmac('sha256', SECRET).update(head).digest('base64url')}`;
}
const nowSeconds = () => Math.floor(Date.now() / 1000);

/** A ws WebSocket that remembers its instances, so a test can pause a socket's reading. */
function recordingWebSocket() {
  const sockets = [];
  class Recording extends WebSocket {
    constructor(...args) {
      super(...args);
      sockets.push(this);
    }
  }
  return { Recording, sockets };
}

/** What the application saw: ids in arrival order, repeats, states, errors. */
function watch(client) {
  const seen = { ids: [], set: new Set(), repeats: 0, states: [], errors: [], resumes: [] };
  client.on('message', (m) => {
    if (seen.set.has(m.id)) seen.repeats += 1;
    seen.set.add(m.id);
    seen.ids.push(m.id);
  });
  client.on('state', (s) => seen.states.push(s));
  client.on('error', (e) => seen.errors.push(e));
  client.on('resume', (r) => seen.resumes.push(r));
  return seen;
}

function assertInOrder(ids) {
  for (let i = 1; i < ids.length; i++) assert.ok(ids[i] > ids[i - 1], `ids in increasing order at ${i}: ${ids[i - 1]} then ${ids[i]}`);
}

describe('wshub JS client against a real server', { timeout: 5 * 60_000 }, () => {
  let bin;
  const dirs = [];
  const runs = [];

  async function server(args = [], port = 0, dir = undefined) {
    if (!dir) {
      dir = await mkdtemp(path.join(os.tmpdir(), 'wshub-client-'));
      dirs.push(dir);
    }
    const run = await startServer(bin, port, dir, args);
    run.dataDir = dir;
    runs.push(run);
    return run;
  }

  // Every client a test makes, closed at the end even when the test failed (its timers would
  // keep the process alive).
  const clients = [];
  const track = (client) => { clients.push(client); return client; };

  before(async () => { bin = await wshubBin(); });
  after(async () => {
    for (const client of clients) client.close();
    for (const run of runs) await stopServer(run).catch(() => killServer(run));
    for (const dir of dirs) await rm(dir, { recursive: true, force: true });
  });

  it('delivers every acknowledged id exactly once and in order while the server is killed and restarted mid-stream',
    { timeout: 3 * 60_000 }, async () => {
      let run = await server();
      const { port, dataDir } = run;
      const base = run.base;
      const client = track(new WshubClient({ url: base, channels: ['stream'], WebSocket, minDelay: 50, maxDelay: 1000 }));
      const seen = watch(client);
      await client.connect();

      // The publisher: a bounded number of messages, each retried until acknowledged (the server
      // is down for a while); `acked` holds the ids the server acknowledged.
      const total = 600;
      const acked = [];
      let failures = 0;
      const publisher = (async () => {
        const pub = track(new WshubClient({ url: base, WebSocket }));
        for (let n = 0; n < total; n++) {
          for (let tries = 0; ; tries++) {
            assert.ok(tries < 2000, `message ${n} was never acknowledged`);
            try {
              const r = await pub.publish({ message: `n=${n}`, channel: 'stream' });
              acked.push(r.id);
              break;
            } catch {
              failures += 1;  // the server is restarting: try again shortly
              await new Promise((r) => setTimeout(r, 20));
            }
          }
        }
      })();

      // Two restarts while it publishes: a crash (SIGKILL) and a graceful stop (SIGTERM, 1001).
      for (const [at, stop] of [[150, killServer], [350, stopServer]]) {
        await eventually(() => acked.length >= at, { timeout: 60_000, what: `${at} acknowledged messages` });
        await stop(run);
        run = await server([], port, dataDir);
        assert.equal(run.port, port, 'restarted on the same port');
      }
      await publisher;
      const last = acked[acked.length - 1];
      await eventually(() => client.lastId >= last, { timeout: 60_000, what: `the client to reach id ${last}` });
      client.close();

      assertInOrder(seen.ids);
      for (const id of acked) assert.ok(seen.set.has(id), `acknowledged id ${id} reached the application`);
      assert.equal(seen.repeats, 0, 'no id delivered twice');
      assert.equal(client.stats.delivered, seen.ids.length);
      const reconnects = seen.states.filter((s) => s.state === 'reconnecting' && s.code !== undefined).length;
      assert.ok(reconnects >= 2, `reconnected after each restart (${reconnects})`);
      assert.ok(seen.states.some((s) => s.code === 1001), 'the graceful stop closed with 1001');
      assert.ok(seen.resumes.every((r) => r.recovered), 'every resume recovered everything');
      console.log(`[client] exactly-once across 2 restarts: ${acked.length} acknowledged messages, ${seen.ids.length} delivered ` +
        `(${seen.ids.length - acked.length} committed but unacknowledged), ${client.stats.reconnects} reconnection attempts ` +
        `(${reconnects} after a close), ${failures} failed publish tries, duplicates seen by the application ${seen.repeats}, ` +
        `repeats dropped by the client ${client.stats.duplicates}`);
    });

  it('subscribes and unsubscribes with promises settled by ack, and re-subscribes after a reconnect', async () => {
    const run = await server();
    const client = track(new WshubClient({ url: run.base, channels: ['a'], WebSocket, minDelay: 50 }));
    const seen = watch(client);
    await client.connect();
    await client.subscribe('b');
    assert.deepEqual(client.channels.sort(), ['a', 'b']);
    const b1 = await client.publish({ message: 'to b', channel: 'b' });
    await eventually(() => seen.set.has(b1.id), { what: 'the message on b' });

    // The operator closes the socket (4001): the client reconnects with both channels.
    const list = await httpJson(`${run.base}/api/tool/connections`);
    const id = client.connId;
    assert.ok(list.body.connections.some((c) => c.id === id && c.protocol === 'wshub.v1'), list.text);
    assert.equal((await httpJson(`${run.base}/api/tool/connections/${id}`, { method: 'DELETE' })).status, 200);
    await eventually(() => client.connId !== id && client.state === 'open', { what: 'the reconnection' });
    assert.ok(seen.states.some((s) => s.code === 4001), 'closed with 4001');
    const b2 = await client.publish({ message: 'to b again', channel: 'b' });
    await eventually(() => seen.set.has(b2.id), { what: 'the message on b after the reconnect' });

    await client.unsubscribe('b');
    assert.deepEqual(client.channels, ['a']);
    const a = await client.publish({ message: 'to a and b', channels: ['b', 'a'] });
    await eventually(() => seen.set.has(a.id), { what: 'the message on a' });
    await assert.rejects(client.unsubscribe('nope').then(() => { throw new Error('resolved'); }), /resolved/,
      'unsubscribing from a channel it does not have resolves at once');
    // Unsubscribed while the subscription is in flight: the promise rejects and the server's
    // subscription is undone (the next message on x does not come; the later one on a does).
    const racing = client.subscribe('x');
    await client.unsubscribe('x');
    await assert.rejects(racing, /unsubscribed/);
    // The server takes a socket's commands in order: once y's subscribe and unsubscribe are
    // acknowledged, x's subscribe and its undo (sent on x's ack, before y's) are done too.
    await client.subscribe('y');
    await client.unsubscribe('y');
    const mine = (await httpJson(`${run.base}/api/tool/connections`)).body.connections.find((c) => c.id === client.connId);
    assert.deepEqual(mine.channels, ['a'], 'the server dropped x');
    const onX = await client.publish({ message: 'x', channel: 'x' });
    const afterX = await client.publish({ message: 'a after x', channel: 'a' });
    await eventually(() => seen.set.has(afterX.id), { what: 'the message on a' });
    assert.ok(!seen.set.has(onX.id), 'nothing from x');
    // An invalid channel name: the server's error frame rejects the promise.
    await assert.rejects(client.subscribe('bad channel!'), (e) => e instanceof WshubError && e.code === 10103);
    client.close();
    assert.equal(seen.repeats, 0);
  });

  it('asks getToken for every connection and replaces the token before it expires', { timeout: 60_000 }, async () => {
    const run = await server(['--security.jwt_hs256_secret', SECRET, '--security.require_token', 'true']);
    const tokens = [];
    const getToken = () => {
      const t = makeToken({ sub: 'ann', exp: nowSeconds() + 6 });
      tokens.push(t);
      return t;
    };
    const client = track(new WshubClient({ url: run.base, channels: ['t'], WebSocket, getToken, refreshBefore: 3000, minDelay: 50 }));
    const seen = watch(client);
    await client.connect();
    assert.equal(tokenExpiry(tokens[0]) - nowSeconds() <= 6, true);
    const conn = client.connId;
    const firstExpiry = tokenExpiry(tokens[0]);
    // Before each token expires the client gets a new one: with the refresh command where the
    // server knows it (same connection), else by reconnecting with it.
    await eventually(() => client.stats.refreshes >= 2 && client.state === 'open' && nowSeconds() > firstExpiry,
      { timeout: 30_000, what: 'two token refreshes and the first token past its exp' });
    assert.ok(tokens.length >= 3, `a token per refresh (${tokens.length})`);
    const planned = seen.states.filter((s) => s.reason === 'token refresh').length;
    assert.ok(client.connId === conn ? planned === 0 : planned >= 2, `refreshed in place or by reconnecting (${planned})`);
    assert.ok(!seen.states.some((s) => s.code === 4003), 'no socket was closed for an expired token');
    const list = await httpJson(`${run.base}/api/tool/connections`);
    assert.ok(list.body.connections.some((c) => c.id === client.connId && c.user === 'ann'), list.text);
    const m = await client.publish({ message: 'after refresh', channel: 't' });
    await eventually(() => seen.set.has(m.id), { what: 'a message after the refresh' });
    assert.equal(seen.errors.length, 0, seen.errors.map(String).join('; '));
    client.close();

    // A token the server refuses (expired): the client stops and reports, without retrying.
    const stale = track(new WshubClient({ url: run.base, WebSocket, getToken: () => makeToken({ sub: 'x', exp: nowSeconds() - 60 }) }));
    const staleSeen = watch(stale);
    await assert.rejects(stale.connect(), (e) => e instanceof WshubError && e.status === 401);
    assert.equal(stale.state, 'closed');
    assert.equal(stale.stats.reconnects, 0);
    assert.equal(staleSeen.errors[0].status, 401);
  });

  it('stops and reports a forbidden channel', async () => {
    const run = await server(['--security.jwt_hs256_secret', SECRET]);
    const getToken = () => makeToken({ sub: 'bob', exp: nowSeconds() + 600, channels: ['ok'] });
    const client = track(new WshubClient({ url: run.base, channels: ['ok'], WebSocket, getToken }));
    const seen = watch(client);
    await client.connect();
    // A subscribe outside the token: rejected by the server's error frame; the socket stays.
    await assert.rejects(client.subscribe('secret'), (e) => e instanceof WshubError && e.code === 10104);
    assert.equal(seen.errors.length, 1);
    assert.equal(seen.errors[0].channel, 'secret');
    assert.deepEqual(client.channels, ['ok']);
    assert.equal(client.state, 'open');
    client.close();

    // A connection asking for it: refused (403); the client stops instead of retrying.
    const refused = track(new WshubClient({ url: run.base, channels: ['secret'], WebSocket, getToken, minDelay: 10 }));
    const refusedSeen = watch(refused);
    await assert.rejects(refused.connect(), (e) => e instanceof WshubError && e.status === 403);
    assert.equal(refused.state, 'closed');
    assert.equal(refused.stats.reconnects, 0);
    assert.equal(refusedSeen.errors.length, 1);
  });

  it('reconnects after a slow-consumer close (1008) and resumes without loss or repeats', { timeout: 3 * 60_000 }, async () => {
    // A small queue; the close waits for the client to read (as it would over a slow network).
    const run = await server(['--websocket.max_queue_bytes', '65536', '--websocket.close_timeout', '60']);
    const { Recording, sockets } = recordingWebSocket();
    const client = track(new WshubClient({ url: run.base, channels: ['slow'], WebSocket: Recording, minDelay: 50 }));
    const seen = watch(client);
    await client.connect();
    sockets[0].pause();  // the application's socket stops reading

    const big = 'x'.repeat(60_000);
    const acked = [];
    const closes = async () => (await httpJson(`${run.base}/api/tool/stats`)).body.slow_consumer_closes;
    // Bounded: 3000 x 60 KB at most; the kernel's socket buffers and the queue fill long before.
    for (let n = 0; n < 3000 && (await closes()) === 0; n++) {
      acked.push((await client.publish({ message: `${n} ${big}`, channel: 'slow' })).id);
    }
    assert.equal(await closes(), 1, `closed as a slow consumer after ${acked.length} messages`);
    for (let n = 0; n < 5; n++) acked.push((await client.publish({ message: `after ${n}`, channel: 'slow' })).id);
    sockets[0].resume();

    const last = acked[acked.length - 1];
    // The server sends the resume frame after the replayed messages: wait for both.
    await eventually(() => client.lastId >= last && seen.resumes.length >= 1,
      { timeout: 60_000, what: `the client to reach id ${last} and report its resume` });
    client.close();
    assert.ok(seen.states.some((s) => s.state === 'reconnecting' && s.code === 1008), 'the close was 1008');
    assert.ok(sockets.length >= 2, 'a new socket after the close');
    assert.deepEqual(seen.ids, acked, 'every message once, in order');
    assert.equal(seen.repeats, 0);
    assert.ok(seen.resumes.length >= 1 && seen.resumes.every((r) => r.recovered));
  });

  it('publishes as form and JSON with a key, and pages through history', async () => {
    const run = await server(['--security.publish_keys', JSON.stringify([{ name: 'bot', key: 'k'.repeat(32), channels: ['*'] }])]);
    const noKey = track(new WshubClient({ url: run.base, WebSocket }));
    await assert.rejects(noKey.publish('x'), (e) => e instanceof WshubError && e.status === 401 && typeof e.code === 'number');
    const client = track(new WshubClient({ url: run.base, WebSocket, key: 'k'.repeat(32) }));
    const bearer = track(new WshubClient({ url: run.base, WebSocket, key: 'k'.repeat(32), keyHeader: 'authorization' }));
    const ids = [];
    for (let i = 0; i < 5; i++) ids.push((await client.publish({ message: `form ${i}`, channel: 'h' })).id);
    for (let i = 0; i < 5; i++) ids.push((await bearer.publish({ message: `json ${i}`, channel: 'h' }, { json: true })).id);
    const pages = [];
    for await (const page of client.history('h', { limit: 3 })) pages.push(page);
    assert.deepEqual(pages.map((p) => p.messages.length), [3, 3, 3, 1]);
    const all = pages.flatMap((p) => p.messages);
    assert.deepEqual(all.map((m) => m.id), ids);
    assert.equal(all[0].message, 'form 0');
    assert.equal(all[9].message, 'json 4');
    assert.equal(all[9].username, 'bot');
  });
});
