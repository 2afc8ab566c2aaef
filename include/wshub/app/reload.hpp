#pragma once
// Live reload (SIGHUP): read the configuration again the way the process started, apply what
// can change while running, and log what changed and what needs a restart.
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "wshub/app/config.hpp"
#include "wshub/app/config_source.hpp"
#include "wshub/app/logging.hpp"
#include "wshub/hub/connection_limit.hpp"
#include "wshub/http/access_rules.hpp"
#include "wshub/hub/counters.hpp"

namespace wshub::app {

// A key whose value differs between two configurations.
struct config_change {
  std::string key;
  std::string from;  // JSON text
  std::string to;
  bool live = false;  // applied without a restart
};

// Keys applied while running: log.level, log.file, log.file_max_bytes, log.file_max_files,
// every security.* key (publish keys, JWT settings, rate limits), http.cors_origins,
// http.allowed_hosts, websocket.check_origin, websocket.allowed_origins, http.max_connections and
// http.max_connections_per_ip. Every other key needs a restart.
bool applies_live(const std::string& key);
// The keys whose values differ, in --help order; secrets (publish keys, JWT secret) show as
// "(hidden)".
std::vector<config_change> diff_config(const config& running, const config& next);
// `running` with the live keys of `next`: the configuration in force after a reload.
config merge_live(const config& running, const config& next);

// What a reload changes in a running app; all of it outlives the reloader.
struct live_parts {
  loggers& logs;
  http::live_access& access;
  hub::connection_limit& limit;
  hub::counters& counters;
};

class reloader {
 public:
  // Without a source (an app built from a config object, as tests do) reload() refuses.
  reloader(const config& running, std::optional<config_source> source, live_parts parts);

  // Any thread; reloads run one at a time and may block on reading the config file (and the RS256
  // public key file). When the new configuration is valid (its keys, the rules between them as
  // they will be in force, the files it names for live keys): applies the live keys, reopens the
  // log file, logs each change and returns true. Otherwise logs why, keeps everything as it was
  // and returns false. Open sockets stay open either way.
  bool reload();

 private:
  bool refuse(const std::string& why);

  std::mutex mutex_;
  config running_;  // guarded by mutex_: the configuration in force
  const std::optional<config_source> source_;
  live_parts parts_;
};

}  // namespace wshub::app
