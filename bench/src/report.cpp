#include "report.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace wshub::bench {

namespace {

double percentile_ms(const std::vector<std::int64_t>& sorted, double p) {
  const auto rank = static_cast<std::size_t>(std::ceil(p * static_cast<double>(sorted.size())));
  return static_cast<double>(sorted[std::min(sorted.size(), std::max<std::size_t>(rank, 1)) - 1]) / 1e6;
}

std::string json_string(const std::string& s) {
  std::string out = "\"";
  for (const char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (static_cast<unsigned char>(c) < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", c);
      out += buf;
    } else {
      out += c;
    }
  }
  return out + "\"";
}

}  // namespace

latency_summary summarize(std::vector<std::int64_t>& samples_ns) {
  latency_summary s;
  s.count = samples_ns.size();
  if (samples_ns.empty()) return s;
  std::sort(samples_ns.begin(), samples_ns.end());
  s.p50_ms = percentile_ms(samples_ns, 0.50);
  s.p90_ms = percentile_ms(samples_ns, 0.90);
  s.p99_ms = percentile_ms(samples_ns, 0.99);
  s.max_ms = static_cast<double>(samples_ns.back()) / 1e6;
  return s;
}

std::string fixed(double v, int decimals) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
  return buf;
}

std::string thousands(double v) {
  std::string digits = fixed(std::round(std::fabs(v)), 0);
  std::string out;
  for (std::size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return v < 0 ? "-" + out : out;
}

report::report(std::string scenario, std::string label) {
  title_ = scenario + (label.empty() ? "" : " [" + label + "]");
  json_ = "{\"scenario\":" + json_string(scenario) + ",\"label\":" + json_string(label);
}

void report::row(const std::string& name, const std::string& text) { rows_.emplace_back(name, text); }

void report::warn(const std::string& text) { warnings_.push_back(text); }

void report::field(const std::string& key, double v, int decimals) {
  json_ += "," + json_string(key) + ":" + (std::isfinite(v) ? fixed(v, decimals) : "null");
}

void report::field(const std::string& key, std::uint64_t v) { json_ += "," + json_string(key) + ":" + std::to_string(v); }

void report::field(const std::string& key, const std::string& v) { json_ += "," + json_string(key) + ":" + json_string(v); }

void report::field(const std::string& key, bool v) { json_ += "," + json_string(key) + ":" + (v ? "true" : "false"); }

void report::latency(const std::string& name, const std::string& prefix, const latency_summary& s) {
  field(prefix + "_p50_ms", s.p50_ms, 3);
  field(prefix + "_p90_ms", s.p90_ms, 3);
  field(prefix + "_p99_ms", s.p99_ms, 3);
  field(prefix + "_max_ms", s.max_ms, 3);
  field(prefix + "_samples", static_cast<std::uint64_t>(s.count));
  if (s.count == 0) return row(name, "no samples");
  row(name, "p50 " + fixed(s.p50_ms, 2) + " ms   p90 " + fixed(s.p90_ms, 2) + " ms   p99 " + fixed(s.p99_ms, 2) +
                " ms   max " + fixed(s.max_ms, 2) + " ms   (" + thousands(static_cast<double>(s.count)) + " samples)");
}

void report::print(bool json_only) const {
  if (!json_only) {
    std::printf("== %s\n", title_.c_str());
    std::size_t width = 0;
    for (const auto& [name, text] : rows_) width = std::max(width, name.size());
    for (const auto& [name, text] : rows_) std::printf("  %-*s  %s\n", static_cast<int>(width), name.c_str(), text.c_str());
    for (const auto& w : warnings_) std::printf("  warning: %s\n", w.c_str());
  }
  std::printf("%s}\n", json_.c_str());
  std::fflush(stdout);
}

}  // namespace wshub::bench
