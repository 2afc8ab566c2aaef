#pragma once
// sd_notify: READY, STOPPING and watchdog pings when run under systemd; no-ops otherwise.
#include <chrono>
#include <string>

namespace wshub::app {

void notify_ready(const std::string& status);
void notify_stopping();
// A reload began; end it with notify_ready().
void notify_reloading();
void notify_watchdog();
// The watchdog interval systemd asked for (WATCHDOG_USEC), or zero.
std::chrono::microseconds watchdog_interval();

}  // namespace wshub::app
