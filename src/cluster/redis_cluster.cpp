#include "wshub/cluster/redis_cluster.hpp"

#include <charconv>
#include <random>

#include "wshub/util/bounded_json.hpp"

namespace wshub::cluster {
namespace {

using namespace std::chrono_literals;
using json = nlohmann::json;

constexpr std::size_t publish_batch_max = 512;  // EVALs pipelined in one round trip at most
constexpr const char* read_count = "512";       // stream entries per XREAD at most
constexpr auto heartbeat_interval = 1s;
constexpr std::int64_t node_ttl_ms = 10'000;  // a node silent this long has left

class cluster_category_impl : public std::error_category {
 public:
  const char* name() const noexcept override { return "wshub.cluster"; }
  std::string message(int ev) const override {
    switch (static_cast<cluster_errc>(ev)) {
      case cluster_errc::unreachable: return "Redis is unreachable";
      case cluster_errc::rejected: return "Redis refused the message";
      case cluster_errc::stopped: return "the node is stopping";
      case cluster_errc::unconfirmed:
        return "Redis took the message but this node did not store it in time; it may still be delivered";
    }
    return "unknown cluster error";
  }
};

// KEYS: the id counter, the message stream, the last timestamp. ARGV: the stream's length
// bound, then the encoded messages of one group. The ids (consecutive, in the group's order) and
// the time come from Redis, so both increase across the cluster whatever the nodes' clocks say;
// a script runs whole, so a group is sequenced entirely or not at all.
constexpr const char* sequence_script = R"lua(
local n = #ARGV - 1
local id = redis.call('INCRBY', KEYS[1], n) - n
local t = redis.call('TIME')
local ts = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local last = tonumber(redis.call('GET', KEYS[3]) or '0')
if ts < last then ts = last end
redis.call('SET', KEYS[3], ts)
for i = 1, n do
  redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[1], string.format('%d-0', id + i), 'ts', ts, 'm', ARGV[i + 1])
end
return id + 1
)lua";

// KEYS: the id counter. ARGV: this node's newest id. Ids never go back below what a node
// already stored, even when Redis lost its data.
constexpr const char* raise_counter_script = R"lua(
local current = tonumber(redis.call('GET', KEYS[1]) or '0')
if current < tonumber(ARGV[1]) then redis.call('SET', KEYS[1], ARGV[1]) return tonumber(ARGV[1]) end
return current
)lua";

std::int64_t now_ms() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

std::uint64_t parse_u64(std::string_view text) {
  std::uint64_t v = 0;
  std::from_chars(text.data(), text.data() + text.size(), v);
  return v;
}

std::string random_token() {
  std::random_device rd;
  return std::to_string(rd()) + std::to_string(rd());
}

std::string encode(const hub::message& m, const std::string& origin) {
  const json j = {{"c", m.channels}, {"u", m.username}, {"b", m.body}, {"tc", m.to_conn}, {"tu", m.to_user}, {"o", origin}};
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

// A stream entry ("<id>-0", [field, value, ...]) back into a message; false when malformed.
bool decode(const redisReply* entry, sequenced_message& out) {
  if (!entry || entry->type != REDIS_REPLY_ARRAY || entry->elements != 2) return false;
  const auto id_text = reply_string(entry->element[0]);
  const auto* fields = entry->element[1];
  if (!fields || fields->type != REDIS_REPLY_ARRAY) return false;
  std::string payload, ts;
  for (std::size_t i = 0; i + 1 < fields->elements; i += 2) {
    const auto name = reply_string(fields->element[i]);
    if (name == "m") payload = reply_string(fields->element[i + 1]);
    if (name == "ts") ts = reply_string(fields->element[i + 1]);
  }
  const auto j = util::parse_bounded_json(payload);
  if (!j.is_object()) return false;
  try {
    auto& m = out.message;
    m.id = parse_u64(id_text.substr(0, id_text.find('-')));
    m.ts_ms = static_cast<std::int64_t>(parse_u64(ts));
    m.channels = j.at("c").get<std::vector<std::string>>();
    m.username = j.at("u").get<std::string>();
    m.body = j.at("b").get<std::string>();
    m.to_conn = j.at("tc").get<std::uint64_t>();
    m.to_user = j.at("tu").get<std::string>();
    out.origin = j.at("o").get<std::string>();
  } catch (const json::exception&) {
    return false;
  }
  return out.message.id != 0 && !out.message.channels.empty();
}

}  // namespace

