// wshub toolbox page: live timeline of the watched channels, a channel picker, a send form and a
// status strip. The socket, reconnection, resume and publishing are the JS client's
// (clients/js/wshub.js, served as /web/wshub.js). No framework, no build step. All text put into
// the DOM goes through textContent (never innerHTML).
import { WshubClient } from './wshub.js';

const STATS_URL = '/api/tool/stats';
const STATS_INTERVAL_MS = 2000;
const HISTORY_ITEMS = 50;       // latest messages shown per watched channel when the page opens
const MAX_TIMELINE_ITEMS = 500;
const MAX_LOG_ITEMS = 50;

const $ = (id) => document.getElementById(id);
const el = {
  connState: $('conn-state'),
  connDetail: $('conn-detail'),
  connUrl: $('conn-url'),
  connSince: $('conn-since'),
  connLog: $('conn-log'),
  conn: $('conn'),
  watchForm: $('watch-form'),
  watchChannel: $('watch-channel'),
  watchResult: $('watch-result'),
  watched: $('watched'),
  timeline: $('timeline'),
  timelineEmpty: $('timeline-empty'),
  form: $('send-form'),
  message: $('message'),
  messageHelp: $('message-help'),
  messageHint: $('message-hint'),
  channel: $('channel'),
  apiKey: $('api-key'),
  send: $('send'),
  result: $('send-result'),
  statsConnections: $('stats-connections'),
  statsRate: $('stats-rate'),
  statsTotal: $('stats-total'),
};

function pad2(n) { return String(n).padStart(2, '0'); }
function clockTime(d) {
  return pad2(d.getHours()) + ':' + pad2(d.getMinutes()) + ':' + pad2(d.getSeconds());
}

// ---------------------------------------------------------------- connection

// Channels to watch may be given in the page's own query string, e.g.
// /tool/websocket?channel=a&channel=b; none: the server's default channel.
const pageParams = new URLSearchParams(location.search);
const client = new WshubClient({ channels: pageParams.getAll('channel').filter((c) => c !== '') });

function setState(state, detail) {
  const now = new Date();
  el.connState.textContent = state;
  el.connState.dataset.state = state;
  el.conn.dataset.state = state;
  el.connDetail.textContent = detail || '';
  if (client.url) el.connUrl.textContent = client.url;
  el.connSince.textContent = clockTime(now);
  el.connSince.dateTime = now.toISOString();

  const li = document.createElement('li');
  li.dataset.state = state;
  li.textContent = clockTime(now) + '  ' + state + (detail ? ' (' + detail + ')' : '');
  el.connLog.prepend(li);
  while (el.connLog.children.length > MAX_LOG_ITEMS) el.connLog.lastElementChild.remove();
}

client.on('state', (s) => {
  const parts = [];
  if (s.code !== undefined) parts.push('code ' + s.code + (s.reason ? ', ' + s.reason : ''));
  if (s.delay !== undefined) parts.push('next try in ' + (s.delay / 1000).toFixed(1) + ' s');
  else if (s.state === 'reconnecting' && s.attempt) parts.push('retry ' + s.attempt);
  setState(s.state, parts.join('; '));
  if (s.state === 'open') renderWatched();
});
client.on('error', (err) => {
  if (client.state === 'closed') setState('closed', err.message);
});
client.on('resume', (r) => {
  if (!r.recovered) setState(client.state, 'some missed messages are no longer stored');
});
client.on('message', addMessage);

// Reconnect at once when the network comes back instead of waiting out the backoff.
window.addEventListener('online', () => { if (client.state === 'reconnecting') client.retryNow(); });

// ---------------------------------------------------------------- channel picker

function showWatchResult(status, text) {
  el.watchResult.dataset.status = status;
  el.watchResult.textContent = text;
}

