#pragma once
// GET /metrics: the process's counters in the Prometheus text exposition format (0.0.4),
// read from the atomics at scrape time so the hot paths never wait for a scrape.
#include <string>

#include "wshub/http/error.hpp"
#include "wshub/hub/counters.hpp"
#include "wshub/hub/hub.hpp"
#include "wshub/store/message_log.hpp"

namespace wshub::http {

inline constexpr const char* metrics_content_type = "text/plain; version=0.0.4; charset=utf-8";

// The whole page. Any thread; takes no lock that a publish or a delivery takes.
std::string metrics_text(const hub::counters& counters, const hub::hub& hub, const store::message_log& store);

// The page, for a GET or HEAD (the router answers other methods 405).
response metrics_response(const request& req, const hub::counters& counters, const hub::hub& hub,
                          const store::message_log& store);

}  // namespace wshub::http