const std::error_category& cluster_category() {
  static const cluster_category_impl category;
  return category;
}

std::error_code make_error_code(cluster_errc e) { return {static_cast<int>(e), cluster_category()}; }

std::uint32_t node_number(const std::string& node_id) {
  std::uint64_t h = 1469598103934665603ull;
  for (unsigned char ch : node_id) h = (h ^ ch) * 1099511628211ull;
  return static_cast<std::uint32_t>(1 + h % ((1u << 20) - 1));
}

json to_json(const node_stats& s) {
  return {{"node", s.node},           {"connections", s.connections}, {"subscriptions", s.subscriptions},
          {"deliveries", s.deliveries}, {"published", s.published},   {"last_id", s.last_id}};
}

redis_cluster::redis_cluster(redis_settings settings, std::string node_id, cluster_hooks hooks,
                             hub::counters& counters, std::shared_ptr<spdlog::logger> log)
    : settings_(std::move(settings)),
      node_id_(std::move(node_id)),
      hooks_(std::move(hooks)),
      counters_(counters),
      log_(std::move(log)),
      instance_(random_token()),
      writer_link_(settings_),
      reader_link_(settings_, 1000ms) {
  counters_.redis_configured.store(true);
}

redis_cluster::~redis_cluster() { stop(); }

void redis_cluster::start() {
  const auto last = hooks_.last_id();
  read_position_ = std::to_string(last) + "-0";
  last_read_id_ = last;
  writer_ = std::thread([this] { writer_loop(); });
  reader_ = std::thread([this] { reader_loop(); });
}

void redis_cluster::stop() {
  {
    std::lock_guard lock(mutex_);
    if (stopping_) return;
    stopping_ = true;
  }
  wake_.notify_all();
  if (writer_.joinable()) writer_.join();
  if (reader_.joinable()) reader_.join();
}

void redis_cluster::submit(hub::message m, std::string origin, std::function<void(std::error_code)> failed) {
  std::vector<hub::message> group;
  group.push_back(std::move(m));
  submit_group(std::move(group), {std::move(origin)}, std::move(failed));
}

void redis_cluster::submit_group(std::vector<hub::message> group, std::vector<std::string> origins,
                                 std::function<void(std::error_code)> failed) {
  {
    std::lock_guard lock(mutex_);
    if (!stopping_) {
      publishes_.push_back({std::move(group), std::move(origins), std::move(failed)});
      wake_.notify_all();
      return;
    }
  }
  failed(cluster_errc::stopped);
}

void redis_cluster::push_job(job j) {
  std::lock_guard lock(mutex_);
  jobs_.push_back(std::move(j));
  wake_.notify_all();
}

void redis_cluster::request_close(std::uint64_t conn, std::function<void(std::error_code)> done) {
  push_job([this, conn, done = std::move(done)](redis_link& link) {
    auto r = link.command({"XADD", key("ctl"), "MAXLEN", "~", "1000", "*", "close", std::to_string(conn)});
    done(r && !reply_is_error(r.get()) ? std::error_code() : make_error_code(cluster_errc::unreachable));
  });
}

void redis_cluster::fetch_connections(std::function<void(std::error_code, json)> done) {
  push_job([this, done = std::move(done)](redis_link& link) {
    auto nodes = link.command({"ZRANGEBYSCORE", key("nodes"), std::to_string(now_ms() - node_ttl_ms), "+inf"});
    if (!nodes || nodes->type != REDIS_REPLY_ARRAY) return done(cluster_errc::unreachable, json::array());
    std::vector<std::string> names;
    for (std::size_t i = 0; i < nodes->elements; ++i) names.push_back(reply_string(nodes->element[i]));
    for (const auto& n : names) link.append({"GET", key("conns:" + n)});
    json all = json::array();
    for (std::size_t i = 0; i < names.size(); ++i) {
      auto r = link.next_reply();
      if (!r) return done(cluster_errc::unreachable, json::array());
      const auto list = util::parse_bounded_json(reply_string(r.get()));
      if (list.is_array())
        for (const auto& c : list) all.push_back(c);
    }
    done({}, std::move(all));
  });
}