function renderWatched() {
  const channels = client.channels;
  el.watched.replaceChildren(...channels.map((channel) => {
    const li = document.createElement('li');
    li.className = 'chip';
    li.dataset.channel = channel;
    const name = document.createElement('span');
    name.textContent = '#' + channel;
    const remove = document.createElement('button');
    remove.type = 'button';
    remove.className = 'chip-remove';
    remove.dataset.testid = 'unwatch';
    remove.textContent = '×';
    remove.setAttribute('aria-label', 'Stop watching ' + channel);
    remove.disabled = channels.length === 1;  // a socket always has a channel
    remove.addEventListener('click', () => unwatch(channel));
    li.append(name, remove);
    return li;
  }));
  const q = new URLSearchParams();
  for (const c of channels) q.append('channel', c);
  history.replaceState(null, '', location.pathname + (channels.length ? '?' + q : ''));
}

async function watch(channel) {
  showWatchResult('pending', 'Subscribing to #' + channel + '…');
  try {
    await client.subscribe(channel);
    showWatchResult('ok', 'Watching #' + channel);
    el.watchChannel.value = '';
    renderWatched();
    await showLatest(channel);
  } catch (err) {
    showWatchResult('error', 'Cannot watch #' + channel + ': ' + (err.message || err) + (err.code ? ' (' + err.code + ')' : ''));
  }
}

async function unwatch(channel) {
  try {
    await client.unsubscribe(channel);
    showWatchResult('ok', 'Stopped watching #' + channel);
  } catch (err) {
    showWatchResult('error', 'Cannot stop watching #' + channel + ': ' + (err.message || err));
  }
  renderWatched();
}

el.watchForm.addEventListener('submit', (ev) => {
  ev.preventDefault();
  const channel = el.watchChannel.value.trim();
  if (channel === '') return showWatchResult('error', 'Type a channel name first.');
  watch(channel);
});

/** The latest stored messages of `channel` (what came before the page was opened). */
async function showLatest(channel) {
  try {
    const key = el.apiKey.value || undefined;  // a server with keys lets keys read history
    for await (const page of client.history(channel, { order: 'desc', limit: HISTORY_ITEMS, key })) {
      for (const m of page.messages) addMessage(m);
      break;  // one page: the latest
    }
  } catch (err) {
    showWatchResult('error', 'Cannot load the history of #' + channel + ': ' + (err.message || err));
  }
}

// ---------------------------------------------------------------- timeline

const shown = new Set();  // ids in the timeline: a message is shown once, newest first

function addMessage(msg) {
  const id = Number(msg.id);
  if (!Number.isSafeInteger(id) || shown.has(id)) return;
  shown.add(id);

  const li = document.createElement('li');
  li.className = 'msg';
  li.dataset.id = String(id);
  const channel = msg.channel == null ? '' : String(msg.channel);
  li.dataset.channel = channel;

  const head = document.createElement('div');
  head.className = 'msg-head';
  const user = document.createElement('span');
  user.className = 'msg-user';
  user.textContent = msg.username == null ? '(unknown)' : String(msg.username);
  const chan = document.createElement('span');
  chan.className = 'msg-channel';
  chan.dataset.testid = 'msg-channel';
  chan.textContent = '#' + channel;
  const time = document.createElement('time');
  time.className = 'msg-time muted';
  time.textContent = msg.time == null ? '' : String(msg.time);
  if (typeof msg.ts === 'number') time.dateTime = new Date(msg.ts).toISOString();
  const idEl = document.createElement('span');
  idEl.className = 'msg-id muted mono';
  idEl.dataset.testid = 'msg-id';
  idEl.textContent = 'id ' + id;
  head.append(user, chan, time, idEl);

  const body = document.createElement('p');
  body.className = 'msg-body';
  body.dataset.testid = 'msg-body';
  body.textContent = msg.message == null ? '' : String(msg.message);

  li.append(head, body);
  // Newest first: before the first item with a smaller id (history arrives after live messages).
  let next = el.timeline.firstElementChild;
  while (next && Number(next.dataset.id) > id) next = next.nextElementSibling;
  el.timeline.insertBefore(li, next);
  el.timelineEmpty.hidden = true;
  while (el.timeline.children.length > MAX_TIMELINE_ITEMS) {
    shown.delete(Number(el.timeline.lastElementChild.dataset.id));
    el.timeline.lastElementChild.remove();
  }
}

