// The wshub binary as a child process, for the Node tests (browser, JS client, contract).
// Only Node's own modules: every test folder imports it without installing anything.
import { spawn } from 'node:child_process';
import { access } from 'node:fs/promises';
import { constants as fsConstants } from 'node:fs';
import path from 'node:path';

export const START_TIMEOUT_MS = 20_000;  // server start: wait for the "listening on" line
export const STOP_TIMEOUT_MS = 15_000;   // server stop after SIGTERM

/** Output of one server run, kept for diagnostics when something fails. */
export class ServerRun {
  constructor(proc) {
    this.proc = proc;
    this.lines = [];
    this.exited = null; // {code, signal} once the process has exited
    this.exitPromise = new Promise((resolve) => {
      proc.once('exit', (code, signal) => {
        this.exited = { code, signal };
        resolve(this.exited);
      });
    });
  }
  tail(n = 40) {
    return this.lines.slice(-n).join('\n');
  }
  get base() {
    return `http://127.0.0.1:${this.port}`;
  }
}

/** The absolute path of $WSHUB_BIN, checked to be an executable. */
export async function wshubBin() {
  const bin = process.env.WSHUB_BIN;
  if (!bin) throw new Error('WSHUB_BIN is not set: give the path of the wshub binary, e.g. WSHUB_BIN=build/dev/wshub');
  const abs = path.resolve(bin);
  try {
    await access(abs, fsConstants.X_OK);
  } catch {
    throw new Error(`WSHUB_BIN=${abs} is not an executable file (build the server first)`);
  }
  return abs;
}

/**
 * Starts `BIN --listen.port PORT --data-dir DIR --log.level info ARGS...` and resolves once it
 * printed "listening on HOST:PORT" (no sleeps: the log line is the signal). Port 0 picks a free
 * port; `run.port` is the one it listens on.
 */
export function startServer(bin, port, dataDir, args = []) {
  const proc = spawn(bin, ['--listen.port', String(port), '--data-dir', dataDir, '--log.level', 'info', ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const run = new ServerRun(proc);
  return new Promise((resolve, reject) => {
    let done = false;
    const finish = (err, value) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      if (err) reject(err); else resolve(value);
    };
    const timer = setTimeout(() => {
      finish(new Error(`server did not print "listening on 127.0.0.1:PORT" within ${START_TIMEOUT_MS} ms; output:\n${run.tail()}`));
    }, START_TIMEOUT_MS);
    const onLine = (stream) => (line) => {
      run.lines.push(`[${stream}] ${line}`);
      if (run.lines.length > 2000) run.lines.splice(0, 1000);
      const m = /listening on (127\.0\.0\.1|localhost|\[?[0-9a-fA-F:.]+\]?):(\d+)/.exec(line);
      if (m && !done) {
        run.port = Number(m[2]);
        run.host = m[1];
        run.listenStream = stream;
        finish(null, run);
      }
    };
    splitLines(proc.stdout, onLine('stdout'));
    splitLines(proc.stderr, onLine('stderr'));
    proc.once('error', (err) => finish(new Error(`cannot start ${bin}: ${err.message}`)));
    run.exitPromise.then(({ code, signal }) => {
      finish(new Error(`server exited (code ${code}, signal ${signal}) before listening; output:\n${run.tail()}`));
    });
  });
}

function splitLines(stream, onLine) {
  let buf = '';
  stream.setEncoding('utf8');
  stream.on('data', (chunk) => {
    buf += chunk;
    let i;
    while ((i = buf.indexOf('\n')) >= 0) {
      onLine(buf.slice(0, i).replace(/\r$/, ''));
      buf = buf.slice(i + 1);
    }
  });
  stream.on('end', () => { if (buf) onLine(buf); });
}

/** SIGTERM, then wait for the exit (SIGKILL and an error if it does not stop in time). */
export async function stopServer(run, timeoutMs = STOP_TIMEOUT_MS) {
  if (!run || run.exited) return run && run.exited;
  run.proc.kill('SIGTERM');
  let timer;
  const timeout = new Promise((resolve) => { timer = setTimeout(() => resolve(null), timeoutMs); });
  const result = await Promise.race([run.exitPromise, timeout]);
  clearTimeout(timer);
  if (result) return result;
  run.proc.kill('SIGKILL');
  await run.exitPromise;
  throw new Error(`server did not exit within ${timeoutMs} ms of SIGTERM (killed); output:\n${run.tail()}`);
}

/** SIGKILL (a crash: nothing is flushed or closed), then wait for the exit. */
export async function killServer(run) {
  if (!run || run.exited) return run && run.exited;
  run.proc.kill('SIGKILL');
  return run.exitPromise;
}

/** Polls `check` until it returns a truthy value (returned) or the deadline passes (throws). */
export async function eventually(check, { timeout = 15_000, interval = 20, what = 'condition' } = {}) {
  const deadline = Date.now() + timeout;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeout} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, interval));
  }
}

/** fetch with a timeout; the body parsed as JSON when it is JSON. */
export async function httpJson(url, init = {}) {
  const res = await fetch(url, { ...init, signal: AbortSignal.timeout(10_000) });
  const text = await res.text();
  let body = null;
  try { body = JSON.parse(text); } catch { /* not JSON */ }
  return { status: res.status, ok: res.ok, headers: res.headers, text, body };
}
