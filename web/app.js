// wshub toolbox page: live timeline over WebSocket, a send form and a status strip.
// Plain browser JavaScript, no framework, no build step. All text put into the
// DOM goes through textContent (never innerHTML).
'use strict';

(function () {
  const SOCKET_PATH = '/socket/system/message';
  const SEND_URL = '/api/tool/send_message';
  const STATS_URL = '/api/tool/stats';
  const STATS_INTERVAL_MS = 2000;
  const BACKOFF_MIN_MS = 500;
  const BACKOFF_MAX_MS = 10000;
  const MAX_TIMELINE_ITEMS = 500;
  const MAX_LOG_ITEMS = 50;
  const MAX_SEEN_IDS = 5000;

  const $ = (id) => document.getElementById(id);
  const el = {
    connState: $('conn-state'),
    connDetail: $('conn-detail'),
    connUrl: $('conn-url'),
    connSince: $('conn-since'),
    connLog: $('conn-log'),
    conn: $('conn'),
    timeline: $('timeline'),
    timelineEmpty: $('timeline-empty'),
    form: $('send-form'),
    message: $('message'),
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

  // ---------------------------------------------------------------- socket

  // Channels to subscribe to may be given in the page's own query string,
  // e.g. /tool/websocket?channel=a&channel=b; they are passed on to the socket.
  const pageParams = new URLSearchParams(location.search);
  const subscribedChannels = pageParams.getAll('channel').filter((c) => c !== '');

  function socketUrl(lastId) {
    const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
    const q = new URLSearchParams();
    for (const c of subscribedChannels) q.append('channel', c);
    if (lastId > 0) q.set('last_id', String(lastId));
    const qs = q.toString();
    return scheme + '//' + location.host + SOCKET_PATH + (qs ? '?' + qs : '');
  }

  let ws = null;
  let attempt = 0;            // failed attempts since the last successful open
  let everOpened = false;
  let reconnectTimer = null;
  let lastId = 0;             // id of the newest message seen (sent as last_id)
  const seen = new Map();     // id -> ts of messages already shown (de-dup)

  function setState(state, detail, url) {
    const now = new Date();
    el.connState.textContent = state;
    el.connState.dataset.state = state;
    el.conn.dataset.state = state;
    el.connDetail.textContent = detail || '';
    if (url !== undefined) el.connUrl.textContent = url;
    el.connSince.textContent = clockTime(now);
    el.connSince.dateTime = now.toISOString();

    const li = document.createElement('li');
    li.dataset.state = state;
    li.textContent = clockTime(now) + '  ' + state + (detail ? ' (' + detail + ')' : '');
    el.connLog.prepend(li);
    while (el.connLog.children.length > MAX_LOG_ITEMS) el.connLog.lastElementChild.remove();
  }

  function backoffDelay(n) {
    // Exponential: 0.5 s, 1 s, 2 s, ... capped at 10 s, with +-25 % jitter.
    const base = Math.min(BACKOFF_MAX_MS, BACKOFF_MIN_MS * Math.pow(2, n));
    const jitter = base * 0.25 * (Math.random() * 2 - 1);
    return Math.max(100, Math.round(base + jitter));
  }

  function connect() {
    reconnectTimer = null;
    const url = socketUrl(lastId);
    if (everOpened || attempt > 0) {
      setState('reconnecting', 'retry ' + attempt, url);
    } else {
      setState('connecting', '', url);
    }
    let sock;
    try {
      sock = new WebSocket(url);
    } catch (err) {
      scheduleReconnect(String(err && err.message || err));
      return;
    }
    ws = sock;
    sock.addEventListener('open', () => {
      if (ws !== sock) return;
      attempt = 0;
      everOpened = true;
      setState('open', '', url);
    });
    sock.addEventListener('message', (ev) => {
      if (ws !== sock) return;
      handleFrame(ev.data);
    });
    sock.addEventListener('close', (ev) => {
      if (ws !== sock) return;
      ws = null;
      const why = 'code ' + ev.code + (ev.reason ? ', ' + ev.reason : '');
      setState('closed', why);
      scheduleReconnect(why);
    });
    // An 'error' event is always followed by 'close'; nothing to do here.
  }

  function scheduleReconnect(why) {
    if (reconnectTimer !== null) return;
    const delay = backoffDelay(attempt);
    attempt += 1;
    setState('reconnecting', 'next try in ' + (delay / 1000).toFixed(1) + ' s');
    reconnectTimer = setTimeout(connect, delay);
  }

  // Reconnect at once when the network comes back instead of waiting out the backoff.
  window.addEventListener('online', () => {
    if (reconnectTimer !== null) {
      clearTimeout(reconnectTimer);
      connect();
    }
  });

  // ---------------------------------------------------------------- frames

  function handleFrame(data) {
    if (typeof data !== 'string') return;
    let msg;
    try {
      msg = JSON.parse(data);
    } catch (_) {
      return; // not JSON: ignore
    }
    if (!msg || typeof msg !== 'object') return;
    // With the wshub.v1 subprotocol frames carry a type; only messages are shown.
    if (msg.type !== undefined && msg.type !== 'message') return;
    addMessage(msg);
  }

  function addMessage(msg) {
    const id = Number(msg.id);
    const hasId = Number.isSafeInteger(id) && id > 0;
    if (hasId) {
      if (seen.has(id)) {
        // Same id and timestamp: a repeat (e.g. replay on resume) -> drop.
        if (seen.get(id) === msg.ts) return;
        // Same id, different message: the server's id sequence started over.
        // Show it and follow the new sequence.
        lastId = id;
      } else if (id > lastId) {
        lastId = id;
      }
      seen.set(id, msg.ts);
      if (seen.size > MAX_SEEN_IDS) seen.delete(seen.keys().next().value);
    }

    const li = document.createElement('li');
    li.className = 'msg';
    if (hasId) li.dataset.id = String(id);
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
    idEl.textContent = hasId ? 'id ' + id : 'no id';
    head.append(user, chan, time, idEl);

    const body = document.createElement('p');
    body.className = 'msg-body';
    body.dataset.testid = 'msg-body';
    body.textContent = msg.message == null ? '' : String(msg.message);

    li.append(head, body);
    el.timeline.prepend(li);
    el.timelineEmpty.hidden = true;
    while (el.timeline.children.length > MAX_TIMELINE_ITEMS) el.timeline.lastElementChild.remove();
  }

  // ---------------------------------------------------------------- send form

  function showHint(text) {
    el.messageHint.textContent = text;
    el.messageHint.hidden = !text;
    if (text) el.message.setAttribute('aria-invalid', 'true');
    else el.message.removeAttribute('aria-invalid');
  }

  function showResult(status, text, extra) {
    el.result.dataset.status = status;
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
      showHint('Please type a message first: an empty message is not sent.');
      el.message.focus();
      return;
    }
    showHint('');
    const channel = el.channel.value.trim() || 'system';
    const key = el.apiKey.value;
    const headers = { 'Accept': 'application/json' };
    if (key !== '') headers['X-API-Key'] = key;
    const body = new URLSearchParams();
    body.set('message', message);
    body.set('channel', channel);

    sending = true;
    el.send.disabled = true;
    el.form.setAttribute('aria-busy', 'true');
    showResult('pending', 'Sending…');
    try {
      const res = await fetch(SEND_URL, { method: 'POST', headers, body, cache: 'no-store' });
      let data = null;
      const text = await res.text();
      try { data = JSON.parse(text); } catch (_) { data = null; }
      if (res.ok && data && data.status === 'OK') {
        showResult('ok', 'Sent: id ' + data.id + ', recipients ' + data.recipients,
          { id: data.id, recipients: data.recipients, http: res.status });
        el.message.value = '';
      } else {
        const serverMsg = data && typeof data.message === 'string' && data.message
          ? data.message
          : (text.trim().slice(0, 300) || res.statusText || 'request failed');
        const code = data && data.code !== undefined ? data.code : undefined;
        showResult('error',
          'Error' + (code !== undefined ? ' ' + code : '') + ': ' + serverMsg + ' (HTTP ' + res.status + ')',
          { code, http: res.status });
      }
    } catch (err) {
      showResult('error', 'Network error: ' + (err && err.message ? err.message : String(err)));
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
    if (ev.key === 'Enter' && !ev.shiftKey && !ev.isComposing && !ev.altKey && !ev.ctrlKey && !ev.metaKey) {
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

  connect();
  pollStats();
})();
