// docs/openapi.yaml against the server: the file is valid OpenAPI 3.1 (swagger-parser); every
// documented operation is called on a live wshub and each answer is checked against the schema
// of its status and media type (ajv, JSON Schema 2020-12); every route the router serves is
// documented, with the methods it takes.
//
// Run:   cd tests/contract && npm ci && WSHUB_BIN=../../build/dev/wshub node --test
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import SwaggerParser from '@apidevtools/swagger-parser';
import Ajv2020 from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';
import WebSocket from 'ws';
import { startServer, stopServer, killServer, wshubBin } from '../support/wshub_process.mjs';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const SPEC = path.join(ROOT, 'docs', 'openapi.yaml');
const METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'];

const ADMIN_KEY = 'admin-key-of-the-contract-test-0123456789';
const NEWS_KEY = 'news-key-of-the-contract-test-0123456789';
const SECRET = 'contract-test-jwt-secret-0123456789abcdef';

function token(claims) {
  const enc = (o) => Buffer.from(JSON.stringify(o)).toString('base64url');
  const head = `${enc({ alg: 'HS256', typ: 'JWT' })}.${enc(claims)}`;
  return `${head}.${createHmac('sha256', SECRET).update(head).digest('base64url')}`;
}

/**
 * The routes the router serves, read from its source: every string literal that starts with "/"
 * in src/http/router.cpp, and the WebSocket path of router.hpp. A literal ending in "/" (other
 * than "/" itself) is a prefix: the paths under it.
 */
export async function servedRoutes() {
  const sources = await Promise.all(['src/http/router.cpp', 'include/wshub/http/router.hpp']
    .map((f) => readFile(path.join(ROOT, f), 'utf8')));
  const routes = new Set();
  const literal = /"(\/[^"\s]*)"/g;
  for (const text of sources) for (const m of text.matchAll(literal)) routes.add(m[1]);
  return [...routes].map((r) => ({ route: r, prefix: r.length > 1 && r.endsWith('/') }));
}

/** A documented path that `route` serves (one under it, for a prefix). */
function documentedPath(paths, route) {
  if (route.prefix) return paths.find((p) => p.startsWith(route.route) && p.length > route.route.length);
  return paths.find((p) => p === route.route);
}

/** A concrete path for a documented template, for probing. */
function sample(template) {
  return template.replace('{id}', '1').replace('{file}', 'app.js').replace('{name}', 'news');
}

