#include "options.hpp"

#include <arpa/inet.h>

#include <charconv>
#include <cstring>
#include <functional>
#include <map>
#include <string_view>

namespace wshub::bench {

namespace {

template <typename T>
T number(std::string_view name, std::string_view text, T lo, T hi) {
  T v{};
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || end != text.data() + text.size() || v < lo || v > hi)
    throw usage_error("--" + std::string(name) + ": expected a number from " + std::to_string(lo) + " to " +
                      std::to_string(hi) + ", got '" + std::string(text) + "'");
  return v;
}

double real(std::string_view name, std::string_view text, double lo, double hi) {
  try {
    std::size_t used = 0;
    const double v = std::stod(std::string(text), &used);
    if (used == text.size() && v >= lo && v <= hi) return v;
  } catch (const std::exception&) {
  }
  throw usage_error("--" + std::string(name) + ": expected a number from " + std::to_string(lo) + " to " +
                    std::to_string(hi) + ", got '" + std::string(text) + "'");
}

// Only loopback: this tool must never load anything but the machine it runs on.
std::string loopback(std::string_view name, std::string text) {
  if (text == "localhost") text = "127.0.0.1";
  in_addr a{};
  if (inet_pton(AF_INET, text.c_str(), &a) != 1 || (ntohl(a.s_addr) >> 24) != 127)
    throw usage_error("--" + std::string(name) + ": only IPv4 loopback addresses (127.0.0.0/8) are allowed, got '" +
                      text + "'");
  return text;
}

scenario_kind parse_scenario(std::string_view s) {
  if (s == "fanout") return scenario_kind::fanout;
  if (s == "idle") return scenario_kind::idle;
  if (s == "publish") return scenario_kind::publish;
  if (s == "connect") return scenario_kind::connect;
  throw usage_error("unknown scenario '" + std::string(s) + "' (fanout, idle, publish or connect)");
}

void apply_defaults(options& o, const std::map<std::string, bool>& given) {
  auto unset = [&](const char* k) { return !given.count(k); };
  switch (o.scenario) {
    case scenario_kind::fanout:
      if (unset("sockets")) o.sockets = 1000;
      if (unset("messages")) o.messages = 2000;
      break;
    case scenario_kind::publish:
      if (unset("publishers")) o.publishers = 8;
      if (unset("duration")) o.duration_s = 5;
      if (unset("messages")) o.messages = 10'000'000;
      break;
    case scenario_kind::idle:
      if (unset("sockets")) o.sockets = 1000;
      if (unset("duration")) o.duration_s = 3;
      break;
    case scenario_kind::connect:
      if (unset("sockets")) o.sockets = 1000;
      break;
  }
}

}  // namespace

const char* scenario_name(scenario_kind k) {
  switch (k) {
    case scenario_kind::fanout: return "fanout";
    case scenario_kind::idle: return "idle";
    case scenario_kind::publish: return "publish";
    case scenario_kind::connect: return "connect";
  }
  return "?";
}

bool wants_help(int argc, char** argv) {
  for (int i = 1; i < argc; ++i)
    if (std::strcmp(argv[i], "--help") == 0 || std::strcmp(argv[i], "-h") == 0) return true;
  return false;
}

