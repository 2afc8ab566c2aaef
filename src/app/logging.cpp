#include "wshub/app/logging.hpp"

#include <unistd.h>

#include <spdlog/sinks/rotating_file_sink.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/sinks/stdout_sinks.h>

namespace wshub::app {

loggers make_loggers(const config::log_section& cfg) {
  std::vector<spdlog::sink_ptr> sinks;
  if (isatty(STDOUT_FILENO)) sinks.push_back(std::make_shared<spdlog::sinks::stdout_color_sink_mt>());
  else sinks.push_back(std::make_shared<spdlog::sinks::stdout_sink_mt>());
  if (!cfg.file.empty())
    sinks.push_back(std::make_shared<spdlog::sinks::rotating_file_sink_mt>(cfg.file, cfg.file_max_bytes, cfg.file_max_files));
  const auto level = spdlog::level::from_str(cfg.level);
  auto make = [&](const char* name) {
    auto logger = std::make_shared<spdlog::logger>(name, sinks.begin(), sinks.end());
    logger->set_level(level);
    logger->set_pattern("%Y-%m-%d %H:%M:%S.%e %^%l%$ [%n] %v");
    logger->flush_on(spdlog::level::warn);
    return logger;
  };
  return loggers{make("wshub"), make("http"), make("ws"), make("store")};
}

}  // namespace wshub::app
