// wshub client: subscriptions over the wshub.v1 WebSocket protocol with reconnect, resume and
// exactly-once, in-order delivery; publish and history over HTTP. No dependencies; runs in
// browsers and in Node (pass a WebSocket constructor where there is no global one).
//
// Delivery contract: the application gets each message at most once and in id order (ids only
// grow), and, while a message stays inside the server's resume window, exactly once: after a
// disconnect the client reconnects with ?last_id=<last delivered id>, and the server replays
// what was missed before live messages. A replay that could not cover everything is reported
// with a 'resume' event whose `recovered` is false.

/**
 * A message as the server pushes it (docs/asyncapi.yaml, MessageFrame).
 * @typedef {object} MessageFrame
 * @property {'message'} type
 * @property {number} id increasing across all channels, never reused
 * @property {string} channel the first of the message's channels
 * @property {string[]} [channels] every channel, when it was sent to several
 * @property {string} username
 * @property {string} message
 * @property {string} time "YYYY-MM-DD HH:MM:SS"
 * @property {number} ts milliseconds since the epoch
 */
/**
 * @typedef {object} WelcomeFrame
 * @property {'welcome'} type
 * @property {number} conn_id
 * @property {string[]} channels
 * @property {number} last_id the newest id in the server's log when the socket joined
 * @property {string} [node]
 */
/**
 * @typedef {object} ResumeFrame
 * @property {'resume'} type
 * @property {boolean} recovered false when some missed messages were skipped or are past retention
 * @property {number} last_id
 * @property {unknown} [ref]
 */
/**
 * @typedef {object} AckFrame
 * @property {'ack'} type
 * @property {unknown} ref
 * @property {string} command
 * @property {string} [channel]
 */
/**
 * @typedef {object} ErrorFrame
 * @property {'error'} type
 * @property {unknown} ref
 * @property {number} code
 * @property {string} message
 */
/**
 * @typedef {object} PongFrame
 * @property {'pong'} type
 * @property {unknown} ref
 */
/**
 * A page of GET /api/tool/messages (docs/openapi.yaml).
 * @typedef {object} HistoryPage
 * @property {string} channel
 * @property {MessageFrame[]} messages
 * @property {boolean} has_more
 * @property {number} [next_after]
 * @property {number | null} [next_before]
 */
/** @typedef {MessageFrame | WelcomeFrame | ResumeFrame | AckFrame | ErrorFrame | PongFrame} ServerFrame */

/**
 * @typedef {'connecting' | 'open' | 'reconnecting' | 'closed'} ConnectionState
 * @typedef {object} StateEvent
 * @property {ConnectionState} state
 * @property {number} [code] the close code that led here
 * @property {string} [reason]
 * @property {number} [delay] milliseconds until the next attempt (reconnecting)
 * @property {number} [attempt] failed attempts since the last open
 * @typedef {object} ResumeEvent
 * @property {boolean} recovered
 * @property {number} lastId
 * @property {boolean} [reset] the server's log holds fewer ids than this client saw (a new log)
 */

/**
 * @typedef {object} ClientOptions
 * @property {string} [url] the server's HTTP base URL (default: the page's origin)
 * @property {string[]} [channels] channels of the first connection (none: the server's default channel)
 * @property {number} [lastId] resume after this id on the first connection (default: live messages only)
 * @property {() => (string | null | undefined | Promise<string | null | undefined>)} [getToken]
 *   a connection token, asked for before every (re)connection and when the token expires
 * @property {string} [key] publish key for publish() and history()
 * @property {'x-api-key' | 'authorization'} [keyHeader] how the key is sent (default X-API-Key)
 * @property {any} [WebSocket] a WebSocket constructor (default: globalThis.WebSocket)
 * @property {typeof fetch} [fetch] (default: globalThis.fetch)
 * @property {number} [minDelay] first reconnect delay, ms (default 500)
 * @property {number} [maxDelay] longest reconnect delay, ms (default 10000)
 * @property {number} [jitter] +- share of the delay picked at random (default 0.25)
 * @property {number} [refreshBefore] ms before a token's exp to refresh it (default 30000)
 */

export const PROTOCOL = 'wshub.v1';
export const SOCKET_PATH = '/socket/system/message';

