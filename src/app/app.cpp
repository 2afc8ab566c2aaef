#include "wshub/app/app.hpp"

#include <unistd.h>

#include <filesystem>
#include <future>
#include <thread>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/thread_pool.hpp>

#include "wshub/app/access_from_config.hpp"
#include "wshub/app/logging.hpp"
#include "wshub/app/reload.hpp"
#include "wshub/app/systemd_notify.hpp"
#include "wshub/cache/memory_cache.hpp"
#include "wshub/cluster/redis_cluster.hpp"
#include "wshub/engine/workers.hpp"
#include "wshub/http/handlers.hpp"
#include "wshub/http/router.hpp"
#include "wshub/http/static_files.hpp"
#include "wshub/hub/connection_limit.hpp"
#include "wshub/hub/hub.hpp"
#include "wshub/net/http_session.hpp"
#include "wshub/net/listener.hpp"
#include "wshub/publish/publisher.hpp"
#include "wshub/security/token_verifier.hpp"
#include "wshub/store/message_log.hpp"
#include "wshub/util/host_name.hpp"
#include "wshub/ws/websocket_session.hpp"

namespace wshub::app {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

namespace {

store::log_settings log_settings_from(const config& cfg) {
  store::log_settings s;
  s.path = cfg.store_path();
  s.synchronous_full = cfg.store.synchronous == "full";
  s.retention_count = cfg.store.retention_count;
  s.retention_age = cfg.store.retention_age;
  s.max_pending = cfg.store.max_pending;
  return s;
}

ws::session_settings session_settings_from(const config& cfg) {
  const auto& w = cfg.websocket;
  return ws::session_settings{w.handshake_timeout, w.idle_timeout,   w.close_timeout,
                              w.read_buffer_size,  w.max_message_size, w.max_queue_bytes,
                              w.max_channels,      w.max_resume_messages, w.compression,
                              w.compression_min_bytes, w.subprotocols};
}

std::unique_ptr<store::message_log> open_log(const config& cfg) {
  std::filesystem::create_directories(cfg.data_dir);
  return std::make_unique<store::message_log>(log_settings_from(cfg));
}

// Start-up only: throws (with OpenSSL's reason) when the files cannot be loaded.
std::unique_ptr<asio::ssl::context> make_tls_context(const config::tls_section& cfg) {
  auto ctx = std::make_unique<asio::ssl::context>(asio::ssl::context::tls_server);
  ctx->set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_sslv2 |
                   asio::ssl::context::no_sslv3 | asio::ssl::context::no_tlsv1 | asio::ssl::context::no_tlsv1_1 |
                   asio::ssl::context::single_dh_use);
  ctx->use_certificate_chain_file(cfg.cert);
  ctx->use_private_key_file(cfg.key, asio::ssl::context::pem);
  return ctx;
}

// The configured node id, or <hostname>:<port> (<hostname>-<pid> when the port is chosen at
// start-up).
std::string node_id_from(const config& cfg) {
  if (!cfg.cluster.node_id.empty()) return cfg.cluster.node_id;
  char host[256] = {};
  if (gethostname(host, sizeof host - 1) != 0 || host[0] == 0) std::snprintf(host, sizeof host, "wshub");
  return cfg.listen.port != 0 ? std::string(host) + ":" + std::to_string(cfg.listen.port)
                              : std::string(host) + "-" + std::to_string(getpid());
}

// In a cluster, connection ids carry the node: its 20-bit number above 32 bits of sequence, so
// ids are unique across nodes and stay exact in JavaScript (< 2^53).
hub::conn_id first_connection_id(const config& cfg, const std::string& node_id) {
  if (cfg.cache.type != "redis") return 1;
  return (static_cast<hub::conn_id>(cluster::node_number(node_id)) << 32) | 1;
}

cluster::redis_settings redis_settings_from(const config& cfg) {
  const auto& r = cfg.cache.redis;
  return {r.host,           r.port,           r.unix_socket, r.database,      r.username,
          r.password,       r.connect_timeout, r.command_timeout, r.prefix, r.stream_max_len};
}

}  // namespace

