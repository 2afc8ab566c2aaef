#include "wshub/app/reload.hpp"

#include <algorithm>
#include <array>
#include <exception>
#include <string_view>

#include "config_options.hpp"
#include "wshub/app/access_from_config.hpp"
#include "wshub/app/systemd_notify.hpp"

namespace wshub::app {
namespace {

// Each of these is read on every use through something that can be swapped safely: the loggers'
// levels and file sink, the access rules (http::live_access), the connection limit.
constexpr std::array<std::string_view, 19> live_keys{
    "log.level",
    "log.file",
    "log.file_max_bytes",
    "log.file_max_files",
    "security.publish_keys",
    "security.open_publishing",
    "security.jwt_hs256_secret",
    "security.jwt_rs256_public_key_file",
    "security.require_token",
    "security.public_metrics",
    "security.publish_rate_per_key",
    "security.publish_rate_per_ip",
    "security.publish_burst",
    "http.cors_origins",
    "http.allowed_hosts",
    "websocket.check_origin",
    "websocket.allowed_origins",
    "http.max_connections",
    "http.max_connections_per_ip",
};

// Values never written to the log.
bool is_secret(const std::string& key) {
  return key.find("secret") != std::string::npos || key.find("password") != std::string::npos ||
         key == "security.publish_keys";
}

// get() shows publish keys without their secrets; a changed secret is a change all the same.
bool publish_key_secrets_differ(const config& a, const config& b) {
  const auto& x = a.security.publish_keys;
  const auto& y = b.security.publish_keys;
  if (x.size() != y.size()) return true;
  for (std::size_t i = 0; i < x.size(); ++i)
    if (x[i].secret != y[i].secret) return true;
  return false;
}

}  // namespace

bool applies_live(const std::string& key) {
  return std::find(live_keys.begin(), live_keys.end(), key) != live_keys.end();
}

// A value for the log. Strings from flags or the environment may hold invalid UTF-8: replaced,
// never thrown (found by fuzzing: the throw ended the process on SIGHUP).
std::string shown(const nlohmann::json& value) {
  return value.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

std::vector<config_change> diff_config(const config& running, const config& next) {
  std::vector<config_change> changes;
  for (const auto& o : config_options()) {
    const auto from = o.get(running);
    const auto to = o.get(next);
    const bool differ = from != to || (o.key == "security.publish_keys" && publish_key_secrets_differ(running, next));
    if (!differ) continue;
    if (is_secret(o.key)) changes.push_back({o.key, "(hidden)", "(hidden)", applies_live(o.key)});
    else changes.push_back({o.key, shown(from), shown(to), applies_live(o.key)});
  }
  return changes;
}

config merge_live(const config& running, const config& next) {
  config merged = running;
  for (const auto& o : config_options())
    if (applies_live(o.key) && o.key != "security.publish_keys") o.set(merged, o.get(next));
  // get() shows publish keys without their secrets: they are copied whole.
  merged.security.publish_keys = next.security.publish_keys;
  return merged;
}

reloader::reloader(const config& running, std::optional<config_source> source, live_parts parts)
    : running_(running), source_(std::move(source)), parts_(parts) {}

bool reloader::refuse(const std::string& why) {
  parts_.counters.config_reload_failures.fetch_add(1, std::memory_order_relaxed);
  parts_.logs.app->error("reload refused, keeping the running configuration: {}", why);
  notify_ready("reload refused: " + why);
  return false;
}

bool reloader::reload() {
  std::lock_guard lock(mutex_);
  if (!source_) {
    parts_.logs.app->warn("reload: started without a command line, so there is nothing to read again");
    return false;
  }
  notify_reloading();
  config next, merged;
  std::shared_ptr<const http::access_rules> access;
  spdlog::sink_ptr file_sink;
  try {
    next = source_->load();
    merged = merge_live(running_, next);
    // The new keys with the running listen address (a change of address waits for a restart):
    // publishing on a public address still needs keys.
    validate(merged);
    access = make_access_rules(merged, parts_.access.current().get());
    file_sink = make_log_file_sink(next.log);  // opened before anything changes
  } catch (const config_error& e) {
    return refuse(e.what());
  } catch (const std::exception& e) {  // the log file cannot be opened
    return refuse(std::string("log.file: ") + e.what());
  }

  // Everything below is infallible: the new configuration is applied whole.
  set_log_level(parts_.logs, next.log.level);
  use_log_file(parts_.logs, std::move(file_sink));
  parts_.access.replace(std::move(access));
  parts_.limit.set_max(next.http.max_connections);
  parts_.limit.set_max_per_ip(next.http.max_connections_per_ip);

  const auto changes = diff_config(running_, next);
  std::size_t applied = 0;
  for (const auto& c : changes) {
    if (c.live) {
      ++applied;
      parts_.logs.app->info("reload: {} changed from {} to {}", c.key, c.from, c.to);
    } else {
      parts_.logs.app->warn("reload: {} changed from {} to {}, which needs a restart; still using {}", c.key, c.from,
                            c.to, c.from);
    }
  }
  running_ = std::move(merged);
  parts_.logs.app->info("configuration reloaded: {} change(s) applied, {} need(s) a restart{}", applied,
                        changes.size() - applied, next.log.file.empty() ? "" : "; log file reopened");
  parts_.logs.app->debug("reload: compared {} keys", config_options().size());
  parts_.counters.config_reloads.fetch_add(1, std::memory_order_relaxed);
  notify_ready("configuration reloaded");
  return true;
}

}  // namespace wshub::app
