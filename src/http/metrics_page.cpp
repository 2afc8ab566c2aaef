#include "wshub/http/metrics_page.hpp"

#include <cstdint>
#include <utility>
#include <vector>

#include <boost/beast/http/field.hpp>
#include <prometheus/metric_family.h>
#include <prometheus/text_serializer.h>

namespace wshub::http {
namespace {

namespace bhttp = boost::beast::http;
using prometheus::ClientMetric;
using prometheus::MetricFamily;
using prometheus::MetricType;

constexpr auto relaxed = std::memory_order_relaxed;

ClientMetric sample(double value, MetricType type, std::vector<ClientMetric::Label> labels = {}) {
  ClientMetric m;
  m.label = std::move(labels);
  if (type == MetricType::Counter) m.counter.value = value;
  else m.gauge.value = value;
  return m;
}

MetricFamily family(std::string name, std::string help, MetricType type, std::vector<ClientMetric> samples) {
  return MetricFamily{std::move(name), std::move(help), type, std::move(samples)};
}

MetricFamily counter(std::string name, std::string help, std::uint64_t value) {
  return family(std::move(name), std::move(help), MetricType::Counter,
                {sample(static_cast<double>(value), MetricType::Counter)});
}

MetricFamily gauge(std::string name, std::string help, double value) {
  return family(std::move(name), std::move(help), MetricType::Gauge, {sample(value, MetricType::Gauge)});
}

MetricFamily histogram(std::string name, std::string help, const hub::latency_histogram& h) {
  const auto snap = h.read();
  ClientMetric m;
  m.histogram.sample_count = snap.count;
  m.histogram.sample_sum = snap.sum_seconds;
  std::uint64_t cumulative = 0;
  for (std::size_t i = 0; i < hub::latency_histogram::bounds.size(); ++i) {
    cumulative += snap.counts[i];
    m.histogram.bucket.push_back({cumulative, hub::latency_histogram::bounds[i]});
  }
  // The serializer adds the +Inf bucket (sample_count) after the last finite bound.
  return family(std::move(name), std::move(help), MetricType::Histogram, {std::move(m)});
}

std::vector<MetricFamily> collect(const hub::counters& c, const hub::hub& hub, const store::message_log& store) {
  std::vector<MetricFamily> out;
  out.push_back(family("wshub_build_info", "wshub's version; the value is always 1", MetricType::Gauge,
                       {sample(1, MetricType::Gauge, {{"version", WSHUB_VERSION}})}));
  out.push_back(gauge("wshub_connections", "open WebSocket connections", static_cast<double>(hub.connection_count())));
  out.push_back(gauge("wshub_subscriptions", "channel subscriptions of the open WebSocket connections",
                      static_cast<double>(hub.subscription_count())));
  out.push_back(counter("wshub_messages_published_total", "messages durably stored and fanned out",
                        c.published.load(relaxed)));
  out.push_back(counter("wshub_messages_delivered_total", "message frames queued to sockets", hub.deliveries()));
  out.push_back(gauge("wshub_messages_per_second", "messages published during the last full second",
                      c.messages_per_second.load(relaxed)));
  out.push_back(counter("wshub_publish_failures_total", "publishes refused or failed by the store (nothing acknowledged)",
                        c.publish_failures.load(relaxed)));
  out.push_back(counter("wshub_slow_consumer_closes_total", "sockets closed because their outbound queue was full",
                        c.slow_consumer_closes.load(relaxed)));
  std::vector<ClientMetric> refusals;
  for (std::size_t i = 0; i < hub::refusal_reason_names.size(); ++i)
    refusals.push_back(sample(static_cast<double>(c.refusals[i].load(relaxed)), MetricType::Counter,
                              {{"reason", std::string(hub::refusal_reason_names[i])}}));
  out.push_back(family("wshub_refusals_total", "connections and requests refused, by reason (docs/API.md)",
                       MetricType::Counter, std::move(refusals)));
  out.push_back(counter("wshub_bytes_sent_total", "WebSocket message bytes written to sockets", hub.bytes_sent()));
  out.push_back(counter("wshub_socket_writes_total",
                        "Writes to plain TCP sockets (a WebSocket session's batch of frames, an HTTP answer)",
                        hub.socket_writes()));
  out.push_back(counter("wshub_socket_write_calls_total",
                        "System calls that made those writes (io_uring_enter, or sendmsg without io_uring)",
                        hub.write_calls()));
  out.push_back(histogram("wshub_publish_store_seconds", "time from a publish to its message being durable in the log",
                          c.publish_store_latency));
  out.push_back(gauge("wshub_store_writable", "1 when the last write to the message log succeeded",
                      store.writable() ? 1 : 0));
  out.push_back(counter("wshub_store_commits_total",
                        "transactions that stored messages (messages published / commits = messages per commit)",
                        store.commits()));
  out.push_back(counter("wshub_store_syncs_total",
                        "fdatasyncs of the log's WAL that made commits durable (0 with store.synchronous normal)",
                        store.syncs()));
  out.push_back(gauge("wshub_store_last_id", "the id of the last message stored", static_cast<double>(store.last_id())));
  out.push_back(gauge("wshub_redis_configured", "1 when a Redis back-end is configured", c.redis_configured.load(relaxed) ? 1 : 0));
  out.push_back(gauge("wshub_redis_up", "1 when the configured Redis answers", c.redis_reachable.load(relaxed) ? 1 : 0));
  out.push_back(gauge("wshub_cluster_nodes", "live nodes of the cluster at this node's last heartbeat, itself included (0 without Redis)",
                      static_cast<double>(c.cluster_nodes.load(relaxed))));
  out.push_back(family("wshub_config_reloads_total", "configuration reloads (SIGHUP), by result", MetricType::Counter,
                       {sample(static_cast<double>(c.config_reloads.load(relaxed)), MetricType::Counter,
                               {{"result", "applied"}}),
                        sample(static_cast<double>(c.config_reload_failures.load(relaxed)), MetricType::Counter,
                               {{"result", "refused"}})}));
  return out;
}

}  // namespace

std::string metrics_text(const hub::counters& counters, const hub::hub& hub, const store::message_log& store) {
  return prometheus::TextSerializer().Serialize(collect(counters, hub, store));
}

response metrics_response(const request& req, const hub::counters& counters, const hub::hub& hub,
                          const store::message_log& store) {
  response res{status::ok, req.version()};
  res.set(bhttp::field::server, "wshub/" WSHUB_VERSION);
  res.set(bhttp::field::content_type, metrics_content_type);
  res.set(bhttp::field::cache_control, "no-store");
  res.keep_alive(req.keep_alive());
  res.body() = metrics_text(counters, hub, store);
  res.prepare_payload();
  return res;
}

}  // namespace wshub::http
