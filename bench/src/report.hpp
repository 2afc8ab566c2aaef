#pragma once
// What a run prints: a small table for people and one JSON line for scripts.
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace wshub::bench {

// Nearest-rank percentiles of nanosecond samples, in milliseconds.
struct latency_summary {
  std::size_t count = 0;
  double p50_ms = 0, p90_ms = 0, p99_ms = 0, max_ms = 0;
};
latency_summary summarize(std::vector<std::int64_t>& samples_ns);  // sorts the samples

// 1234567 -> "1,234,567"
std::string thousands(double v);
std::string fixed(double v, int decimals);

class report {
 public:
  report(std::string scenario, std::string label);

  // A table row: a name and its text.
  void row(const std::string& name, const std::string& text);
  void warn(const std::string& text);
  // JSON fields, in the order they are added.
  void field(const std::string& key, double v, int decimals);
  void field(const std::string& key, std::uint64_t v);
  void field(const std::string& key, const std::string& v);
  void field(const std::string& key, bool v);
  // p50/p90/p99/max fields named prefix_p50_ms etc., and a table row.
  void latency(const std::string& name, const std::string& prefix, const latency_summary& s);

  void print(bool json_only) const;

 private:
  std::string title_;
  std::vector<std::pair<std::string, std::string>> rows_;
  std::vector<std::string> warnings_;
  std::string json_;
};

}  // namespace wshub::bench
