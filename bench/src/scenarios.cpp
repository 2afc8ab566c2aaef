#include "scenarios.hpp"

#include <sys/resource.h>

#include <algorithm>
#include <fstream>
#include <optional>
#include <sstream>

#include "http_publisher.hpp"
#include "report.hpp"
#include "subscribers.hpp"

namespace wshub::bench {

namespace {

constexpr std::int64_t ns_per_s = 1'000'000'000;
constexpr std::int64_t result_grace_ns = 5 * ns_per_s;  // children report this long after the drain at most

std::int64_t seconds_ns(double s) { return static_cast<std::int64_t>(s * 1e9); }

// The server's memory and CPU time from /proc/PID (nothing without a pid).
class server_probe {
 public:
  explicit server_probe(int pid) : pid_(pid) {}

  // A "Key:   123 kB" line of /proc/PID/status, in KiB.
  std::optional<std::uint64_t> status_kib(const std::string& key) const {
    if (pid_ <= 0) return std::nullopt;
    std::ifstream in("/proc/" + std::to_string(pid_) + "/status");
    for (std::string line; std::getline(in, line);)
      if (line.rfind(key + ":", 0) == 0) return std::stoull(line.substr(key.size() + 1));
    return std::nullopt;
  }

  // utime + stime of all the server's threads.
  std::optional<double> cpu_seconds() const {
    if (pid_ <= 0) return std::nullopt;
    std::ifstream in("/proc/" + std::to_string(pid_) + "/stat");
    std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    const auto paren = stat.rfind(')');
    if (paren == std::string::npos) return std::nullopt;
    std::istringstream fields(stat.substr(paren + 2));
    std::string skip;
    for (int i = 0; i < 11; ++i) fields >> skip;  // state .. cmajflt; then utime, stime
    double utime = 0, stime = 0;
    if (!(fields >> utime >> stime)) return std::nullopt;
    return (utime + stime) / static_cast<double>(sysconf(_SC_CLK_TCK));
  }

 private:
  int pid_;
};

void raise_fd_limit(const options& o) {
  rlimit r{};
  getrlimit(RLIMIT_NOFILE, &r);
  r.rlim_cur = r.rlim_max;
  setrlimit(RLIMIT_NOFILE, &r);
  const auto per_process = (o.sockets + o.procs - 1) / o.procs + o.publishers + 32;
  if (per_process > r.rlim_cur)
    throw usage_error(std::to_string(o.sockets) + " sockets in " + std::to_string(o.procs) +
                      " process(es) need about " + std::to_string(per_process) + " open files per process; the limit is " +
                      std::to_string(r.rlim_cur) + ": use --procs " +
                      std::to_string(o.sockets / (r.rlim_cur - o.publishers - 32) + 1));
}

struct totals {
  worker_result r;
  worker_samples samples;
  std::uint64_t children_lost = 0;  // processes that ended without a result
  std::string first_error;

