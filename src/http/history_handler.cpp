#include <nlohmann/json.hpp>

#include "wshub/cache/cached_log.hpp"
#include "wshub/http/access.hpp"
#include "wshub/http/handlers.hpp"
#include "wshub/http/history_query.hpp"

namespace wshub::http::handlers {
namespace {

// The request for the page after `q`'s, starting past `cursor`.
std::string next_page(const history_query& q, std::uint64_t cursor) {
  std::string target = "/api/tool/messages?channel=" + q.channel;  // channel names need no escaping
  if (q.newest_first) {
    target += "&order=desc&before=" + std::to_string(cursor);
    if (q.after != 0) target += "&after=" + std::to_string(q.after);
  } else {
    target += "&after=" + std::to_string(cursor);
    if (q.before) target += "&before=" + std::to_string(*q.before);
  }
  return target + "&limit=" + std::to_string(q.limit);
}

}  // namespace

void history(const router_services& s, const access_rules& a, const request& req, respond_fn respond) {
  const auto version = req.version();
  const auto keep_alive = req.keep_alive();
  std::string error;
  const auto parsed = parse_history_query(req.target(), s.settings.default_channel, error);
  if (!parsed) return respond(make_error({status::bad_request, codes::bad_parameter, error}, version, keep_alive));
  if (auto refused = authorize_read(a, req, parsed->channel)) return respond(std::move(*refused));
  // The cache answers when the page is in memory; else SQLite, read on the blocking pool. The
  // answer goes back through `respond`.
  s.run_blocking([log = cache::cached_log(s.store, s.cache), q = *parsed, version, keep_alive,
                  respond = std::move(respond)] {
    auto page = log.read_range(q.channel, q.after, q.before.value_or(UINT64_MAX), q.limit + 1, q.newest_first);
    const bool has_more = page.size() > q.limit;
    if (has_more) page.resize(q.limit);
    // Each entry is the same JSON object a socket receives for that message.
    std::string body = R"({"channel":)" + nlohmann::json(q.channel).dump() + R"(,"order":")" +
                       (q.newest_first ? "desc" : "asc") + R"(","messages":[)";
    for (std::size_t i = 0; i < page.size(); ++i) {
      if (i) body += ',';
      body += page[i]->text();
    }
    body += R"(],"has_more":)" + std::string(has_more ? "true" : "false");
    if (q.newest_first)
      body += R"(,"next_before":)" + (page.empty() ? std::string("null") : std::to_string(page.back()->id));
    else
      body += R"(,"next_after":)" + std::to_string(page.empty() ? q.after : page.back()->id);
    body += R"(,"next":)" + (has_more ? nlohmann::json(next_page(q, page.back()->id)).dump() : std::string("null"));
    respond(make_json(status::ok, body + "}", version, keep_alive));
  });
}

}  // namespace wshub::http::handlers
