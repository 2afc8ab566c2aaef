#include <atomic>
#include <charconv>
#include <chrono>
#include <memory>

#include <boost/beast/http/field.hpp>
#include "wshub/http/access.hpp"
#include "wshub/http/handlers.hpp"
#include "wshub/http/publish_form.hpp"
#include "wshub/hub/channel_name.hpp"
#include "wshub/util/query_string.hpp"
#include "wshub/util/utf8.hpp"
#include "wshub/ws/connect_params.hpp"

namespace wshub::http::handlers {

namespace bhttp = boost::beast::http;

namespace {

// The channels a message goes to: `channel` first, then `channels` (already without repeats),
// without repeats; the default channel when neither is given.
std::vector<std::string> channels_of(publish_fields& f, const std::string& default_channel) {
  std::vector<std::string> out;
  out.reserve(f.channels.size() + 1);
  if (f.channel) out.push_back(std::move(*f.channel));
  for (auto& c : f.channels)
    if (out.empty() || c != out.front()) out.push_back(std::move(c));
  if (out.empty()) out.push_back(default_channel);
  return out;
}

// The checks of one message's fields: the publish request they make, or why not. With a key,
// the key decides who publishes (its name is the username) and where.
std::optional<error> to_message(const router_services& s, const security::publish_key* key, publish_fields& fields,
                                hub::message& p) {
  auto bad = [](std::string message) { return error{status::bad_request, codes::bad_parameter, std::move(message)}; };
  if (!fields.message || fields.message->empty()) return bad("message is required");
  if (fields.message->size() > s.settings.max_message_bytes)
    return error{status::payload_too_large, codes::payload_too_large,
                 "message is larger than " + std::to_string(s.settings.max_message_bytes) + " bytes"};
  if (!util::valid_utf8(*fields.message)) return bad("message must be valid UTF-8");
  p.channels = channels_of(fields, s.settings.default_channel);
  if (p.channels.size() > s.settings.max_channels)
    return bad("at most " + std::to_string(s.settings.max_channels) + " channels per message");
  for (const auto& c : p.channels)
    if (!hub::valid_channel_name(c)) return bad("channel must be " + std::string(hub::channel_name_rule));
  if (fields.to_conn && fields.to_user) return bad("give to_conn or to_user, not both");
  if (fields.to_conn) {
    const auto id = ws::parse_id(*fields.to_conn);
    if (!id || *id == 0) return bad("to_conn must be a connection id");
    p.to_conn = *id;
  }
  if (fields.to_user) {
    if (fields.to_user->empty() || fields.to_user->size() > 128 || !util::valid_utf8(*fields.to_user))
      return bad("to_user must be 1-128 characters of UTF-8");
    p.to_user = std::move(*fields.to_user);
  }
  p.username = s.settings.username;
  if (key) {
    for (const auto& c : p.channels)
      if (!security::key_ring::allows(*key, c))
        return error{status::forbidden, codes::authorization, "the key '" + key->name + "' may not publish to " + c};
    p.username = key->name;
  }
  p.body = std::move(*fields.message);
  return std::nullopt;
}

// Who may publish: sets `key` (null when publishing is open), or answers the refusal.
std::optional<response> refuse_publisher(const access_rules& a, const request& req, const request_context& ctx,
                                         const security::publish_key*& key) {
  key = nullptr;
  if (!a.keys.empty()) {
    key = presented_publish_key(a, req);
    if (!key) return unauthorized(req, "a valid publish key is required");
  } else if (!ctx.origin_allowed) {
    // Open publishing: a page of another site (a plain HTML form needs no CORS) may not publish.
    return make_error({status::forbidden, codes::authorization,
                       "publishing from the origin '" + std::string(req[bhttp::field::origin]) + "' is not allowed"},
                      req.version(), req.keep_alive());
  }
  return std::nullopt;
}

// Takes `count` tokens from the key's bucket and the address's, or answers 429.
std::optional<response> refuse_rate(const access_rules& a, const request& req, const request_context& ctx,
                                    const security::publish_key* key, std::size_t count) {
  const std::string no_name;
  const std::pair<security::rate_limiter*, const std::string&> limits[] = {{a.key_rate.get(), key ? key->name : no_name},
                                                                           {a.ip_rate.get(), ctx.remote_ip}};
  for (const auto& [limiter, who] : limits) {
    if (!limiter || who.empty()) continue;
    if (limiter->burst() > 0 && static_cast<double>(count) > limiter->burst())
      return make_error({status::too_many_requests, codes::too_many_requests,
                         "a batch of " + std::to_string(count) + " messages is more than the publish rate allows at once (" +
                             std::to_string(static_cast<std::size_t>(limiter->burst())) + ")"},
                        req.version(), req.keep_alive());
    const auto wait = limiter->take(who, security::rate_limiter::clock::now(), static_cast<double>(count));
    if (wait.count() == 0) continue;
    auto res = make_error({status::too_many_requests, codes::too_many_requests, "publishing too fast; retry later"},
                          req.version(), req.keep_alive());
    res.set(bhttp::field::retry_after, std::to_string((wait.count() + 999) / 1000));
    return res;
  }
  return std::nullopt;
}

// The answer to a publish the log or the cluster did not take.
response publish_failure(std::error_code ec, unsigned version, bool keep_alive, spdlog::logger& log) {
  if (ec == store::log_errc::overloaded) {
    auto res = make_error({status::service_unavailable, codes::too_many_requests,
                           "the message log is overloaded; retry shortly"},
                          version, keep_alive);
    res.set(bhttp::field::retry_after, "1");
    return res;
  }
  if (ec.category() == cluster::cluster_category()) {  // the cluster logs its own faults once
    auto res = make_error({status::service_unavailable, codes::server_error, "the message was not published: " + ec.message()},
                          version, keep_alive);
    res.set(bhttp::field::retry_after, "1");
    return res;
  }
  log.error("publish failed: {}", ec.message());
  return make_error({status::service_unavailable, codes::server_error, "the message could not be stored: " + ec.message()},
                    version, keep_alive);
}

// Who is online is for admin keys to know: a targeted publish by another key is not told
// whether its target was reached.
bool tells_recipients(const security::publish_key* key, const hub::message& p) {
  return !key || key->admin || (p.to_conn == 0 && p.to_user.empty());
}

// One send_message request from its checks to its answer: the publisher completes it once.
class message_publish final : public publish::publish_op {
 public:
  message_publish(respond_fn respond, const request& req, std::shared_ptr<spdlog::logger> log)
      : respond_(std::move(respond)), log_(std::move(log)), version_(req.version()), keep_alive_(req.keep_alive()) {}
  bool tell_recipients = true;

