#include <nlohmann/json.hpp>

#include "wshub/http/access.hpp"
#include "wshub/http/handlers.hpp"
#include "wshub/hub/channel_name.hpp"
#include "wshub/util/query_string.hpp"
#include "wshub/ws/connect_params.hpp"

namespace wshub::http::handlers {

namespace {
constexpr std::size_t default_page = 100;
constexpr std::size_t max_page = 1000;
}  // namespace

void history(const router_services& s, const request& req, respond_fn respond) {
  const auto version = req.version();
  const auto keep_alive = req.keep_alive();
  auto bad = [&](std::string message) {
    respond(make_error({status::bad_request, codes::bad_parameter, std::move(message)}, version, keep_alive));
  };
  const auto params = util::parse_query_string(util::query_of(req.target()));
  if (!params) return bad("the query string is malformed");
  std::string channel = s.settings.default_channel;
  std::uint64_t after = 0;
  std::size_t limit = default_page;
  for (const auto& [name, value] : *params) {
    if (name == "channel") {
      if (!hub::valid_channel_name(value)) return bad("channel must be " + std::string(hub::channel_name_rule));
      channel = value;
    } else if (name == "after") {
      const auto id = ws::parse_id(value);
      if (!id) return bad("after must be a message id");
      after = *id;
    } else if (name == "limit") {
      const auto n = ws::parse_id(value);
      if (!n || *n == 0 || *n > max_page) return bad("limit must be between 1 and " + std::to_string(max_page));
      limit = static_cast<std::size_t>(*n);
    }
  }
  if (auto refused = authorize_read(s, req, channel)) return respond(std::move(*refused));
  // SQLite is read on the blocking pool; the answer goes back through `respond`.
  s.run_blocking([&store = s.store, channel, after, limit, version, keep_alive, respond = std::move(respond)] {
    auto page = store.read_after({channel}, after, limit + 1);
    const bool has_more = page.size() > limit;
    if (has_more) page.resize(limit);
    // Each entry is the same JSON object a socket receives for that message.
    std::string body = R"({"channel":)" + nlohmann::json(channel).dump() + R"(,"messages":[)";
    for (std::size_t i = 0; i < page.size(); ++i) body += (i ? "," : "") + hub::encode_message_json(page[i]);
    body += R"(],"next_after":)" + std::to_string(page.empty() ? after : page.back().id) +
            R"(,"has_more":)" + (has_more ? "true" : "false") + "}";
    respond(make_json(status::ok, body, version, keep_alive));
  });
}

}  // namespace wshub::http::handlers