describe('docs/openapi.yaml', { timeout: 5 * 60_000 }, () => {
  let api;          // dereferenced document
  let ajv;
  let run;
  let dataDir;
  let base;
  const exercised = new Map();  // "get /path" -> Set of statuses seen

  before(async () => {
    await SwaggerParser.validate(SPEC);  // throws with every problem found
    api = await SwaggerParser.dereference(SPEC);
    ajv = new Ajv2020({ strict: false, allErrors: true });
    addFormats(ajv);
    dataDir = await mkdtemp(path.join(os.tmpdir(), 'wshub-contract-'));
    const keys = [
      { name: 'ops', key: ADMIN_KEY, channels: ['*'], admin: true },
      { name: 'news-bot', key: NEWS_KEY, channels: ['news'] },
    ];
    run = await startServer(await wshubBin(), 0, dataDir, [
      '--security.publish_keys', JSON.stringify(keys),
      '--security.jwt_hs256_secret', SECRET,
      '--publish.max_message_bytes', '1024',
    ]);
    base = run.base;
  });

  after(async () => {
    if (run) await stopServer(run).catch(() => killServer(run));
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  });

  /**
   * Checks one answer of `method template` against the document: its status is documented, its
   * media type is one of the documented ones, the body matches that schema, required headers are
   * there.
   */
  function check(method, template, status, headers, text) {
    const op = api.paths[template]?.[method];
    assert.ok(op, `${method.toUpperCase()} ${template} is not documented`);
    const key = `${method} ${template}`;
    if (!exercised.has(key)) exercised.set(key, new Set());
    exercised.get(key).add(status);
    const response = op.responses[String(status)];
    assert.ok(response, `${method.toUpperCase()} ${template} answered ${status}, which is not documented: ${text.slice(0, 200)}`);
    for (const [name, h] of Object.entries(response.headers ?? {})) {
      if (h.required) assert.ok(headers.get(name) !== null, `${key} ${status}: header ${name} missing`);
    }
    if (!response.content) return;
    const type = (headers.get('content-type') ?? '').split(';')[0].trim();
    const media = response.content[type];
    assert.ok(media, `${key} ${status}: content type '${type}' is not among ${Object.keys(response.content)}`);
    if (!media.schema) return;
    const value = type === 'application/json' ? JSON.parse(text) : text;
    const validate = ajv.compile(media.schema);
    assert.ok(validate(value), `${key} ${status}: ${ajv.errorsText(validate.errors)} in ${text.slice(0, 300)}`);
  }

  async function call(method, template, { url = sample(template), headers = {}, body } = {}) {
    const res = await fetch(base + url, { method: method.toUpperCase(), headers, body, signal: AbortSignal.timeout(10_000), redirect: 'manual' });
    const text = await res.text();
    check(method, template, res.status, res.headers, text);
    return { status: res.status, headers: res.headers, text, json: () => JSON.parse(text) };
  }

  /** A WebSocket upgrade: 101 (open) or the refusal's status and body, checked like any answer. */
  function upgrade(url, protocols) {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(base.replace('http', 'ws') + url, protocols);
      ws.on('open', () => {
        check('get', '/socket/system/message', 101, new Headers(), '');
        ws.close();
        resolve({ status: 101 });
      });
      ws.on('unexpected-response', (_req, res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c) => { text += c; });
        res.on('end', () => {
          try {
            check('get', '/socket/system/message', res.statusCode, new Headers(res.headers), text);
            resolve({ status: res.statusCode, text });
          } catch (err) { reject(err); }
        });
      });
      ws.on('error', () => { /* the refusal is handled above */ });
    });
  }

  it('is a valid OpenAPI 3.1 document', () => {
    assert.equal(api.openapi, '3.1.0');
  });

  it('describes the answers of every operation, called on a live server', async () => {
    const admin = { 'X-API-Key': ADMIN_KEY };
    const form = (fields) => new URLSearchParams(fields);

    // send_message: form, multipart and JSON bodies; each refusal.
    const sent = (await call('post', '/api/tool/send_message', { headers: admin, body: form({ message: 'hi', channel: 'news' }) })).json();
    const mp = new FormData();
    mp.set('message', 'multipart');
    mp.set('channels', 'news,sport');
    assert.equal((await call('post', '/api/tool/send_message', { headers: { Authorization: `Bearer ${ADMIN_KEY}` }, body: mp })).status, 200);
    assert.equal((await call('post', '/api/tool/send_message', {
      headers: { ...admin, 'Content-Type': 'application/json' },
      body: JSON.stringify({ message: 'json', channels: ['news', 'sport'] }),
    })).status, 200);
    assert.equal((await call('post', '/api/tool/send_message', { url: '/api/tool/send_message?message=q&channel=news', headers: { 'X-API-Key': NEWS_KEY } })).status, 200);
    assert.equal((await call('post', '/api/tool/send_message', { headers: admin, body: form({ channel: 'news' }) })).status, 400);
    assert.equal((await call('post', '/api/tool/send_message', { body: form({ message: 'no key' }) })).status, 401);
    assert.equal((await call('post', '/api/tool/send_message', { headers: { 'X-API-Key': NEWS_KEY }, body: form({ message: 'x', channel: 'sport' }) })).status, 403);
    assert.equal((await call('post', '/api/tool/send_message', { headers: admin, body: form({ message: 'x'.repeat(2000) }) })).status, 413);
    assert.equal((await call('post', '/api/tool/send_message', { headers: { ...admin, 'Content-Type': 'text/plain' }, body: 'message=x' })).status, 415);

    // send_messages: a batch, and each refusal.
    const json = { 'Content-Type': 'application/json' };
    const batch = (messages) => JSON.stringify({ messages });
    const stored = (await call('post', '/api/tool/send_messages', {
      headers: { ...admin, ...json }, body: batch([{ message: 'b1', channel: 'news' }, { message: 'b2', to_user: 'ann' }]),
    })).json();
    assert.equal(stored.results.length, 2);
    assert.equal(stored.results[1].id, stored.results[0].id + 1);
    const bad = await call('post', '/api/tool/send_messages', { headers: { ...admin, ...json }, body: batch([{ message: 'ok' }, { channel: 'news' }]) });
    assert.equal(bad.status, 400);
    assert.match(bad.json().message, /^messages\[1\]: /);
    assert.equal((await call('post', '/api/tool/send_messages', { body: batch([{ message: 'no key' }]), headers: json })).status, 401);
    assert.equal((await call('post', '/api/tool/send_messages', {
      headers: { 'X-API-Key': NEWS_KEY, ...json }, body: batch([{ message: 'x', channel: 'news' }, { message: 'x', channel: 'sport' }]),
    })).status, 403);
    assert.equal((await call('post', '/api/tool/send_messages', { headers: { ...admin, ...json }, body: batch([{ message: 'x'.repeat(2000) }]) })).status, 413);
    assert.equal((await call('post', '/api/tool/send_messages', { headers: { ...admin, 'Content-Type': 'text/plain' }, body: '{}' })).status, 415);

    // history
    const page = (await call('get', '/api/tool/messages', { url: '/api/tool/messages?channel=news&after=0&limit=2', headers: admin })).json();
    assert.equal(page.messages[0].id, sent.id);
    assert.equal(page.has_more, true);
    assert.equal((await call('get', '/api/tool/messages', { url: '/api/tool/messages?limit=0', headers: admin })).status, 400);

    // connections: a socket to list and close
    const ws = new WebSocket(`${base.replace('http', 'ws')}/socket/system/message`, ['wshub.v1']);
    const welcome = await new Promise((resolve, reject) => {
      ws.once('message', (d) => resolve(JSON.parse(String(d))));
      ws.once('error', reject);
    });
    const closed = new Promise((resolve) => ws.once('close', (code) => resolve(code)));
    const list = (await call('get', '/api/tool/connections', { url: '/api/tool/connections?after=0&limit=10', headers: admin })).json();
    assert.ok(list.connections.some((c) => c.id === welcome.conn_id));
    assert.equal((await call('get', '/api/tool/connections', { url: '/api/tool/connections?limit=x', headers: admin })).status, 400);
    assert.equal((await call('get', '/api/tool/connections')).status, 401);
    assert.equal((await call('get', '/api/tool/connections', { headers: { 'X-API-Key': NEWS_KEY } })).status, 403);
    // channels and presence, while that socket is on the channel system
    const channels = (await call('get', '/api/tool/channels', { url: '/api/tool/channels?limit=10', headers: admin })).json();
    assert.ok(channels.channels.some((c) => c.name === 'system'));
    assert.equal((await call('get', '/api/tool/channels', { url: '/api/tool/channels?limit=0', headers: admin })).status, 400);
    assert.equal((await call('get', '/api/tool/channels')).status, 401);
    assert.equal((await call('get', '/api/tool/channels', { headers: { 'X-API-Key': NEWS_KEY } })).status, 403);
    const presence = (await call('get', '/api/tool/channels/{name}/presence', { url: '/api/tool/channels/system/presence', headers: admin })).json();
    assert.ok(presence.connections.some((c) => c.id === welcome.conn_id));
    assert.equal((await call('get', '/api/tool/channels/{name}/presence', { url: '/api/tool/channels/system/presence?after=x', headers: admin })).status, 400);
    assert.equal((await call('get', '/api/tool/channels/{name}/presence', { url: '/api/tool/channels/system/presence' })).status, 401);
    assert.equal((await call('get', '/api/tool/channels/{name}/presence', { url: '/api/tool/channels/system/presence', headers: { 'X-API-Key': NEWS_KEY } })).status, 403);

    assert.equal((await call('delete', '/api/tool/connections/{id}', { url: `/api/tool/connections/${welcome.conn_id}`, headers: admin })).status, 200);
    assert.equal(await closed, 4001);
    assert.equal((await call('delete', '/api/tool/connections/{id}', { url: '/api/tool/connections/999999', headers: admin })).status, 404);
    assert.equal((await call('delete', '/api/tool/connections/{id}', { url: '/api/tool/connections/abc', headers: admin })).status, 400);
    assert.equal((await call('delete', '/api/tool/connections/{id}', { url: '/api/tool/connections/1' })).status, 401);
    assert.equal((await call('delete', '/api/tool/connections/{id}', { url: '/api/tool/connections/1', headers: { 'X-API-Key': NEWS_KEY } })).status, 403);

    // operations
    assert.equal((await call('get', '/api/tool/stats', { headers: admin })).json().messages_total, 6);  // 4 single, a batch of 2
    await call('get', '/healthz');
    assert.equal((await call('get', '/readyz')).status, 200);
    await call('get', '/metrics', { headers: admin });

    // the socket path: 426 without an upgrade; 101, 400, 401 and 403 with one
    assert.equal((await call('get', '/socket/system/message')).status, 426);
    assert.equal((await upgrade('/socket/system/message?channel=news', ['wshub.v1'])).status, 101);
    assert.equal((await upgrade('/socket/system/message?last_id=x', ['wshub.v1'])).status, 400);
    assert.equal((await upgrade('/socket/system/message?token=not-a-jwt', ['wshub.v1'])).status, 401);
    const narrow = token({ sub: 'u', exp: Math.floor(Date.now() / 1000) + 600, channels: ['news'] });
    assert.equal((await upgrade('/socket/system/message?channel=sport', ['wshub.v1', `bearer.${narrow}`])).status, 403);

    // the page and its files, revalidated by ETag
    const index = await call('get', '/');
    await call('get', '/tool/websocket');
    assert.equal((await call('get', '/', { headers: { 'If-None-Match': index.headers.get('etag') } })).status, 304);
    for (const file of ['app.js', 'wshub.js', 'style.css', 'favicon.svg', 'index.html']) {
      assert.equal((await call('get', '/web/{file}', { url: `/web/${file}` })).status, 200, file);
    }
    assert.equal((await call('get', '/web/{file}', { url: '/web/missing.js' })).status, 404);

    // Every documented operation was called, and answered with a documented success.
    for (const [template, item] of Object.entries(api.paths)) {
      for (const method of METHODS.filter((m) => item[m])) {
        const seen = exercised.get(`${method} ${template}`);
        assert.ok(seen, `${method.toUpperCase()} ${template} is documented but never called by this test`);
        assert.ok([...seen].some((s) => s >= 100 && s < 300), `${method.toUpperCase()} ${template}: no success seen (${[...seen]})`);
      }
    }
  });

  it('documents every route the router serves, with the methods it takes', async () => {
    const routes = await servedRoutes();
    assert.ok(routes.length >= 10, `read the routes from the router's source: ${routes.map((r) => r.route)}`);
    const paths = Object.keys(api.paths);
    for (const route of routes) {
      const documented = documentedPath(paths, route);
      assert.ok(documented, `the router serves ${route.route}${route.prefix ? '{...}' : ''}, which docs/openapi.yaml does not describe`);
      // The server says which methods the route takes (405 with Allow); the document has the same
      // operations (HEAD comes with GET).
      const res = await fetch(base + sample(documented), { method: 'PATCH', signal: AbortSignal.timeout(10_000) });
      const text = await res.text();
      assert.equal(res.status, 405, `PATCH ${documented}`);
      for (const m of METHODS.filter((m) => api.paths[documented][m])) check(m, documented, 405, res.headers, text);
      const allowed = new Set(res.headers.get('allow').split(',').map((m) => m.trim().toLowerCase()));
      if (allowed.has('get')) allowed.delete('head');
      const ops = new Set(METHODS.filter((m) => api.paths[documented][m]));
      assert.deepEqual([...ops].sort(), [...allowed].sort(), `${documented}: the server allows ${res.headers.get('allow')}`);
    }
    // And nothing is documented that the router does not serve.
    for (const p of paths) {
      assert.ok(routes.some((r) => documentedPath([p], r)), `docs/openapi.yaml describes ${p}, which the router does not serve`);
    }
  });
});