  void complete() override {
    const std::unique_ptr<message_publish> self(this);
    if (error) return respond_(publish_failure(error, version_, keep_alive_, *log_));
    char text[96];
    auto* end = text;
    const auto put = [&end](std::string_view s) { end = std::copy(s.begin(), s.end(), end); };
    const auto put_number = [&end](std::uint64_t n) { end = std::to_chars(end, end + 24, n).ptr; };
    // Keys in name order, as the answer has always had them.
    put(R"({"id":)");
    put_number(id);
    if (tell_recipients) {
      put(R"(,"recipients":)");
      put_number(recipients);
    }
    put(R"(,"status":"OK"})");
    respond_(make_json(status::ok, std::string(text, end), version_, keep_alive_));
  }
  void abandon() override { delete this; }

 private:
  respond_fn respond_;
  std::shared_ptr<spdlog::logger> log_;
  unsigned version_;
  bool keep_alive_;
};

// One send_messages request: an op per message, answered once the last one is complete.
class batch_publish {
 public:
  batch_publish(std::size_t n, respond_fn respond, const request& req, std::shared_ptr<spdlog::logger> log)
      : items_(n), left_(n), respond_(std::move(respond)), log_(std::move(log)), version_(req.version()),
        keep_alive_(req.keep_alive()) {
    for (auto& item : items_) item.batch = this;
  }
  std::vector<publish::publish_op*> ops() {
    std::vector<publish::publish_op*> out;
    out.reserve(items_.size());
    for (auto& item : items_) out.push_back(&item);
    return out;
  }
  hub::message& message(std::size_t i) { return items_[i].message; }
  void tell_recipients(std::size_t i, bool tell) { items_[i].tell_recipients = tell; }