// Declaration order is construction order: services before the things that use them.
struct app::parts {
  parts(const config& c, std::optional<config_source> source)
      : cfg(c),
        logs(make_loggers(c.log)),
        log(open_log(c)),
        cache({c.cache.recent_per_channel, c.cache.memory.max_bytes, c.cache.memory.max_channels}, log->last_id()),
        node_id(node_id_from(c)),
        hub(c.effective_io_threads(), first_connection_id(c, node_id)),
        publisher(*log, cache, hub, counters),
        cluster(make_cluster()),
        blocking(2),
        files(c.http.web_dir),
        access(make_access_rules(c, nullptr)),
        router({publisher, hub, counters, *log, files, logs.http, run_blocking(),
                {c.publish.max_message_bytes, c.publish.username, c.publish.default_channel, c.websocket.max_channels,
                 c.publish.max_batch},
                &access, cluster.get(), &cache}),
        websocket{nullptr, counters, *log, cache, logs.ws, util::blocking_reads(run_blocking()), session_settings_from(c)},
        http{router,
             &websocket,
             access,
             {},
             counters,
             logs.http,
             {c.http.header_limit, c.http.body_limit, c.http.request_timeout, c.http.keep_alive_timeout},
             {c.publish.default_channel, c.websocket.max_channels, c.websocket.user_from_query}},
        io(c.effective_io_threads()),
        limit(c.http.max_connections, c.http.max_connections_per_ip),
        signals(io.first().ioc),
        ticker(io.first().ioc),
        shutdown_timer(io.first().ioc),
        hangups(io.first().ioc),
        watchdog_timer(io.first().ioc),
        config_reloader(c, std::move(source), {logs, access, limit, counters}) {
    if (cluster) websocket.node = node_id;
    // By the rules in force when the socket asks, which a reload may have replaced since it
    // connected.
    websocket.verify_token = [this](std::string_view token, std::string& error) -> std::optional<security::token_claims> {
      const auto rules = access.current();
      if (!rules->tokens.enabled()) {
        error = "connection tokens are no longer accepted";
        return std::nullopt;
      }
      return rules->tokens.verify(token, error);
    };
    std::vector<asio::io_context*> contexts;
    for (std::size_t i = 0; i < io.size(); ++i) {
      auto& w = io.at(i);
      contexts.push_back(&w.ioc);
      auto& s = *per_worker.emplace_back(std::make_unique<worker_services>(worker_services{websocket, http}));
      s.websocket.writes = &w.writes;
      s.websocket.timers = &w.timers;
      auto& shard = hub.shard(i);
      s.websocket.registry = &shard;
      w.writes.sends().count_into(shard);
      // A job of the hub on a worker (a delivery, and the answers of its publishes) runs in a pass
      // of the worker's send ring: the answers it writes reach the kernel in one system call.
      hub.set_owner(i, [&w](std::function<void()> job) {
        asio::post(w.ioc, [&w, job = std::move(job)] {
          const ws::send_pass pass(w.writes.sends());
          job();
        });
      });
      asio::post(w.ioc, [&shard] { shard.bind_owner(); });  // the worker's first handler
    }
    for (auto& s : per_worker) s->http.websocket = &s->websocket;
    // Answers are paced by the writes of every worker (publish.answer_ahead, counted across them).
    publisher.pace_answers([this](std::function<void()> then) { io.after_flushed(std::move(then)); },
                           c.publish.answer_ahead);
    if (!c.tls.cert.empty()) tls = make_tls_context(c.tls);
    const tcp::endpoint endpoint(asio::ip::make_address(c.listen.address), c.listen.port);
    listener = std::make_shared<net::listener>(io.first().ioc, endpoint, logs.http,
                                               [this](tcp::socket&& socket, std::size_t index) {
                                                 accepted(std::move(socket), index);
                                               },
                                               std::move(contexts));
    http.site = {tls != nullptr, endpoint.address().is_loopback(), listener->local_endpoint().port()};
    for (auto& w : per_worker) w->http.site = http.site;
  }

  // On worker `index`'s thread, which `socket` is bound to: the worker makes its session.
  void accepted(tcp::socket&& socket, std::size_t index) {
    boost::system::error_code ec;
    const auto remote = socket.remote_endpoint(ec);
    auto [slot, refused] = limit.try_acquire(ec ? std::string() : remote.address().to_string());
    // A refused connection is answered (503 or 429) at once and closed (net::http_session).
    if (!slot) counters.refused(hub::refusal_reason::connection_limit);
    auto& services = per_worker[index]->http;
    if (tls)
      std::make_shared<net::http_session<ws::tls_stream>>(ws::tls_stream(std::move(socket), *tls), services,
                                                          std::move(slot), refused)
          ->run();
    else
      std::make_shared<net::http_session<ws::plain_stream>>(ws::plain_stream(std::move(socket)), services,
                                                            std::move(slot), refused)
          ->run();
  }