  void add(const worker_result& w, worker_samples&& s) {
    r.opened += w.opened;
    r.failed += w.failed;
    r.closed_by_server += w.closed_by_server;
    r.protocol_errors += w.protocol_errors;
    r.messages += w.messages;
    r.wire_bytes += w.wire_bytes;
    r.compressed += w.compressed;
    r.lost += w.lost;
    r.extra += w.extra;
    r.out_of_order += w.out_of_order;
    r.gaps += w.gaps;
    r.unstamped += w.unstamped;
    if (w.first_connect_ns && (!r.first_connect_ns || w.first_connect_ns < r.first_connect_ns))
      r.first_connect_ns = w.first_connect_ns;
    r.last_open_ns = std::max(r.last_open_ns, w.last_open_ns);
    r.last_message_ns = std::max(r.last_message_ns, w.last_message_ns);
    r.cpu_s += w.cpu_s;
    r.connect_cpu_s += w.connect_cpu_s;
    samples.latency_ns.insert(samples.latency_ns.end(), s.latency_ns.begin(), s.latency_ns.end());
    samples.connect_ns.insert(samples.connect_ns.end(), s.connect_ns.begin(), s.connect_ns.end());
    if (first_error.empty()) first_error = w.first_error;
  }
};

// Publishes until the message budget, the publishing time or the deadline runs out, then waits
// for the answers still due (until the deadline). The publishers send the next message as soon
// as they are answered, or on the schedule of --rate.
void run_publishers(const options& o, event_loop& loop, publish_shared& pub, const sockaddr_in* source,
                    std::int64_t deadline) {
  const auto publish_port = o.publish_port ? o.publish_port : o.port;
  pub.head = publish_request_head(o.host, publish_port, o.publish_path, o.json_body, o.headers);
  pub.json_body = o.json_body;
  pub.batch = o.batch;
  pub.message_bytes = o.message_bytes;
  pub.words = o.words;
  pub.target = ipv4_endpoint(o.host, publish_port);
  if (source) pub.source = *source;

  const auto t0 = now_ns();
  const auto stop_ns = o.duration_s > 0 ? std::min(deadline, t0 + seconds_ns(o.duration_s)) : deadline;
  const double interval_ns = o.rate > 0 ? 1e9 / o.rate : 0;
  auto due_ns = [&] { return t0 + static_cast<std::int64_t>(static_cast<double>(pub.sent) * interval_ns); };
  auto may_send = [&](std::int64_t now) { return pub.sent < o.messages && now < stop_ns && now >= due_ns(); };

  std::vector<std::unique_ptr<http_publisher>> publishers;
  for (std::size_t i = 0; i < o.publishers; ++i)
    publishers.push_back(std::make_unique<http_publisher>(loop, pub, static_cast<std::uint32_t>(i), [&](http_publisher& p) {
      if (may_send(now_ns())) p.publish();
    }));

  for (auto now = now_ns(); now < deadline; now = now_ns()) {
    bool any_busy = false, any_alive = false;
    for (auto& p : publishers) {
      if (!p->busy() && !p->dead() && may_send(now)) p->publish();
      any_busy |= p->busy();
      any_alive |= !p->dead();
    }
    const bool out_of_work = pub.sent >= o.messages || now >= stop_ns || !any_alive;
    if (out_of_work && !any_busy) break;
    int wait_ms = 5;
    if (interval_ns > 0 && !out_of_work) wait_ms = static_cast<int>(std::clamp<std::int64_t>((due_ns() - now) / 1'000'000, 0, 5));
    loop.run_once(wait_ms);
  }
  for (auto& p : publishers) p->abandon();
}

double per_second(double count, std::int64_t from_ns, std::int64_t to_ns) {
  return to_ns > from_ns ? count * 1e9 / static_cast<double>(to_ns - from_ns) : 0;
}

}  // namespace

int run_scenario(const options& o) {
  raise_fd_limit(o);
  const auto shares = split_sockets(o);
  const auto pipes = fork_children(o, shares);  // before the loop: children make their own

  event_loop loop;
  std::vector<std::unique_ptr<child_process>> children;
  for (const auto& p : pipes) children.push_back(std::make_unique<child_process>(p, loop));
  auto all_children = [&](auto pred) { return std::all_of(children.begin(), children.end(), [&](auto& c) { return pred(*c); }); };
  subscriber_set subs(o, loop, shares[0]);
  const server_probe server(o.server_pid);
  const auto rss_before = server.status_kib("VmRSS");
  const auto start = now_ns();
  const auto deadline = start + seconds_ns(o.timeout_s);
  const double cpu_start = own_cpu_seconds();

  // 1. Connect every socket (in every process).
  while (!(subs.connects_done() && all_children([](auto& c) { return c.ready(); })) && now_ns() < deadline) {
    subs.pump_connects();
    loop.run_once(5);
  }
  subs.abandon_connects();
  const auto connected_ns = now_ns();
  const double cpu0 = own_cpu_seconds();
  const auto server_cpu0 = server.cpu_seconds();

  // 2. Publish, or hold the sockets.
  publish_shared pub;
  std::optional<std::uint64_t> rss_held;
  if (o.scenario == scenario_kind::fanout || o.scenario == scenario_kind::publish) {
    run_publishers(o, loop, pub, subs.source(), deadline);
  } else if (o.scenario == scenario_kind::idle) {
    const auto hold_until = std::min(deadline, connected_ns + seconds_ns(o.duration_s));
    while (now_ns() < hold_until) loop.run_once(20);
    rss_held = server.status_kib("VmRSS");
  }

  // 3. Drain: wait for every acknowledged message on every open socket, within bounds.
  const std::uint64_t expected = pub.acked;
  const auto drain_until = std::min(deadline, now_ns() + seconds_ns(o.drain_s));
  for (auto& c : children) c->send_end(expected, drain_until);
  while (now_ns() < drain_until + result_grace_ns) {
    const bool local_done = subs.drained(expected) || now_ns() >= drain_until;
    if (local_done && all_children([](auto& c) { return c.done(); })) break;
    loop.run_once(2);
  }
  const auto end_ns = now_ns();
  const bool timed_out = end_ns >= deadline;
  const auto server_cpu1 = server.cpu_seconds();
  const auto rss_end = server.status_kib("VmRSS");

  totals t;
  t.add(subs.result(expected), subs.take_samples());
  t.r.cpu_s = own_cpu_seconds() - cpu0;
  t.r.connect_cpu_s = cpu0 - cpu_start;
  for (std::size_t i = 0; i < children.size(); ++i) {
    auto& c = *children[i];
    if (c.done() && !c.gone()) {
      t.add(c.result(), std::move(c.samples()));
    } else {
      ++t.children_lost;
      t.r.failed += shares[i + 1].count;
    }
    c.reap(2000);
  }
  if (t.first_error.empty()) t.first_error = pub.first_error;

  // 4. Report.
  report rep(scenario_name(o.scenario), o.label);
  const auto& r = t.r;
  rep.field("sockets", static_cast<std::uint64_t>(o.sockets));
  rep.field("procs", static_cast<std::uint64_t>(o.procs));
  rep.field("opened", r.opened);
  rep.field("connect_failed", r.failed);
  rep.field("closed_by_server", r.closed_by_server);
  const double connects_per_s = per_second(static_cast<double>(r.opened), r.first_connect_ns, r.last_open_ns);
  rep.field("connects_per_s", connects_per_s, 1);
  if (o.sockets > 0)
    rep.row("sockets", thousands(r.opened) + " open of " + thousands(o.sockets) + ", " + thousands(r.failed) +
                           " failed, " + thousands(r.closed_by_server) + " closed by the server; " +
                           thousands(connects_per_s) + " connects/s");
  auto connect_summary = summarize(t.samples.connect_ns);
  if (o.scenario == scenario_kind::connect || o.scenario == scenario_kind::idle)
    rep.latency("connect latency", "connect", connect_summary);

  const bool publishing = o.scenario == scenario_kind::fanout || o.scenario == scenario_kind::publish;
  // The generator's share of a core, over the phase that is measured.
  const bool connecting = o.scenario == scenario_kind::connect;
  const double window_s = static_cast<double>(connecting ? connected_ns - start : end_ns - connected_ns) / 1e9;
  const double gen_cpu = window_s > 0 ? (connecting ? r.connect_cpu_s : r.cpu_s) / window_s : 0;
  std::uint64_t work = 0;  // what server CPU is divided by
  if (publishing) {
    const double publish_rate = per_second(static_cast<double>(pub.acked), pub.first_send_ns, pub.last_answer_ns);
    rep.field("size", static_cast<std::uint64_t>(o.message_bytes));
    rep.field("publishers", static_cast<std::uint64_t>(o.publishers));
    rep.field("rate_target", o.rate, 1);
    rep.field("sent", pub.sent);
    rep.field("acked", pub.acked);
    rep.field("refused", pub.rejected);
    rep.field("unanswered", pub.broken);
    rep.field("publish_per_s", publish_rate, 1);
    rep.row("published", thousands(static_cast<double>(pub.acked)) + " acknowledged of " + thousands(static_cast<double>(pub.sent)) +
                             " sent (" + thousands(static_cast<double>(pub.rejected)) + " refused, " +
                             thousands(static_cast<double>(pub.broken)) + " unanswered); " + thousands(publish_rate) +
                             " acknowledged/s by " + std::to_string(o.publishers) + " publisher(s)");
    auto post = summarize(pub.latency_ns);
    rep.latency("POST latency", "post", post);
    std::string statuses;
    for (const auto& [status, count] : pub.statuses) statuses += (statuses.empty() ? "" : " ") + std::to_string(status) + "x" + std::to_string(count);
    rep.field("statuses", statuses);
    work = pub.acked;
  }
  if (publishing && o.sockets > 0) {
    const auto expected_total = expected * r.opened;
    const double deliveries_per_s = per_second(static_cast<double>(r.messages), pub.first_send_ns, r.last_message_ns);
    rep.field("deliveries", r.messages);
    rep.field("expected", expected_total);
    rep.field("lost", r.lost);
    rep.field("out_of_order", r.out_of_order);
    rep.field("extra", r.extra);
    rep.field("gaps", r.gaps);
    rep.field("deliveries_per_s", deliveries_per_s, 1);
    rep.row("delivered", thousands(static_cast<double>(r.messages)) + " of " + thousands(static_cast<double>(expected_total)) +
                             "; lost " + std::to_string(r.lost) + ", out of order " + std::to_string(r.out_of_order) +
                             ", extra " + std::to_string(r.extra));
    rep.row("deliveries/s", thousands(deliveries_per_s));
    if (r.messages > 0) {
      const double wire = static_cast<double>(r.wire_bytes) / static_cast<double>(r.messages);
      rep.field("wire_bytes_per_delivery", wire, 1);
      rep.field("deflated_deliveries", r.compressed);
      rep.row("on the wire", fixed(wire, 1) + " bytes per delivery (frame headers included), " +
                                 thousands(static_cast<double>(r.compressed)) + " deliveries deflated");
    }
    auto lat = summarize(t.samples.latency_ns);
    rep.latency("publish->receive", "latency", lat);
    work = r.messages;
  }
  if (o.scenario == scenario_kind::idle) {
    rep.field("hold_s", o.duration_s, 1);
    if (rss_before && rss_held && r.opened > 0) {
      const double per_conn_kib = (static_cast<double>(*rss_held) - static_cast<double>(*rss_before)) / static_cast<double>(r.opened);
      rep.field("server_rss_before_kib", *rss_before);
      rep.field("server_rss_held_kib", *rss_held);
      rep.field("rss_per_conn_kib", per_conn_kib, 2);
      rep.row("server RSS", fixed(static_cast<double>(*rss_before) / 1024, 1) + " MiB before, " +
                                fixed(static_cast<double>(*rss_held) / 1024, 1) + " MiB with the sockets: " +
                                fixed(per_conn_kib, 2) + " KiB per connection");
    } else {
      rep.warn("no server RSS: give --server-pid");
    }
  }
  if (server_cpu0 && server_cpu1) {
    const double cpu = *server_cpu1 - *server_cpu0;
    rep.field("server_cpu_s", cpu, 2);
    std::string text = "cpu " + fixed(cpu, 2) + " s";
    if (window_s > 0) {
      // Busy share of one core over the publish window: at a fixed --rate, the cost of the load.
      rep.field("server_cpu_share", cpu / window_s, 3);
      text += " (" + fixed(cpu / window_s * 100, 0) + "% of one core)";
    }
    if (work > 0) {
      const double us = cpu * 1e6 / static_cast<double>(work);
      rep.field(o.scenario == scenario_kind::publish && o.sockets == 0 ? "server_us_per_publish" : "server_us_per_delivery", us, 3);
      text += " (" + fixed(us, 2) + " us per " + (o.scenario == scenario_kind::publish && o.sockets == 0 ? "publish" : "delivery") + ")";
    }
    // With subscribers, also per published message: what is done once per message (store,
    // encode, deflate) shows here, spread over its deliveries in the figure above.
    if (publishing && o.sockets > 0 && pub.acked > 0) {
      const double us = cpu * 1e6 / static_cast<double>(pub.acked);
      rep.field("server_us_per_message", us, 2);
      text += " (" + fixed(us, 1) + " us per message)";
    }
    if (rss_end) {
      rep.field("server_rss_kib", *rss_end);
      text += ", RSS " + fixed(static_cast<double>(*rss_end) / 1024, 1) + " MiB";
    }
    rep.row("server", text);
  }
  rep.field("generator_cpu", gen_cpu, 3);
  rep.field("duration_s", window_s, 3);
  rep.row("generator", "cpu " + fixed(gen_cpu * 100, 0) + "% of one core over " + fixed(window_s, 2) + " s" +
                           (o.procs > 1 ? " (" + std::to_string(o.procs) + " processes)" : ""));
  if (gen_cpu > 0.9 && window_s >= 0.5)
    rep.warn("the generator was busy " + fixed(gen_cpu * 100, 0) + "% of a core: the figures may be its limit, not the server's");

  const bool clean = r.failed == 0 && r.closed_by_server == 0 && r.protocol_errors == 0 && r.lost == 0 &&
                     r.out_of_order == 0 && r.extra == 0 && r.unstamped == 0 && pub.rejected == 0 && pub.broken == 0 &&
                     t.children_lost == 0 && !timed_out &&
                     (o.scenario != scenario_kind::fanout || pub.acked == o.messages);
  rep.field("timed_out", timed_out);
  rep.field("ok", clean);
  if (!t.first_error.empty()) rep.field("first_error", t.first_error);
  if (timed_out) rep.warn("the run hit --timeout " + fixed(o.timeout_s, 0) + " s");
  if (r.unstamped > 0) rep.warn(std::to_string(r.unstamped) + " messages without a wsb: stamp");
  if (t.children_lost > 0) rep.warn(std::to_string(t.children_lost) + " generator process(es) ended without a result");
  if (!t.first_error.empty()) rep.warn("first error: " + t.first_error);
  rep.print(o.json_only);
  return clean ? 0 : 1;
}

}  // namespace wshub::bench