// ---------------------------------------------------------------- send form

// On a touch screen Enter types a newline (there is no Shift key); the Send button sends.
const enterSends = !matchMedia('(hover: none) and (pointer: coarse)').matches;
el.messageHelp.textContent = enterSends
  ? 'Enter sends, Shift+Enter starts a new line.'
  : 'Enter starts a new line; the Send button sends.';

function showHint(text) {
  el.messageHint.textContent = text;
  el.messageHint.hidden = !text;
  if (text) el.message.setAttribute('aria-invalid', 'true');
  else el.message.removeAttribute('aria-invalid');
}

function showResult(status, text, extra) {
  if (status) el.result.dataset.status = status;
  else delete el.result.dataset.status;
  for (const k of ['id', 'recipients', 'code', 'http']) delete el.result.dataset[k];
  if (extra) for (const [k, v] of Object.entries(extra)) {
    if (v !== undefined && v !== null) el.result.dataset[k] = String(v);
  }
  el.result.textContent = text;
}

let sending = false;

async function send() {
  if (sending) return;
  const message = el.message.value;
  if (message.trim() === '') {
    showResult('', '');  // the last "Sent: id …" is not about this message
    showHint('Please type a message first: an empty message is not sent.');
    el.message.focus();
    return;
  }
  showHint('');
  const channel = el.channel.value.trim() || 'system';

  sending = true;
  el.send.disabled = true;
  el.form.setAttribute('aria-busy', 'true');
  showResult('pending', 'Sending…');
  try {
    const r = await client.publish({ message, channel }, { key: el.apiKey.value || undefined });
    showResult('ok', 'Sent: id ' + r.id + ', recipients ' + r.recipients, { id: r.id, recipients: r.recipients, http: 200 });
    el.message.value = '';
  } catch (err) {
    if (err.status !== undefined) {
      showResult('error',
        'Error' + (err.code !== undefined ? ' ' + err.code : '') + ': ' + err.message + ' (HTTP ' + err.status + ')',
        { code: err.code, http: err.status });
    } else {
      showResult('error', 'Network error: ' + (err && err.message ? err.message : String(err)));
    }
  } finally {
    sending = false;
    el.send.disabled = false;
    el.form.removeAttribute('aria-busy');
  }
}

el.form.addEventListener('submit', (ev) => {
  ev.preventDefault();
  send();
});
el.message.addEventListener('keydown', (ev) => {
  if (enterSends && ev.key === 'Enter' && !ev.shiftKey && !ev.isComposing && !ev.altKey && !ev.ctrlKey && !ev.metaKey) {
    ev.preventDefault();
    send();
  }
});
el.message.addEventListener('input', () => {
  if (!el.messageHint.hidden && el.message.value.trim() !== '') showHint('');
});

// ---------------------------------------------------------------- stats

function fmtRate(x) {
  const n = Number(x);
  if (!Number.isFinite(n)) return '–';
  return n >= 100 ? String(Math.round(n)) : n.toFixed(1);
}

async function pollStats() {
  try {
    const res = await fetch(STATS_URL, { cache: 'no-store', headers: { 'Accept': 'application/json' } });
    if (!res.ok) throw new Error('HTTP ' + res.status);
    const s = await res.json();
    el.statsConnections.textContent = s.connections == null ? '–' : String(s.connections);
    el.statsRate.textContent = fmtRate(s.messages_per_second);
    el.statsTotal.textContent = s.messages_total == null ? '–' : String(s.messages_total);
    delete el.statsConnections.closest('dl').dataset.stale;
  } catch (_) {
    el.statsConnections.closest('dl').dataset.stale = 'true';
  } finally {
    setTimeout(pollStats, STATS_INTERVAL_MS);
  }
}

pollStats();
client.connect().then(
  () => Promise.all(client.channels.map(showLatest)),
  () => { /* stopped: the state line says why */ });