// The first registry to watch `channel` registers it for the cluster; the last to stop removes it.
void redis_cluster::watched(const std::string& channel, bool on) {
  push_job([this, channel, on](redis_link& link) {
    if (on && local_watched_[channel]++ != 0) return;  // another registry here already watches it
    if (!on) {
      const auto it = local_watched_.find(channel);
      if (it == local_watched_.end() || --it->second != 0) return;
      local_watched_.erase(it);
    }
    const auto field = node_id_ + "\n" + channel;
    if (on) link.append({"HSET", key("watching"), field, "1"});
    else link.append({"HDEL", key("watching"), field});
    link.append({"XADD", key("ctl"), "MAXLEN", "~", "1000", "*", on ? "watch" : "unwatch", field});
    link.next_reply();
    link.next_reply();
  });
}

void redis_cluster::changed(const hub::presence_change& change) {
  push_job([this, change](redis_link& link) {
    std::size_t sent = 0;
    for (const auto& channel : change.channels) {
      if (!remote_watched_.contains(channel)) continue;
      const json event = {{"node", node_id_}, {"type", change.type}, {"channel", channel},
                          {"conn_id", change.id}, {"user", change.user}};
      link.append({"XADD", key("ctl"), "MAXLEN", "~", "1000", "*", "presence",
                   event.dump(-1, ' ', false, json::error_handler_t::replace)});
      ++sent;
    }
    while (sent-- > 0) link.next_reply();
  });
}

// Writer thread, on each connect: the other nodes' watches, and this node's own again (Redis may
// have lost them; a previous run's that no watcher holds now are removed).
void redis_cluster::load_watches() {
  auto& link = writer_link_;
  for (const auto& [channel, n] : local_watched_) link.append({"HSET", key("watching"), node_id_ + "\n" + channel, "1"});
  for (std::size_t i = 0; i < local_watched_.size(); ++i) link.next_reply();
  const auto fields = link.command({"HKEYS", key("watching")});
  if (!fields || fields->type != REDIS_REPLY_ARRAY) return;
  remote_watched_.clear();
  std::vector<std::string> stale;  // this node's, left by a run that did not leave
  for (std::size_t i = 0; i < fields->elements; ++i) {
    const auto field = reply_string(fields->element[i]);
    const auto cut = field.find('\n');
    if (cut == std::string::npos) continue;
    if (field.compare(0, cut, node_id_) != 0) ++remote_watched_[field.substr(cut + 1)];
    else if (!local_watched_.contains(field.substr(cut + 1))) stale.push_back(field);
  }
  for (const auto& field : stale) link.append({"HDEL", key("watching"), field});
  for (std::size_t i = 0; i < stale.size(); ++i) link.next_reply();
  remote_watches_.store(remote_watched_.size(), std::memory_order_relaxed);
}

cluster_view redis_cluster::view() const {
  std::lock_guard lock(mutex_);
  auto v = view_;
  v.reachable = reachable();
  return v;
}

void redis_cluster::set_reachable() { counters_.redis_reachable.store(reachable()); }

bool redis_cluster::wait_for(std::chrono::milliseconds d) {
  std::unique_lock lock(mutex_);
  wake_.wait_for(lock, d, [this] { return stopping_; });
  return !stopping_;
}

// ---- writer thread -------------------------------------------------------------------------