/**
 * Frame types the server sends over wshub.v1 (checked against docs/asyncapi.yaml). `join` and
 * `leave` come only to a socket that subscribed with `presence: true`, which this client does not
 * ask for; it ignores them.
 */
export const SERVER_FRAME_TYPES = Object.freeze(['welcome', 'message', 'resume', 'ack', 'error', 'pong', 'join', 'leave']);
/** Commands this client sends (checked against docs/asyncapi.yaml). */
export const CLIENT_COMMANDS = Object.freeze(['subscribe', 'unsubscribe', 'ping', 'refresh']);

/**
 * What a close code means for the client: 'reconnect', or 'stop' (reported, no retry).
 * Codes not listed reconnect.
 * @type {Readonly<Record<number, 'reconnect' | 'stop'>>}
 */
export const CLOSE_ACTIONS = Object.freeze({
  1000: 'reconnect',  // the server only closes normally when asked to: reconnect to be safe
  1001: 'reconnect',  // the server is stopping
  1003: 'stop',       // this client sent a binary frame
  1007: 'stop',       // this client sent invalid UTF-8
  1008: 'reconnect',  // slow consumer: resume from the last id
  1009: 'stop',       // this client sent an over-long message
  4001: 'reconnect',  // closed by the operator
  4003: 'reconnect',  // the token expired: the next connection asks getToken for a new one
});

/** The HTTP statuses of a refused upgrade that stop the client (seen only where the WebSocket implementation reports them). */
const STOP_STATUSES = new Set([400, 401, 403, 404]);
/** The `error` frame code of a command the server does not know. */
const UNKNOWN_COMMAND = 10208;

/** An error answered by the server: an HTTP error body, an `error` frame or a refused socket. */
export class WshubError extends Error {
  /**
   * @param {string} message
   * @param {{code?: number, status?: number, closeCode?: number, channel?: string}} [info]
   */
  constructor(message, info = {}) {
    super(message);
    this.name = 'WshubError';
    /** wshub's numeric error code (docs/API.md), when the server gave one */
    this.code = info.code;
    /** HTTP status (publish, history, refused upgrade) */
    this.status = info.status;
    /** WebSocket close code */
    this.closeCode = info.closeCode;
    this.channel = info.channel;
  }
}

/**
 * @typedef {object} Pending
 * @property {'subscribe' | 'unsubscribe' | 'refresh'} command
 * @property {string} [channel]
 * @property {(v?: any) => void} resolve
 * @property {(e: Error) => void} reject
 */

export class WshubClient {
  /** @param {ClientOptions} [options] */
  constructor(options = {}) {
    const origin = /** @type {any} */ (globalThis).location?.origin;
    const url = options.url ?? origin;
    if (!url) throw new TypeError('wshub: options.url is required outside a page');
    /** @private */ this.base_ = String(url).replace(/\/+$/, '');
    /** @private */ this.options_ = options;
    /** @private */ this.WebSocket_ = options.WebSocket ?? /** @type {any} */ (globalThis).WebSocket;
    if (typeof this.WebSocket_ !== 'function') throw new TypeError('wshub: no WebSocket: pass options.WebSocket (e.g. from the ws package)');
    /** Channels whose subscription the server confirmed (sent in the URL when reconnecting). @private @type {Set<string>} */
    this.confirmed_ = new Set(options.channels ?? []);
    /** Channels asked for but not yet confirmed (sent as commands once a socket is open). @private @type {Map<string, Pending[]>} */
    this.wanted_ = new Map();
    /** @private @type {Map<number, Pending>} */ this.pending_ = new Map();
    /** @private */ this.nextRef_ = 1;
    /** Id of the last message delivered to the application (0: none yet). */
    this.lastId = options.lastId ?? 0;
    /** @private */ this.resumeFrom_ = options.lastId !== undefined;
    /** @private @type {any} */ this.ws_ = null;
    /** @private @type {ReturnType<typeof setTimeout> | null} */ this.timer_ = null;
    /** @private @type {ReturnType<typeof setTimeout> | null} */ this.refreshTimer_ = null;
    /** @private */ this.attempt_ = 0;
    /** @private */ this.stopped_ = true;
    /** @private */ this.reopenNow_ = false;
    /** @private @type {string | null | undefined} */ this.token_ = null;
    /** A token to use for the next connection instead of asking getToken. @private @type {string | null | undefined} */
    this.nextToken_ = null;
    /** @type {ConnectionState} */ this.state = 'closed';
    /** The URL of the latest connection attempt ('' before the first). */
    this.url = '';
    /** Connection id given by the server's welcome frame. @type {number | null} */ this.connId = null;
    /** Counters: messages delivered, repeats dropped (ids already delivered), reconnections, token refreshes. */
    this.stats = { delivered: 0, duplicates: 0, reconnects: 0, refreshes: 0 };
    /** @private @type {Map<string, Set<Function>>} */ this.listeners_ = new Map();
    /** @private @type {{resolve: (v?: any) => void, reject: (e: Error) => void}[]} */ this.waiters_ = [];
  }