  config cfg;
  loggers logs;
  hub::counters counters;
  std::unique_ptr<store::message_log> log;
  cache::memory_cache cache;
  std::string node_id;
  hub::hub hub;  // one registry per worker
  publish::publisher publisher;
  std::unique_ptr<cluster::redis_cluster> cluster;  // set when cache.type is redis
  asio::thread_pool blocking;  // store reads (history, resume), off the workers
  http::static_files files;
  http::live_access access;  // replaced by a reload
  http::router router;
  ws::session_services websocket;  // the template of every worker's services
  net::http_services http;
  // Each worker's copy of the services, pointing to its write scheduler. Before `io`: sessions
  // still queued in a worker's io_context when it is destroyed hold a reference to them.
  struct worker_services {
    ws::session_services websocket;
    net::http_services http;
  };
  std::vector<std::unique_ptr<worker_services>> per_worker;
  engine::workers io;
  std::unique_ptr<asio::ssl::context> tls;  // set when tls.cert and tls.key are
  hub::connection_limit limit;
  // The timers and signal sets below belong to the first worker: a stop (which cancels them)
  // never runs beside one of their handlers (which re-arms it).
  asio::signal_set signals;
  asio::steady_timer ticker;          // once a second: message rate
  asio::steady_timer shutdown_timer;  // polls for sockets to drain while stopping
  asio::signal_set hangups;           // SIGHUP: reload the configuration
  asio::steady_timer watchdog_timer;  // systemd's watchdog pings
  reloader config_reloader;
  std::shared_ptr<net::listener> listener;
  std::atomic<bool> started{false};   // set by start() before the workers exist
  std::atomic<bool> stopping{false};
  std::uint64_t last_published = 0;  // ticker only

  std::unique_ptr<cluster::redis_cluster> make_cluster() {
    if (cfg.cache.type != "redis") return nullptr;
    cluster::cluster_hooks hooks;
    hooks.store = [this](std::vector<cluster::sequenced_message>& batch) { return publisher.store_sequenced(batch); };
    hooks.close_connection = [this](std::uint64_t id) { hub.close(id, ws::close_by_operator, "closed by the operator"); };
    hooks.stats = [this] {
      cluster::node_stats s;
      s.connections = hub.connection_count();
      s.subscriptions = hub.subscription_count();
      s.deliveries = hub.deliveries();
      s.published = publisher.acknowledged();
      s.last_id = log->last_id();
      return s;
    };
    // Asks every worker for its connections (and waits, on the cluster's writer thread) only when
    // the registries changed since the last heartbeat. A worker that does not answer within a
    // second (stopping) leaves the list in Redis as it was.
    hooks.connections = [this, written = std::uint64_t{0}](bool force) mutable -> std::optional<nlohmann::json> {
      const auto changes = hub.changes();
      if (!force && written == changes) return std::nullopt;
      auto listed = std::make_shared<std::promise<std::vector<hub::connection_view>>>();
      auto views = listed->get_future();
      hub.list(0, SIZE_MAX, [listed](std::vector<hub::connection_view> v) { listed->set_value(std::move(v)); });
      if (views.wait_for(std::chrono::seconds(1)) != std::future_status::ready) return std::nullopt;
      written = changes;
      auto list = nlohmann::json::array();
      for (const auto& v : views.get()) list.push_back(http::handlers::connection_json(v, node_id));
      return list;
    };
    hooks.last_id = [this] { return log->last_id(); };
    hooks.presence = [this](const hub::presence_change& change) { hub.tell_watchers(change); };
    auto made = std::make_unique<cluster::redis_cluster>(redis_settings_from(cfg), node_id, std::move(hooks), counters,
                                                         logs.app);
    publisher.use_cluster(*made, cfg.cluster.confirm_timeout);
    hub.set_presence_relay(made.get());
    return made;
  }

  std::function<void(std::function<void()>)> run_blocking() {
    return [this](std::function<void()> job) { asio::post(blocking, std::move(job)); };
  }

  void tick() {
    ticker.expires_after(std::chrono::seconds(1));
    ticker.async_wait([this](boost::system::error_code ec) {
      if (ec) return;
      const auto published = counters.published.load(std::memory_order_relaxed);
      counters.messages_per_second.store(static_cast<double>(published - last_published), std::memory_order_relaxed);
      last_published = published;
      publisher.expire_unconfirmed();
      tick();
    });
  }

  // Pings at half the interval systemd asked for (WATCHDOG_USEC), so no ping is ever late; a
  // stalled io_context stops the pings and systemd restarts the service.
  void ping_watchdog(std::chrono::microseconds interval) {
    notify_watchdog();
    watchdog_timer.expires_after(interval / 2);
    watchdog_timer.async_wait([this, interval](boost::system::error_code ec) {
      if (!ec) ping_watchdog(interval);
    });
  }

