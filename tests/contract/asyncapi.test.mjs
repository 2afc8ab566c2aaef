// docs/asyncapi.yaml: valid per @asyncapi/parser; the JS client's frame types are the documented
// ones; and every frame the client sends and receives in a session against a live wshub (plus a
// few sent by hand, for the frames the client never asks for) matches the payload schema of
// its type.
//
// Run:   cd tests/contract && npm ci && WSHUB_BIN=../../build/dev/wshub node --test
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Parser } from '@asyncapi/parser';
import Ajv2020 from 'ajv/dist/2020.js';
import WebSocket from 'ws';
import { WshubClient, SERVER_FRAME_TYPES, CLIENT_COMMANDS } from '../../clients/js/wshub.js';
import { eventually, startServer, stopServer, killServer, wshubBin } from '../support/wshub_process.mjs';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const SPEC = path.join(ROOT, 'docs', 'asyncapi.yaml');

describe('docs/asyncapi.yaml', { timeout: 5 * 60_000 }, () => {
  let doc;
  const sent = new Map();      // frame type -> payload schema, frames the server sends
  const commands = new Map();  // command type -> payload schema, frames the server takes
  let ajv;
  let run;
  let dataDir;

  before(async () => {
    const { document, diagnostics } = await new Parser().parse(await readFile(SPEC, 'utf8'));
    const errors = diagnostics.filter((d) => d.severity === 0);
    assert.equal(errors.length, 0, errors.map((d) => `${d.path.join('.')}: ${d.message}`).join('\n'));
    assert.ok(document, 'parsed');
    doc = document;
    for (const op of doc.operations().all()) {
      const into = op.action() === 'send' ? sent : commands;
      for (const m of op.messages().all()) {
        const schema = m.payload().json();
        const type = schema.properties.type.const;
        assert.ok(!into.has(type), `two ${op.action()} messages of type ${type}`);
        into.set(type, schema);
      }
    }
    ajv = new Ajv2020({ strict: false, allErrors: true });
    dataDir = await mkdtemp(path.join(os.tmpdir(), 'wshub-asyncapi-'));
    run = await startServer(await wshubBin(), 0, dataDir);
  });

  after(async () => {
    if (run) await stopServer(run).catch(() => killServer(run));
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  });

  function validate(map, frame, direction) {
    const schema = map.get(frame.type);
    assert.ok(schema, `${direction} frame of undocumented type '${frame.type}': ${JSON.stringify(frame)}`);
    const check = ajv.compile(schema);
    assert.ok(check(frame), `${direction} ${frame.type}: ${ajv.errorsText(check.errors)} in ${JSON.stringify(frame)}`);
  }

  it('is a valid AsyncAPI 3 document', () => {
    assert.equal(doc.version(), '3.0.0');
    assert.ok(sent.size >= 6 && commands.size >= 4);
  });

  it('documents the frame types the JS client handles and the commands it sends', () => {
    assert.deepEqual([...SERVER_FRAME_TYPES].sort(), [...sent.keys()].sort(), 'frames the server sends = frames the client knows');
    for (const c of CLIENT_COMMANDS) {
      assert.ok(commands.has(c), `the client sends '${c}', which docs/asyncapi.yaml does not describe`);
    }
  });

  it('matches every frame of a client session against a live server', async () => {
    const received = [];
    const written = [];
    class Recording extends WebSocket {
      constructor(...args) {
        super(...args);
        this.on('message', (data) => received.push(JSON.parse(String(data))));
      }
      send(data, ...rest) {
        written.push(JSON.parse(String(data)));
        return super.send(data, ...rest);
      }
    }
    const base = run.base;
    const publisher = new WshubClient({ url: base, WebSocket });
    const first = await publisher.publish({ message: 'before', channel: 'news' });
    const client = new WshubClient({ url: base, channels: ['news'], lastId: 0, WebSocket: Recording });
    try {
      await client.connect();
      await client.subscribe('sport');
      await assert.rejects(client.subscribe('bad channel'));
      const both = await publisher.publish({ message: 'both', channels: ['news', 'sport'] });
      await eventually(() => client.lastId >= both.id, { what: 'the message on two channels' });
      await client.unsubscribe('sport');
    } finally {
      client.close();
    }
    // By hand: what the client never asks for (ping, the resume command, errors of unknown
    // commands and of unsubscribing from nothing, presence frames).
    const raw = new Recording(`${base.replace('http', 'ws')}/socket/system/message`, ['wshub.v1']);
    await new Promise((resolve, reject) => { raw.once('open', resolve); raw.once('error', reject); });
    raw.send(JSON.stringify({ type: 'ping', ref: 'p' }));
    raw.send(JSON.stringify({ type: 'resume', last_id: 0, ref: 7 }));
    raw.send(JSON.stringify({ type: 'unsubscribe', channel: 'nothing', ref: 8 }));
    raw.send(JSON.stringify({ type: 'subscribe', channel: 'news', presence: true, ref: 9 }));
    await eventually(() => received.filter((f) => f.type === 'pong' || f.ref === 7 || f.ref === 8 || f.ref === 9).length >= 4,
      { what: 'the answers to the commands sent by hand' });
    // Presence: another socket joins news and leaves.
    const other = new Recording(`${base.replace('http', 'ws')}/socket/system/message?channel=news`, ['wshub.v1']);
    await new Promise((resolve, reject) => { other.once('open', resolve); other.once('error', reject); });
    await eventually(() => received.some((f) => f.type === 'join'), { what: 'a join frame' });
    other.close();
    await eventually(() => received.some((f) => f.type === 'leave'), { what: 'a leave frame' });
    raw.close();

    const types = new Set(received.map((f) => f.type));
    for (const t of sent.keys()) assert.ok(types.has(t), `the session saw no '${t}' frame`);
    assert.ok(received.some((f) => f.type === 'message' && f.id === first.id), 'replayed by last_id');
    assert.ok(received.some((f) => f.type === 'message' && Array.isArray(f.channels)), 'a message on two channels');
    for (const f of received) validate(sent, f, 'server');
    // The one command made invalid on purpose (its error frame is checked above) is left out.
    for (const f of written.filter((w) => w.channel !== 'bad channel')) validate(commands, f, 'client');
  });
});