 private:
  struct item final : publish::publish_op {
    batch_publish* batch = nullptr;
    bool tell_recipients = true;
    void complete() override { batch->item_done(); }
    void abandon() override { batch->item_abandoned(); }
  };

  // Any thread; the last item gone deletes the batch unanswered.
  void item_abandoned() {
    abandoned_ = true;
    if (left_.fetch_sub(1, std::memory_order_acq_rel) == 1) delete this;
  }

  // Any thread; the last one answers and deletes the batch.
  void item_done() {
    if (left_.fetch_sub(1, std::memory_order_acq_rel) != 1) return;
    const std::unique_ptr<batch_publish> self(this);
    if (abandoned_) return;  // the node is stopping: some item will never be answered
    for (const auto& i : items_)
      if (i.error) return respond_(publish_failure(i.error, version_, keep_alive_, *log_));
    std::string body = R"({"status":"OK","results":[)";
    for (std::size_t i = 0; i < items_.size(); ++i) {
      if (i) body += ',';
      body += R"({"id":)" + std::to_string(items_[i].id);
      if (items_[i].tell_recipients) body += R"(,"recipients":)" + std::to_string(items_[i].recipients);
      body += '}';
    }
    body += "]}";
    respond_(make_json(status::ok, std::move(body), version_, keep_alive_));
  }

  std::vector<item> items_;
  std::atomic<std::size_t> left_;
  std::atomic<bool> abandoned_{false};
  respond_fn respond_;
  std::shared_ptr<spdlog::logger> log_;
  unsigned version_;
  bool keep_alive_;
};

}  // namespace

void send_message(const router_services& s, const access_rules& a, const request& req, const request_context& ctx,
                  respond_fn respond) {
  const auto version = req.version();
  const auto keep_alive = req.keep_alive();
  const security::publish_key* key = nullptr;
  if (auto refused = refuse_publisher(a, req, ctx, key)) return respond(std::move(*refused));
  publish_fields fields;
  if (auto e = parse_publish_fields(req[bhttp::field::content_type], req.body(), util::query_of(req.target()), fields,
                                    s.settings.max_channels))
    return respond(make_error(*e, version, keep_alive));
  hub::message m;
  if (auto e = to_message(s, key, fields, m)) return respond(make_error(*e, version, keep_alive));
  if (auto refused = refuse_rate(a, req, ctx, key, 1)) return respond(std::move(*refused));

  auto* op = new message_publish(std::move(respond), req, s.log);  // deletes itself once complete
  op->tell_recipients = tells_recipients(key, m);
  op->message = std::move(m);
  s.publisher.publish(*op);
}

void send_messages(const router_services& s, const access_rules& a, const request& req, const request_context& ctx,
                   respond_fn respond) {
  const auto version = req.version();
  const auto keep_alive = req.keep_alive();
  const security::publish_key* key = nullptr;
  if (auto refused = refuse_publisher(a, req, ctx, key)) return respond(std::move(*refused));
  std::vector<publish_fields> items;
  if (auto e = parse_publish_batch(req[bhttp::field::content_type], req.body(), items, s.settings.max_batch,
                                   s.settings.max_channels))
    return respond(make_error(*e, version, keep_alive));
  // All or nothing: every item is checked before any is published.
  std::vector<hub::message> batch(items.size());
  for (std::size_t i = 0; i < items.size(); ++i) {
    if (auto e = to_message(s, key, items[i], batch[i])) {
      e->message = "messages[" + std::to_string(i) + "]: " + e->message;
      return respond(make_error(*e, version, keep_alive));
    }
  }
  if (auto refused = refuse_rate(a, req, ctx, key, batch.size())) return respond(std::move(*refused));

  auto* answer = new batch_publish(batch.size(), std::move(respond), req, s.log);  // deletes itself once answered
  for (std::size_t i = 0; i < batch.size(); ++i) {
    answer->tell_recipients(i, tells_recipients(key, batch[i]));
    answer->message(i) = std::move(batch[i]);
  }
  s.publisher.publish_batch(answer->ops());
}

}  // namespace wshub::http::handlers
