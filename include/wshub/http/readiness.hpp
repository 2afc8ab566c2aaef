#pragma once
// GET /readyz: whether this node should get traffic. Ready when the message log takes writes
// and, when Redis is configured, Redis answers. /healthz only says the process is alive.
#include "wshub/http/error.hpp"
#include "wshub/hub/counters.hpp"
#include "wshub/store/message_log.hpp"

namespace wshub::http {

// 200 {"status":"ready","checks":{...}}, or 503 with the error shape ({"code","message"}) plus
// the same "status" and "checks"; other methods than GET and HEAD get 405. Reads atomics only.
response readiness_response(const request& req, const hub::counters& counters, const store::message_log& store);

}  // namespace wshub::http