void redis_cluster::writer_loop() {
  auto backoff = 100ms;
  auto next_attempt = std::chrono::steady_clock::now();
  bool warned = false;
  for (;;) {
    std::vector<pending_publish> batch;
    std::deque<job> jobs;
    {
      std::unique_lock lock(mutex_);
      const auto deadline = writer_link_.connected() ? next_heartbeat_ : std::min(next_heartbeat_, next_attempt);
      wake_.wait_until(lock, deadline, [this] { return stopping_ || !publishes_.empty() || !jobs_.empty(); });
      if (stopping_) break;
      while (!publishes_.empty() && batch.size() < publish_batch_max) {
        batch.push_back(std::move(publishes_.front()));
        publishes_.pop_front();
      }
      jobs.swap(jobs_);
    }
    const auto now = std::chrono::steady_clock::now();
    if (!writer_link_.connected() && now >= next_attempt) {
      if (writer_link_.ensure_connected() && on_writer_connected()) {
        log_->info("cluster: node {} connected to Redis", node_id_);
        backoff = 100ms;
        warned = false;
      } else {
        if (!warned) log_->warn("cluster: {} (publishing answers 503 until this node reaches Redis)", writer_link_.last_error());
        warned = true;
        next_attempt = now + backoff;
        backoff = std::min(backoff * 2, std::chrono::milliseconds(2000));
      }
    }
    writer_up_.store(writer_link_.connected());
    set_reachable();
    // Jobs first: a watch made before a publish reaches the stream before that message.
    for (auto& j : jobs) j(writer_link_);
    if (!batch.empty()) sequence(batch);
    if (std::chrono::steady_clock::now() >= next_heartbeat_) {
      if (writer_link_.connected()) heartbeat();
      next_heartbeat_ = std::chrono::steady_clock::now() + heartbeat_interval;
    }
  }
  std::deque<pending_publish> left;
  {
    std::lock_guard lock(mutex_);
    left.swap(publishes_);
  }
  for (auto& p : left) p.failed(cluster_errc::stopped);
  leave_cluster();
}

bool redis_cluster::on_writer_connected() {
  auto& link = writer_link_;
  // A fresh Redis data set (first start, or Redis restarted without its data) gets a new epoch.
  link.command({"SET", key("epoch"), random_token(), "NX"});
  const auto epoch = link.command({"GET", key("epoch")});
  if (!epoch) return false;
  const auto seen = reply_string(epoch.get());
  if (!epoch_.empty() && seen != epoch_)
    log_->error("cluster: Redis lost its data while this node was away (run Redis with appendonly yes); ids "
                "continue after this node's last id, messages sequenced but not yet read are gone");
  epoch_ = seen;
  const auto raised =
      link.command({"EVAL", raise_counter_script, "1", key("seq"), std::to_string(hooks_.last_id())});
  if (!raised || reply_is_error(raised.get())) {
    if (raised) log_->error("cluster: cannot set the id counter: {}", reply_string(raised.get()));
    link.disconnect();
    return false;
  }
  next_heartbeat_ = {};
  presence_written_ = false;  // Redis may have lost it (expired, or restarted) meanwhile
  load_watches();
  return true;
}

void redis_cluster::sequence(std::vector<pending_publish>& batch) {
  auto& link = writer_link_;
  const auto bound = std::to_string(settings_.stream_max_len);
  std::vector<std::string> args;
  for (const auto& p : batch) {
    args = {"EVAL", sequence_script, "3", key("seq"), key("log"), key("last_ts"), bound};
    for (std::size_t i = 0; i < p.messages.size(); ++i) args.push_back(encode(p.messages[i], p.origins[i]));
    link.append(args);
  }
  for (auto& p : batch) {
    auto r = link.next_reply();  // null once the connection is gone: the rest fail too
    if (!r) {
      p.failed(cluster_errc::unreachable);
    } else if (reply_is_error(r.get())) {
      log_->error("cluster: Redis refused a message: {}", reply_string(r.get()));
      p.failed(cluster_errc::rejected);
    }
  }
  writer_up_.store(link.connected());  // /readyz turns 503 with the first refused publish
  set_reachable();
}

