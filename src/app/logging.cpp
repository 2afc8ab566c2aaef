#include "wshub/app/logging.hpp"

#include <unistd.h>

#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/rotating_file_sink.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/sinks/stdout_sinks.h>

namespace wshub::app {

namespace {
constexpr const char* pattern = "%Y-%m-%d %H:%M:%S.%e %^%l%$ [%n] %v";
}  // namespace

loggers make_loggers(const config::log_section& cfg) {
  std::vector<spdlog::sink_ptr> sinks;
  if (isatty(STDOUT_FILENO)) sinks.push_back(std::make_shared<spdlog::sinks::stdout_color_sink_mt>());
  else sinks.push_back(std::make_shared<spdlog::sinks::stdout_sink_mt>());
  auto file = std::make_shared<spdlog::sinks::dist_sink_mt>();
  sinks.push_back(file);
  const auto level = spdlog::level::from_str(cfg.level);
  auto make = [&](const char* name) {
    auto logger = std::make_shared<spdlog::logger>(name, sinks.begin(), sinks.end());
    logger->set_level(level);
    logger->set_pattern(pattern);
    logger->flush_on(spdlog::level::warn);
    return logger;
  };
  loggers logs{make("wshub"), make("http"), make("ws"), make("store"), file};
  use_log_file(logs, make_log_file_sink(cfg));
  return logs;
}

spdlog::sink_ptr make_log_file_sink(const config::log_section& cfg) {
  if (cfg.file.empty()) return nullptr;
  auto sink = std::make_shared<spdlog::sinks::rotating_file_sink_mt>(cfg.file, cfg.file_max_bytes, cfg.file_max_files);
  sink->set_formatter(std::make_unique<spdlog::pattern_formatter>(pattern));
  return sink;
}

void use_log_file(const loggers& logs, spdlog::sink_ptr sink) {
  std::vector<spdlog::sink_ptr> sinks;
  if (sink) sinks.push_back(std::move(sink));
  logs.file->set_sinks(std::move(sinks));
}

void set_log_level(const loggers& logs, const std::string& level) {
  const auto l = spdlog::level::from_str(level);
  for (const auto& logger : {logs.app, logs.http, logs.ws, logs.store}) logger->set_level(l);
}

}  // namespace wshub::app