  /**
   * Listens to 'message' (MessageFrame), 'state' (StateEvent), 'error' (WshubError),
   * 'resume' (ResumeEvent). Returns a function that removes the listener.
   * @overload
   * @param {'message'} type
   * @param {(m: MessageFrame) => void} fn
   * @returns {() => void}
   */
  /**
   * @overload
   * @param {'state'} type
   * @param {(s: StateEvent) => void} fn
   * @returns {() => void}
   */
  /**
   * @overload
   * @param {'error'} type
   * @param {(e: WshubError) => void} fn
   * @returns {() => void}
   */
  /**
   * @overload
   * @param {'resume'} type
   * @param {(r: ResumeEvent) => void} fn
   * @returns {() => void}
   */
  /**
   * @param {string} type
   * @param {Function} fn
   * @returns {() => void}
   */
  on(type, fn) {
    let set = this.listeners_.get(type);
    if (!set) this.listeners_.set(type, (set = new Set()));
    set.add(fn);
    return () => { set.delete(fn); };
  }

  /** @private @param {string} type @param {unknown} value */
  emit_(type, value) {
    for (const fn of [...(this.listeners_.get(type) ?? [])]) {
      try { fn(value); } catch (err) { queueMicrotask(() => { throw err; }); }
    }
  }

  /**
   * Opens the connection (and keeps it open until close()). Resolves once the server welcomed
   * the socket; rejects if the client stops first.
   * @returns {Promise<void>}
   */
  connect() {
    const ready = new Promise((resolve, reject) => this.waiters_.push({ resolve, reject }));
    if (this.stopped_) {
      this.stopped_ = false;
      this.attempt_ = 0;
      this.open_();
    } else if (this.state === 'open') {
      this.settleWaiters_(null);
    }
    return /** @type {Promise<void>} */ (ready);
  }

  /** Closes the connection for good; pending subscribe/unsubscribe promises are rejected. */
  close() {
    this.stop_(new WshubError('closed by the application', { closeCode: 1000 }), 1000, 'closed by the application', false);
  }

  /**
   * Receives `channel` from now on (on this and every later connection). Resolves on the
   * server's ack; rejects on its error (e.g. code 10104: the token does not allow the channel).
   * @param {string} channel
   * @returns {Promise<void>}
   */
  subscribe(channel) {
    if (this.confirmed_.has(channel)) return Promise.resolve();
    return new Promise((resolve, reject) => {
      /** @type {Pending} */
      const p = { command: 'subscribe', channel, resolve, reject };
      const list = this.wanted_.get(channel);
      if (list) return void list.push(p);
      this.wanted_.set(channel, [p]);
      if (this.welcomed_()) this.sendSubscribe_(channel);
    });
  }