  void wait_for_hangup() {
    hangups.async_wait([this](boost::system::error_code ec, int) {
      if (ec) return;
      logs.app->info("received SIGHUP: reloading the configuration");
      config_reloader.reload();
      wait_for_hangup();
    });
  }

  // Waits (without blocking a thread) for the sockets to close, at most until `deadline`.
  void drain(std::chrono::steady_clock::time_point deadline) {
    if (hub.connection_count() == 0 || std::chrono::steady_clock::now() >= deadline) return finish_stop();
    shutdown_timer.expires_after(std::chrono::milliseconds(20));
    shutdown_timer.async_wait([this, deadline](boost::system::error_code) { drain(deadline); });
  }

  void finish_stop() {
    if (cluster) cluster->stop();  // its reader stores into the log: stopped first
    log->stop();  // commits what was acknowledged-in-progress; later appends are refused
    ticker.cancel();
    watchdog_timer.cancel();
    logs.app->info("stopped");
    io.stop();
  }
};

app::app(const config& cfg, std::optional<config_source> source)
    : parts_(std::make_unique<parts>(cfg, std::move(source))) {}

app::~app() {
  stop();
  wait();
}

void app::start() {
  auto& p = *parts_;
  p.started = true;
  if (p.cluster) p.cluster->start();
  p.listener->run();
  p.tick();
  if (const auto interval = watchdog_interval(); interval.count() > 0) p.ping_watchdog(interval);
  // Logged and reported before the workers start, so no handler (a SIGHUP reload swapping the
  // log file, a stop) can run before these lines are in every sink: a reader that sees "listening
  // on" may rotate the log file or signal at once.
  const auto n = p.cfg.effective_io_threads();
  const auto where = net::endpoint_text(p.listener->local_endpoint());
  if (const auto& sends = p.io.first().writes.sends(); sends.used() == ws::send_ring::mode::io_uring)
    p.logs.app->info("socket writes go to the kernel in batches through io_uring");
  else
    p.logs.app->warn("io_uring is not available ({}): every socket write is its own system call",
                     sends.why_not_io_uring());
  p.logs.app->info("wshub {} listening on {} ({} workers, log {}, last id {})", WSHUB_VERSION, where, n,
                   p.cfg.store_path(), p.log->last_id());
  const bool open_publishing = p.access.current()->keys.empty();
  if (open_publishing && !util::is_loopback_host(p.cfg.listen.address))
    p.logs.app->warn("publishing is open to anyone who can reach {} (security.open_publishing)", where);
  if (open_publishing) p.logs.app->info("no publish keys: publishing is open on loopback");
  if (p.cluster) {
    const auto& r = p.cfg.cache.redis;
    p.logs.app->info("cluster node {} through Redis at {}", p.node_id,
                     r.unix_socket.empty() ? r.host + ":" + std::to_string(r.port) : r.unix_socket);
  }
  notify_ready("listening on " + where);
  p.io.start();
}

void app::stop() {
  auto& p = *parts_;
  if (p.stopping.exchange(true)) return;
  // Not `threads`: a stop may come from a signal handler on a worker while start() is still
  // making the others.
  if (!p.started) {  // never started
    p.log->stop();
    return;
  }
  asio::post(p.io.first().ioc, [&p] {
    notify_stopping();
    p.logs.app->info("stopping: closing {} sockets", p.hub.connection_count());
    p.listener->stop();
    p.signals.cancel();
    p.hangups.cancel();
    p.hub.close_all(1001, "server shutting down");
    p.drain(std::chrono::steady_clock::now() + p.cfg.shutdown_timeout);
  });
}

void app::wait() {
  parts_->io.join();
  // The pool's reads post their results to the workers' io_contexts: it is done before they go.
  parts_->blocking.join();
}

int app::run() {
  auto& p = *parts_;
  p.signals.add(SIGTERM);
  p.signals.add(SIGINT);
  p.signals.async_wait([this, &p](boost::system::error_code ec, int signo) {
    if (ec) return;
    p.logs.app->info("received signal {}", signo);
    stop();
  });
  p.hangups.add(SIGHUP);
  p.wait_for_hangup();
  start();
  wait();
  return 0;
}

bool app::reload() { return parts_->config_reloader.reload(); }

tcp::endpoint app::endpoint() const { return parts_->listener->local_endpoint(); }
const hub::counters& app::counters() const { return parts_->counters; }
std::size_t app::connection_count() const { return parts_->hub.connection_count(); }
cache::memory_cache::stats app::cache_stats() const { return parts_->cache.current(); }

}  // namespace wshub::app
