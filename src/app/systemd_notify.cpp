#include "wshub/app/systemd_notify.hpp"

#if WSHUB_HAVE_SYSTEMD
#include <systemd/sd-daemon.h>
#endif

namespace wshub::app {

#if WSHUB_HAVE_SYSTEMD
void notify_ready(const std::string& status) { sd_notifyf(0, "READY=1\nSTATUS=%s", status.c_str()); }
void notify_stopping() { sd_notify(0, "STOPPING=1"); }
void notify_reloading() { sd_notify(0, "RELOADING=1"); }
void notify_watchdog() { sd_notify(0, "WATCHDOG=1"); }
std::chrono::microseconds watchdog_interval() {
  std::uint64_t usec = 0;
  return sd_watchdog_enabled(0, &usec) > 0 ? std::chrono::microseconds(usec) : std::chrono::microseconds(0);
}
#else
void notify_ready(const std::string&) {}
void notify_stopping() {}
void notify_reloading() {}
void notify_watchdog() {}
std::chrono::microseconds watchdog_interval() { return std::chrono::microseconds(0); }
#endif

}  // namespace wshub::app