void redis_cluster::heartbeat() {
  auto& link = writer_link_;
  auto stats = hooks_.stats();
  stats.node = node_id_;
  const auto now = now_ms();
  const auto node_key = key("node:" + node_id_);
  link.append({"HGET", node_key, "instance"});
  link.append({"ZADD", key("nodes"), std::to_string(now), node_id_});
  link.append({"HSET", node_key, "stats", to_json(stats).dump(), "instance", instance_});
  link.append({"PEXPIRE", node_key, std::to_string(node_ttl_ms)});
  const auto conns_key = key("conns:" + node_id_);
  if (const auto list = hooks_.connections(!presence_written_))
    link.append({"SET", conns_key, list->dump(-1, ' ', false, json::error_handler_t::replace), "PX",
                 std::to_string(node_ttl_ms)});
  else
    link.append({"PEXPIRE", conns_key, std::to_string(node_ttl_ms)});
  link.append({"ZREMRANGEBYSCORE", key("nodes"), "-inf", std::to_string(now - node_ttl_ms)});
  link.append({"ZRANGE", key("nodes"), "0", "-1"});
  const auto previous = link.next_reply();  // who wrote our node's entry last
  reply_ptr names;
  for (int i = 0; i < 6; ++i) names = link.next_reply();  // the last is ZRANGE's
  presence_written_ = names != nullptr;
  if (!names || names->type != REDIS_REPLY_ARRAY) return;
  std::vector<std::string> nodes;
  for (std::size_t i = 0; i < names->elements; ++i) nodes.push_back(reply_string(names->element[i]));
  report_clashes(reply_string(previous.get()), nodes);
  for (const auto& n : nodes) link.append({"HGET", key("node:" + n), "stats"});
  cluster_view v;
  for (std::size_t i = 0; i < nodes.size(); ++i) {
    auto r = link.next_reply();
    if (!r) return;
    const auto j = util::parse_bounded_json(reply_string(r.get()));
    if (!j.is_object()) continue;
    node_stats s;
    s.node = j.value("node", nodes[i]);
    s.connections = j.value("connections", std::uint64_t{0});
    s.subscriptions = j.value("subscriptions", std::uint64_t{0});
    s.deliveries = j.value("deliveries", std::uint64_t{0});
    s.published = j.value("published", std::uint64_t{0});
    s.last_id = j.value("last_id", std::uint64_t{0});
    v.nodes.push_back(std::move(s));
  }
  counters_.cluster_nodes.store(v.nodes.size(), std::memory_order_relaxed);
  std::lock_guard lock(mutex_);
  view_ = std::move(v);
}

// Two processes with one node id, or two node ids with one connection-id number, would mix up
// their connections: logged as errors (once), since only the operator can fix the config.
void redis_cluster::report_clashes(const std::string& last_writer, const std::vector<std::string>& nodes) {
  if (clash_reported_) return;
  // Twice in a row: once may be this node's own entry from before a quick restart.
  foreign_writes_ = !last_writer.empty() && last_writer != instance_ ? foreign_writes_ + 1 : 0;
  if (foreign_writes_ >= 2) {
    log_->error("cluster: another process also uses node id '{}'; give every node its own cluster.node_id", node_id_);
    clash_reported_ = true;
  }
  for (const auto& n : nodes)
    if (n != node_id_ && node_number(n) == node_number(node_id_)) {
      log_->error("cluster: node ids '{}' and '{}' give the same connection-id number; rename one of them", n,
                  node_id_);
      clash_reported_ = true;
    }
}

void redis_cluster::leave_cluster() {
  if (!writer_link_.connected()) return;
  for (const auto& [channel, n] : local_watched_) {
    const auto field = node_id_ + "\n" + channel;
    writer_link_.append({"HDEL", key("watching"), field});
    writer_link_.append({"XADD", key("ctl"), "MAXLEN", "~", "1000", "*", "unwatch", field});
    writer_link_.next_reply();
    writer_link_.next_reply();
  }
  writer_link_.append({"ZREM", key("nodes"), node_id_});
  writer_link_.append({"DEL", key("node:" + node_id_), key("conns:" + node_id_)});
  writer_link_.next_reply();
  writer_link_.next_reply();
}

// ---- reader thread -------------------------------------------------------------------------

void redis_cluster::reader_loop() {
  auto backoff = 100ms;
  bool warned = false;
  for (;;) {
    {
      std::lock_guard lock(mutex_);
      if (stopping_) return;
    }
    if (!reader_link_.connected()) {
      if (!reader_link_.ensure_connected()) {
        reader_up_.store(false);
        set_reachable();
        if (!warned) log_->warn("cluster: reader: {}", reader_link_.last_error());
        warned = true;
        if (!wait_for(backoff)) return;
        backoff = std::min(backoff * 2, std::chrono::milliseconds(2000));
        continue;
      }
      if (control_position_ == "$") {  // close requests made from now on (older ones are done)
        auto last = reader_link_.command({"XREVRANGE", key("ctl"), "+", "-", "COUNT", "1"});
        if (!last) continue;
        control_position_ = last->type == REDIS_REPLY_ARRAY && last->elements == 1
                                ? reply_string(last->element[0]->element[0])
                                : "0-0";
      }
      backoff = 100ms;
      warned = false;
      log_->info("cluster: node {} reading the message stream after id {}", node_id_, last_read_id_);
    }
    reader_up_.store(true);
    set_reachable();
    read_batch(reader_link_);
  }
}