options parse_options(int argc, char** argv) {
  if (argc < 2) throw usage_error("missing the scenario (fanout, idle, publish or connect)");
  options o;
  o.scenario = parse_scenario(argv[1]);

  using setter = std::function<void(std::string_view)>;
  const std::map<std::string, setter> flags = {
      {"host", [&](std::string_view v) { o.host = loopback("host", std::string(v)); }},
      {"port", [&](std::string_view v) { o.port = number<std::uint16_t>("port", v, 1, 65535); }},
      {"publish-port", [&](std::string_view v) { o.publish_port = number<std::uint16_t>("publish-port", v, 1, 65535); }},
      {"socket-path", [&](std::string_view v) { o.socket_path = v; }},
      {"publish-path", [&](std::string_view v) { o.publish_path = v; }},
      {"sockets", [&](std::string_view v) { o.sockets = number<std::size_t>("sockets", v, 0, 10'000'000); }},
      {"messages", [&](std::string_view v) { o.messages = number<std::size_t>("messages", v, 0, 100'000'000); }},
      {"size", [&](std::string_view v) { o.message_bytes = number<std::size_t>("size", v, 1, 16 << 20); }},
      {"publishers", [&](std::string_view v) { o.publishers = number<std::size_t>("publishers", v, 1, 1024); }},
      {"rate", [&](std::string_view v) { o.rate = real("rate", v, 0, 1e8); }},
      {"duration", [&](std::string_view v) { o.duration_s = real("duration", v, 0, 86400); }},
      {"sample", [&](std::string_view v) { o.sample = number<std::size_t>("sample", v, 0, 10'000'000); }},
      {"concurrency", [&](std::string_view v) { o.concurrency = number<std::size_t>("concurrency", v, 1, 100'000); }},
      {"procs", [&](std::string_view v) { o.procs = number<std::size_t>("procs", v, 1, 64); }},
      {"source", [&](std::string_view v) { o.source_ip = loopback("source", std::string(v)); }},
      {"server-pid", [&](std::string_view v) { o.server_pid = number<int>("server-pid", v, 1, 1 << 30); }},
      {"timeout", [&](std::string_view v) { o.timeout_s = real("timeout", v, 1, 86400); }},
      {"drain", [&](std::string_view v) { o.drain_s = real("drain", v, 0, 3600); }},
      {"header", [&](std::string_view v) { o.headers.emplace_back(v); }},
      {"label", [&](std::string_view v) { o.label = v; }},
      {"batch", [&](std::string_view v) { o.batch = number<std::size_t>("batch", v, 1, 100'000); }},
  };
  const std::map<std::string, std::string> short_names = {
      {"-n", "sockets"}, {"-m", "messages"}, {"-s", "size"}, {"-c", "publishers"}, {"-p", "port"}};

  std::map<std::string, bool> given;
  for (int i = 2; i < argc; ++i) {
    std::string arg = argv[i];
    std::string name, value;
    bool has_value = false;
    if (auto s = short_names.find(arg); s != short_names.end()) {
      name = s->second;
    } else if (arg.rfind("--", 0) == 0) {
      name = arg.substr(2);
      if (auto eq = name.find('='); eq != std::string::npos) {
        value = name.substr(eq + 1);
        name.resize(eq);
        has_value = true;
      }
    } else {
      throw usage_error("unexpected argument '" + arg + "'");
    }
    if (name == "json-body") { o.json_body = true; continue; }
    if (name == "deflate") { o.deflate = true; continue; }
    if (name == "words") { o.words = true; continue; }
    if (name == "json-only") { o.json_only = true; continue; }
    const auto f = flags.find(name);
    if (f == flags.end()) throw usage_error("unknown option '" + arg + "'");
    if (!has_value) {
      if (i + 1 >= argc) throw usage_error("option '" + arg + "' needs a value");
      value = argv[++i];
    }
    f->second(value);
    given[name] = true;
  }
  if (o.port == 0) throw usage_error("--port is required");
  apply_defaults(o, given);
  if (o.batch > 1) {
    o.json_body = true;
    if (!given.count("publish-path")) o.publish_path = "/api/tool/send_messages";
  }
  if (o.procs > 1 && o.source_ip.empty()) o.source_ip = "127.0.0.2";
  if (!o.source_ip.empty()) {
    in_addr a{};
    inet_pton(AF_INET, o.source_ip.c_str(), &a);
    if ((ntohl(a.s_addr) & 0xff) + o.procs > 255)
      throw usage_error("--source: " + o.source_ip + " + " + std::to_string(o.procs) + " processes leaves 127.x.y.1-254");
  }
  if (o.scenario == scenario_kind::fanout && o.messages == 0) throw usage_error("fanout needs --messages > 0");
  if (o.scenario == scenario_kind::publish && o.duration_s <= 0) throw usage_error("publish needs --duration > 0");
  return o;
}

std::string usage_text() {
  return R"(wshub-bench: load generator for wshub and servers that speak its basic contract
(GET /socket/system/message upgrades; POST /api/tool/send_message message=... fans out).
Loopback only. Every phase is bounded in count and time.

usage: wshub-bench SCENARIO --port P [options]

scenarios:
  fanout    N sockets, then M messages of S bytes published over keep-alive HTTP;
            deliveries/s, publish rate, publish->receive latency, lost and out-of-order
  idle      N sockets held for --duration s; server RSS per connection (needs --server-pid)
  publish   C concurrent publishers for --duration s, with N subscribers (default 0);
            acknowledged POSTs per second and their latency
  connect   N sockets opened as fast as the server accepts them; connections per second

options:
  --host A            server address in 127.0.0.0/8 (127.0.0.1)
  -p, --port P        server port (required)
  --publish-port P    publish to this port instead (another node of a wshub cluster)
  -n, --sockets N     subscribers (fanout 1000, idle 1000, connect 1000, publish 0)
  -m, --messages M    fanout: messages to publish (2000); publish: upper bound (10,000,000)
  -s, --size S        message body bytes (100); the body starts with wsb:<pub>:<seq>:<ns>:
  -c, --publishers C  concurrent keep-alive publishers (fanout 1, publish 8)
  --rate R            publish R messages/s in total (0: each publisher sends when answered)
  --duration D        publish: seconds of publishing (5); idle: seconds to hold (3)
  --sample K          sockets whose frames are fully decoded for latency and order (100; 0: all)
  --concurrency K     connects in flight per process (200)
  --procs P           generator processes sharing the sockets (1); more than one process lets a
                      run go past one process's open-file limit
  --source A          source address of the first process; process i uses A+i
                      (default: kernel's choice with 1 process, 127.0.0.2 and up with more)
  --server-pid PID    read the server's RSS and CPU time from /proc/PID
  --timeout T         hard bound on the whole run in seconds (120)
  --drain T           seconds to wait for deliveries after the last answer (10)
  --json-body         publish JSON {"message": ...} instead of a form
  --batch B           B messages per request, as {"messages":[{"message": ...}, ...]} to
                      /api/tool/send_messages (1: one message per request); sent, acknowledged
                      and the rates count messages, latency counts requests
  --deflate           subscribers offer permessage-deflate (client_no_context_takeover); the
                      report gives the bytes received per message on the wire
  --words             pad message bodies with words (they compress like text) instead of x
                      (which compresses to almost nothing)
  --header "K: V"     extra header on every publish request (repeatable)
  --label NAME        name echoed in the report (e.g. the server's)
  --json-only         print only the JSON line

Prints a table and one JSON line. Exit code 0: clean run; 1: the run completed but something
was lost, reordered, refused or failed (the figures are still printed); 2: bad usage.
)";
}

}  // namespace wshub::bench