  /**
   * Stops receiving `channel`. Resolves on the server's ack (at once when not connected).
   * @param {string} channel
   * @returns {Promise<void>}
   */
  unsubscribe(channel) {
    const waiting = this.wanted_.get(channel);
    if (waiting) {
      this.wanted_.delete(channel);
      for (const p of waiting) p.reject(new WshubError(`unsubscribed from ${channel} before the subscription was confirmed`, { channel }));
    }
    const wasConfirmed = this.confirmed_.delete(channel);
    if (!wasConfirmed || !this.welcomed_()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      this.command_({ type: 'unsubscribe', channel }, { command: 'unsubscribe', channel, resolve, reject });
    });
  }

  /** The channels this client receives or asked for. */
  get channels() {
    return [...new Set([...this.confirmed_, ...this.wanted_.keys()])];
  }

  /**
   * Publishes over HTTP. Resolves with the server's answer once the message is durably stored.
   * @param {string | {message: string, channel?: string, channels?: string[], to_conn?: number, to_user?: string}} what
   * @param {{json?: boolean, key?: string, signal?: AbortSignal}} [opts] json: send a JSON body
   *   (default: a form); key: this request's publish key instead of options.key
   * @returns {Promise<{status: 'OK', id: number, recipients: number}>}
   */
  async publish(what, opts = {}) {
    const fields = typeof what === 'string' ? { message: what } : what;
    /** @type {Record<string, string>} */
    const headers = {};
    /** @type {string | URLSearchParams} */
    let body;
    if (opts.json) {
      headers['Content-Type'] = 'application/json';
      body = JSON.stringify(fields);
    } else {
      const form = new URLSearchParams();
      for (const [k, v] of Object.entries(fields)) {
        if (v === undefined || v === null) continue;
        for (const item of Array.isArray(v) ? v : [v]) form.append(k, String(item));
      }
      body = form;
    }
    return this.http_('/api/tool/send_message', { method: 'POST', headers, body, signal: opts.signal }, opts.key);
  }

  /**
   * The stored messages of a channel, one page per step, oldest first (or newest first with
   * order 'desc'), between the ids `after` and `before` (exclusive):
   * `for await (const page of client.history('news')) for (const m of page.messages) ...`
   * @param {string} channel
   * @param {{after?: number, before?: number, order?: 'asc' | 'desc', limit?: number, key?: string, signal?: AbortSignal}} [opts]
   *   key: this request's publish key instead of options.key (reading needs one when the server has keys)
   * @returns {AsyncGenerator<HistoryPage>}
   */
  async *history(channel, opts = {}) {
    const desc = opts.order === 'desc';
    let after = opts.after ?? 0;
    let before = opts.before;
    for (;;) {
      const q = new URLSearchParams({ channel });
      if (after > 0 || !desc) q.set('after', String(after));
      if (before !== undefined) q.set('before', String(before));
      if (desc) q.set('order', 'desc');
      if (opts.limit !== undefined) q.set('limit', String(opts.limit));
      /** @type {HistoryPage} */
      const page = await this.http_(`/api/tool/messages?${q}`, { method: 'GET', signal: opts.signal }, opts.key ?? this.options_.key);
      yield page;
      if (!page.has_more || page.messages.length === 0) return;
      if (desc) before = page.messages[page.messages.length - 1].id;
      else after = page.messages[page.messages.length - 1].id;
    }
  }

  /** Ends the wait before the next reconnection attempt (e.g. when the network is back). */
  retryNow() {
    if (this.timer_ === null || this.stopped_) return;
    clearTimeout(this.timer_);
    this.open_();
  }

  // ------------------------------------------------------------------ internals

  /**
   * @private
   * @param {string} path
   * @param {{method: string, headers?: Record<string, string>, body?: any, signal?: AbortSignal}} init
   * @param {string} [key]
   */
  async http_(path, init, key = this.options_.key) {
    const f = this.options_.fetch ?? globalThis.fetch;
    /** @type {Record<string, string>} */
    const headers = { Accept: 'application/json', ...init.headers };
    if (key) {
      if (this.options_.keyHeader === 'authorization') headers.Authorization = `Bearer ${key}`;
      else headers['X-API-Key'] = key;
    }
    const res = await f(this.base_ + path, { ...init, headers });
    const text = await res.text();
    let data = null;
    try { data = JSON.parse(text); } catch { /* not JSON */ }
    if (!res.ok) {
      const message = data && typeof data.message === 'string' ? data.message : text.slice(0, 300) || res.statusText;
      throw new WshubError(message, { status: res.status, code: data?.code });
    }
    if (data === null) throw new WshubError(`answer is not JSON: ${text.slice(0, 100)}`, { status: res.status });
    return data;
  }

  /** @private */
  welcomed_() { return this.state === 'open'; }

  /** @private */
  socketUrl_() {
    const q = new URLSearchParams();
    for (const c of this.confirmed_) q.append('channel', c);
    if (this.resumeFrom_) q.set('last_id', String(this.lastId));
    const qs = q.toString();
    return this.base_.replace(/^http/, 'ws') + SOCKET_PATH + (qs ? `?${qs}` : '');
  }

  /** @private */
  async open_() {
    this.timer_ = null;
    this.setState_(this.stats.reconnects > 0 || this.attempt_ > 0 ? 'reconnecting' : 'connecting', { attempt: this.attempt_ });
    let token = this.nextToken_;
    this.nextToken_ = null;
    try {
      if (!token && this.options_.getToken) token = await this.options_.getToken();
    } catch (err) {
      this.emit_('error', new WshubError(`getToken failed: ${err instanceof Error ? err.message : err}`));
      return this.retry_(undefined, 'getToken failed');
    }
    if (this.stopped_) return;
    const protocols = token ? [PROTOCOL, `bearer.${token}`] : [PROTOCOL];
    this.url = this.socketUrl_();
    /** @type {any} */
    let ws;
    try {
      ws = new this.WebSocket_(this.url, protocols);
    } catch (err) {
      return this.stop_(new WshubError(`cannot open a WebSocket: ${err instanceof Error ? err.message : err}`), undefined, undefined, true);
    }
    this.ws_ = ws;
    this.token_ = token;
    /** @type {number | undefined} */
    let refusedStatus;
    ws.addEventListener('open', () => {
      if (this.ws_ !== ws) return;
      if (ws.protocol !== PROTOCOL) {
        this.stop_(new WshubError(`the server did not accept the ${PROTOCOL} subprotocol`), undefined, undefined, true);
      }
    });
    ws.addEventListener('message', (/** @type {{data: unknown}} */ ev) => {
      if (this.ws_ !== ws || typeof ev.data !== 'string') return;
      let frame;
      try { frame = JSON.parse(ev.data); } catch { return; }
      if (frame && typeof frame === 'object') this.onFrame_(frame);
    });
    ws.addEventListener('error', (/** @type {{message?: string}} */ ev) => {
      // Browsers say nothing about a refused upgrade; the ws package names the HTTP status.
      const m = /Unexpected server response: (\d{3})/.exec(ev?.message ?? '');
      if (m) refusedStatus = Number(m[1]);
    });
    ws.addEventListener('close', (/** @type {{code: number, reason: string}} */ ev) => {
      if (this.ws_ !== ws) return;
      this.ws_ = null;
      this.onClose_(ev.code, ev.reason, refusedStatus);
    });
  }

  /** @private @param {number} code @param {string} reason @param {number | undefined} refusedStatus */
  onClose_(code, reason, refusedStatus) {
    this.clearRefresh_();
    if (refusedStatus !== undefined && STOP_STATUSES.has(refusedStatus)) {
      const why = refusedStatus === 401 ? 'the server refused the token' : refusedStatus === 403 ? 'forbidden (a channel or the origin is not allowed)' : `the server refused the connection`;
      return this.stop_(new WshubError(`${why} (HTTP ${refusedStatus})`, { status: refusedStatus, closeCode: code }), code, reason, true);
    }
    if (CLOSE_ACTIONS[code] === 'stop') {
      return this.stop_(new WshubError(`closed by the server: ${code} ${reason}`, { closeCode: code }), code, reason, true);
    }
    if (this.reopenNow_) {  // a planned reconnection: no delay
      this.attempt_ = -1;
      reason = 'token refresh';
    }
    this.reopenNow_ = false;
    this.retry_(code, reason);
  }

  /** @private @param {number | undefined} code @param {string} reason */
  retry_(code, reason) {
    if (this.stopped_) return;
    const o = this.options_;
    const min = o.minDelay ?? 500, max = o.maxDelay ?? 10000, jitter = o.jitter ?? 0.25;
    const base = this.attempt_ < 0 ? 0 : Math.min(max, min * 2 ** Math.min(this.attempt_, 30));
    const delay = Math.max(0, Math.round(base * (1 + jitter * (Math.random() * 2 - 1))));
    this.attempt_ = Math.max(0, this.attempt_) + 1;
    this.stats.reconnects += 1;
    this.setState_('reconnecting', { code, reason, delay, attempt: this.attempt_ });
    this.timer_ = setTimeout(() => this.open_(), delay);
  }

  /**
   * @private
   * @param {WshubError} error
   * @param {number | undefined} code
   * @param {string | undefined} reason
   * @param {boolean} report emit the error (false: the application asked to close)
   */
  stop_(error, code, reason, report) {
    if (this.stopped_ && this.state === 'closed') return;
    this.stopped_ = true;
    if (this.timer_ !== null) clearTimeout(this.timer_);
    this.timer_ = null;
    this.clearRefresh_();
    const ws = this.ws_;
    this.ws_ = null;
    if (ws && ws.readyState <= 1) { try { ws.close(1000); } catch { /* closing anyway */ } }
    for (const p of this.pending_.values()) p.reject(error);
    this.pending_.clear();
    for (const [, list] of this.wanted_) for (const p of list) p.reject(error);
    this.wanted_.clear();
    if (report) this.emit_('error', error);
    this.setState_('closed', { code, reason });
    this.settleWaiters_(error);
  }

  /** @private @param {Error | null} error */
  settleWaiters_(error) {
    const waiters = this.waiters_;
    this.waiters_ = [];
    for (const w of waiters) error ? w.reject(error) : w.resolve();
  }

  /** @private @param {ConnectionState} state @param {Omit<StateEvent, 'state'>} [detail] */
  setState_(state, detail = {}) {
    this.state = state;
    /** @type {Record<string, unknown>} */
    const event = { state };
    for (const [k, v] of Object.entries(detail)) if (v !== undefined) event[k] = v;
    this.emit_('state', event);
  }

  /** @private @param {Record<string, any>} frame */
  onFrame_(frame) {
    switch (frame.type) {
      case 'message': return this.onMessage_(/** @type {MessageFrame} */ (frame));
      case 'welcome': return this.onWelcome_(/** @type {WelcomeFrame} */ (frame));
      case 'resume': {
        /** @type {ResumeEvent} */
        const r = { recovered: frame.recovered === true, lastId: frame.last_id };
        if (!r.recovered) this.emit_('error', new WshubError('some missed messages could not be replayed (outside the resume window)'));
        return this.emit_('resume', r);
      }
      case 'ack':
      case 'error': return this.onAnswer_(/** @type {AckFrame | ErrorFrame} */ (frame));
      default: return;  // 'pong', 'join', 'leave' and frame types of later versions
    }
  }

  /** @private @param {MessageFrame} m */
  onMessage_(m) {
    if (!Number.isSafeInteger(m.id)) return;
    if (m.id <= this.lastId) {
      this.stats.duplicates += 1;
      return;
    }
    this.lastId = m.id;
    this.resumeFrom_ = true;
    this.stats.delivered += 1;
    this.emit_('message', m);
  }

  /** @private @param {WelcomeFrame} w */
  onWelcome_(w) {
    this.connId = w.conn_id;
    this.attempt_ = 0;
    this.confirmed_ = new Set(w.channels);
    if (!this.resumeFrom_) {
      // Live only: nothing up to the log's end at join time is owed; resume from there next time.
      this.lastId = Math.max(this.lastId, w.last_id);
      this.resumeFrom_ = true;
    } else if (w.last_id < this.lastId && w.node === undefined) {
      // One node whose log ends before ids this client delivered: it is a new log (the data was
      // reset). In a cluster a node's log may lag the others' by a moment, so it proves nothing.
      this.lastId = w.last_id;
      this.emit_('resume', /** @type {ResumeEvent} */ ({ recovered: false, lastId: w.last_id, reset: true }));
      this.emit_('error', new WshubError('the server\'s message log was reset; ids start over'));
    }
    this.setState_('open');
    for (const channel of this.confirmed_) {
      const list = this.wanted_.get(channel);
      this.wanted_.delete(channel);
      for (const p of list ?? []) p.resolve();
    }
    // Commands that were in flight on the lost socket are asked again on this one.
    const unanswered = [...this.pending_.values()];
    this.pending_.clear();
    for (const p of unanswered) {
      if (p.command === 'unsubscribe') p.resolve();  // the new socket was never subscribed
      else if (p.command === 'refresh') p.resolve();  // the new socket got a fresh token
      else if (p.channel !== undefined && !this.wanted_.has(p.channel)) this.wanted_.set(p.channel, [p]);
    }
    for (const channel of this.wanted_.keys()) this.sendSubscribe_(channel);
    this.scheduleRefresh_();
    this.settleWaiters_(null);
  }

  /** @private @param {string} channel */
  sendSubscribe_(channel) {
    const list = this.wanted_.get(channel) ?? [];
    this.command_({ type: 'subscribe', channel }, {
      command: 'subscribe', channel,
      resolve: () => {
        if (this.wanted_.get(channel) !== list) {
          // unsubscribe() came while the subscription was in flight: undo it on the server.
          if (!this.wanted_.has(channel) && !this.confirmed_.has(channel) && this.welcomed_()) {
            this.command_({ type: 'unsubscribe', channel }, { command: 'unsubscribe', channel, resolve: () => {}, reject: () => {} });
          }
          return;
        }
        this.wanted_.delete(channel);
        this.confirmed_.add(channel);
        for (const p of list) p.resolve();
      },
      reject: (err) => {
        if (this.wanted_.get(channel) !== list) return;
        this.wanted_.delete(channel);
        for (const p of list) p.reject(err);
        this.emit_('error', err);
      },
    });
  }

  /** @private @param {Record<string, unknown>} command @param {Pending} p */
  command_(command, p) {
    const ref = this.nextRef_++;
    this.pending_.set(ref, p);
    try {
      this.ws_.send(JSON.stringify({ ...command, ref }));
    } catch { /* the socket is closing: the command is asked again after the reconnect */ }
  }

  /** @private @param {AckFrame | ErrorFrame} frame */
  onAnswer_(frame) {
    const p = typeof frame.ref === 'number' ? this.pending_.get(frame.ref) : undefined;
    if (!p) {
      if (frame.type === 'error') this.emit_('error', new WshubError(frame.message, { code: frame.code }));
      return;
    }
    this.pending_.delete(/** @type {number} */ (frame.ref));
    if (frame.type === 'ack') p.resolve();
    else p.reject(new WshubError(frame.message, { code: frame.code, channel: p.channel }));
  }

  // ------------------------------------------------------------------ token refresh

  /** @private */
  clearRefresh_() {
    if (this.refreshTimer_ !== null) clearTimeout(this.refreshTimer_);
    this.refreshTimer_ = null;
  }

  /**
   * A live socket's token is replaced before it expires: with the `refresh` command where the
   * server knows it, else by a planned reconnection with the new token (resumed from the last id,
   * so nothing is lost or repeated). A server that closes a socket whose token expired gets a new
   * connection, with a new token, like any other close.
   * @private
   */
  scheduleRefresh_() {
    this.clearRefresh_();
    const exp = tokenExpiry(this.token_);
    if (exp === null || !this.options_.getToken) return;
    const wait = Math.max(0, exp * 1000 - Date.now() - (this.options_.refreshBefore ?? 30000));
    // setTimeout's longest delay is 2^31-1 ms; a later refresh is planned again on the way.
    this.refreshTimer_ = setTimeout(() => this.refresh_(), Math.min(wait, 2 ** 31 - 1));
  }

  /** @private */
  async refresh_() {
    this.refreshTimer_ = null;
    const ws = this.ws_;
    let token;
    try {
      token = await this.options_.getToken?.();
    } catch (err) {
      return this.emit_('error', new WshubError(`getToken failed: ${err instanceof Error ? err.message : err}`));
    }
    if (!token || this.ws_ !== ws || !this.welcomed_()) return;
    this.token_ = token;
    new Promise((resolve, reject) => this.command_({ type: 'refresh', token }, { command: 'refresh', resolve, reject }))
      .then(() => {
        this.stats.refreshes += 1;
        this.scheduleRefresh_();
      }, (err) => {
        if (err.code !== UNKNOWN_COMMAND) return this.emit_('error', err);
        if (this.ws_ !== ws) return;
        this.stats.refreshes += 1;
        this.reopenNow_ = true;
        this.nextToken_ = token;
        ws.close(1000, 'token refresh');
      });
  }
}

/**
 * The `exp` claim of a JWT in seconds, or null (not a JWT, or no exp). The token is not verified:
 * this only tells when to ask for a new one.
 * @param {string | null | undefined} token
 * @returns {number | null}
 */
export function tokenExpiry(token) {
  const part = typeof token === 'string' ? token.split('.')[1] : undefined;
  if (!part) return null;
  try {
    const text = atob(part.replace(/-/g, '+').replace(/_/g, '/').padEnd(Math.ceil(part.length / 4) * 4, '='));
    const exp = JSON.parse(text).exp;
    return typeof exp === 'number' ? exp : null;
  } catch {
    return null;
  }
}