void redis_cluster::read_batch(redis_link& link) {
  auto r = link.command({"XREAD", "COUNT", read_count, "BLOCK", "1000", "STREAMS", key("log"), key("ctl"),
                         read_position_, control_position_});
  if (!r || r->type == REDIS_REPLY_NIL) return;  // lost (reconnects) or nothing new within a second
  if (r->type != REDIS_REPLY_ARRAY) {
    log_->error("cluster: reading the stream failed: {}", reply_string(r.get()));
    wait_for(1000ms);
    return;
  }
  // The control stream first: a watch written before a message is known before that message is
  // delivered here.
  for (std::size_t s = 0; s < r->elements; ++s) {
    const auto* stream = r->element[s];
    if (stream->type == REDIS_REPLY_ARRAY && stream->elements == 2 && reply_string(stream->element[0]) == key("ctl"))
      read_control(stream->element[1]);
  }
  for (std::size_t s = 0; s < r->elements; ++s) {
    const auto* stream = r->element[s];
    if (stream->type != REDIS_REPLY_ARRAY || stream->elements != 2) continue;
    const auto name = reply_string(stream->element[0]);
    const auto* entries = stream->element[1];
    if (name == key("ctl")) continue;  // read first, above
    std::vector<sequenced_message> batch;
    std::string position = read_position_;
    for (std::size_t i = 0; i < entries->elements; ++i) {
      sequenced_message m;
      position = reply_string(entries->element[i]->element[0]);
      if (!decode(entries->element[i], m)) {
        log_->error("cluster: skipped a malformed stream entry {}", position);
        continue;
      }
      if (m.message.id <= last_read_id_) continue;
      const auto expected = batch.empty() ? last_read_id_ + 1 : batch.back().message.id + 1;
      if (m.message.id != expected)
        log_->warn("cluster: ids {}..{} are not in the stream any more (trimmed before this node read them)", expected,
                   m.message.id - 1);
      batch.push_back(std::move(m));
    }
    if (!batch.empty()) {
      // Stored as one unit: all of it or none, so a retry never stores a message twice.
      while (!hooks_.store(batch))
        if (!wait_for(200ms)) return;
      last_read_id_ = batch.back().message.id;
    }
    read_position_ = position;
  }
}

// Close requests, other nodes' watches, and their joins and leaves.
void redis_cluster::read_control(const redisReply* entries) {
  for (std::size_t i = 0; i < entries->elements; ++i) {
    const auto* e = entries->element[i];
    control_position_ = reply_string(e->element[0]);
    const auto* f = e->element[1];
    if (f->elements != 2) continue;
    const auto kind = reply_string(f->element[0]);
    const auto value = reply_string(f->element[1]);
    if (kind == "close") {
      hooks_.close_connection(parse_u64(value));
    } else if (kind == "watch" || kind == "unwatch") {
      const auto cut = value.find('\n');
      if (cut == std::string::npos || value.compare(0, cut, node_id_) == 0) continue;
      const bool on = kind == "watch";
      if (on) remote_watches_.fetch_add(1, std::memory_order_relaxed);  // wanted() at once; exact below
      push_job([this, channel = value.substr(cut + 1), on](redis_link&) {
        auto& n = remote_watched_[channel];
        if (on) ++n;
        else if (n > 0) --n;
        if (n == 0) remote_watched_.erase(channel);
        remote_watches_.store(remote_watched_.size(), std::memory_order_relaxed);
      });
    } else if (kind == "presence" && hooks_.presence) {
      const auto event = util::parse_bounded_json(value);
      if (!event.is_object() || event.value("node", "") == node_id_) continue;
      hub::presence_change change;
      change.type = event.value("type", "") == "leave" ? "leave" : "join";
      change.id = event.value("conn_id", hub::conn_id{0});
      change.user = event.value("user", "");
      change.channels = {event.value("channel", "")};
      hooks_.presence(change);
    }
  }
}

}  // namespace wshub::cluster
