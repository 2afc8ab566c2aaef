#pragma once
// The named loggers, made once at start-up and handed to the components that log.
#include <memory>

#include <spdlog/logger.h>
#include <spdlog/sinks/dist_sink.h>

#include "wshub/app/config.hpp"

namespace wshub::app {

struct loggers {
  std::shared_ptr<spdlog::logger> app;    // start, stop, configuration
  std::shared_ptr<spdlog::logger> http;   // requests and their errors
  std::shared_ptr<spdlog::logger> ws;     // WebSocket sessions
  std::shared_ptr<spdlog::logger> store;  // the message log
  // Shared by all four: holds the log file's sink, or none; swapped by use_log_file().
  std::shared_ptr<spdlog::sinks::dist_sink_mt> file;
};

// Stdout (journald friendly: no colours when not a terminal), plus a rotating file when
// log.file is set. Throws spdlog::spdlog_ex when the file cannot be opened.
loggers make_loggers(const config::log_section& cfg);

// For a reload, any thread. A fresh sink for log.file (null when it is empty), opening the file
// anew; throws spdlog::spdlog_ex when it cannot be opened.
spdlog::sink_ptr make_log_file_sink(const config::log_section& cfg);
// Makes `sink` (null: none) the loggers' file sink; the previous one is closed.
void use_log_file(const loggers& logs, spdlog::sink_ptr sink);
// `level` is one of log.level's valid values.
void set_log_level(const loggers& logs, const std::string& level);

}  // namespace wshub::app
