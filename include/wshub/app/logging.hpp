#pragma once
// The named loggers, made once at start-up and handed to the components that log.
#include <memory>

#include <spdlog/logger.h>

#include "wshub/app/config.hpp"

namespace wshub::app {

struct loggers {
  std::shared_ptr<spdlog::logger> app;    // start, stop, configuration
  std::shared_ptr<spdlog::logger> http;   // requests and their errors
  std::shared_ptr<spdlog::logger> ws;     // WebSocket sessions
  std::shared_ptr<spdlog::logger> store;  // the message log
};

// Stdout (journald friendly: no colours when not a terminal), plus a rotating file when
// log.file is set. Throws spdlog::spdlog_ex when the file cannot be opened.
loggers make_loggers(const config::log_section& cfg);

}  // namespace wshub::app
