// The Grafana dashboard and the Prometheus alert rules of packaging/: promtool accepts the rules
// (and their unit tests pass), every dashboard query is valid PromQL, and every metric either
// file names is in the /metrics of a live wshub after traffic.
#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>

#include <nlohmann/json.hpp>

#include "support/test_clients.hpp"
#include "support/test_server.hpp"

namespace wshub::test {
namespace {

using json = nlohmann::json;
namespace fs = std::filesystem;

const fs::path source_dir = WSHUB_SOURCE_DIR;
const fs::path rules_file = source_dir / "packaging" / "prometheus" / "wshub-rules.yml";
const fs::path rules_tests = source_dir / "tests" / "monitoring" / "wshub-rules.test.yml";
const fs::path dashboard_file = source_dir / "packaging" / "grafana" / "wshub.json";

std::string read_text(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

// Runs a shell command; returns its exit code, with stdout and stderr through `output`.
int run_shell(const std::string& command, std::string& output) {
  output.clear();
  FILE* pipe = popen((command + " 2>&1").c_str(), "r");
  if (!pipe) return -1;
  char buf[4096];
  while (const auto n = std::fread(buf, 1, sizeof buf, pipe)) output.append(buf, n);
  const int status = pclose(pipe);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

// wshub metric names in a text (the files' queries): "wshub_" then lower case, digits and '_'.
std::set<std::string> metric_names_in(const std::string& text) {
  static const std::regex name(R"(\bwshub_[a-z0-9_]+)");
  std::set<std::string> names;
  for (std::sregex_iterator it(text.begin(), text.end(), name), end; it != end; ++it) names.insert(it->str());
  return names;
}

// The series names of a Prometheus text exposition, and its family names ("# TYPE name type":
// a histogram's family is named without its _bucket, _sum and _count).
std::set<std::string> scraped_names(const std::string& exposition) {
  std::set<std::string> names;
  std::istringstream lines(exposition);
  for (std::string line; std::getline(lines, line);) {
    if (line.rfind("# TYPE ", 0) == 0) names.insert(line.substr(7, line.find(' ', 7) - 7));
    else if (!line.empty() && line[0] != '#') names.insert(line.substr(0, line.find_first_of("{ ")));
  }
  return names;
}

// Every query of the dashboard, with Grafana's variables replaced as Grafana would.
std::vector<std::string> dashboard_queries(const json& dashboard) {
  std::vector<std::string> out;
  for (const auto& panel : dashboard["panels"])
    for (const auto& target : panel.value("targets", json::array())) {
      auto expr = target["expr"].get<std::string>();
      expr = std::regex_replace(expr, std::regex(R"(\$__rate_interval)"), "1m");
      expr = std::regex_replace(expr, std::regex(R"(\$instance)"), ".+");
      out.push_back(expr);
    }
  return out;
}

bool has_promtool() {
  std::string ignored;
  return run_shell("promtool --version", ignored) == 0;
}

class monitoring_test : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(has_promtool()) << "promtool is missing: scripts/setup.sh --test installs Debian's prometheus";
  }
  temp_dir dir;
};

TEST_F(monitoring_test, promtool_accepts_the_rules_and_their_tests_pass) {
  std::string output;
  EXPECT_EQ(run_shell("promtool check rules '" + rules_file.string() + "'", output), 0) << output;
  EXPECT_NE(output.find("SUCCESS"), std::string::npos) << output;
  EXPECT_EQ(run_shell("cd '" + rules_tests.parent_path().string() + "' && promtool test rules '" +
                          rules_tests.filename().string() + "'",
                      output),
            0)
      << output;
}

TEST_F(monitoring_test, every_dashboard_query_is_valid_promql) {
  const auto dashboard = json::parse(read_text(dashboard_file));
  std::set<int> ids;
  for (const auto& panel : dashboard["panels"]) {
    EXPECT_TRUE(ids.insert(panel["id"].get<int>()).second) << "panel ids must be unique: " << panel["id"];
    EXPECT_TRUE(panel.contains("gridPos")) << panel["title"];
    if (panel["type"] != "row") {
      EXPECT_FALSE(panel.value("targets", json::array()).empty()) << panel["title"];
    }
  }
  // promtool parses each query as the expression of a recording rule.
  const auto queries = dashboard_queries(dashboard);
  ASSERT_GE(queries.size(), 12u);
  json rules = {{"groups", {{{"name", "dashboard"}, {"rules", json::array()}}}}};
  for (std::size_t i = 0; i < queries.size(); ++i)
    rules["groups"][0]["rules"].push_back({{"record", "dashboard:query_" + std::to_string(i)}, {"expr", queries[i]}});
  const auto file = dir.path() / "dashboard-queries.yml";
  std::ofstream(file) << rules.dump(2);  // JSON is YAML
  std::string output;
  EXPECT_EQ(run_shell("promtool check rules '" + file.string() + "'", output), 0) << output;
  EXPECT_NE(output.find("SUCCESS: " + std::to_string(queries.size()) + " rules found"), std::string::npos) << output;
}

TEST_F(monitoring_test, every_metric_the_files_name_is_in_a_live_scrape_after_traffic) {
  server_process server({"--listen.port", "0", "--data-dir", (dir.path() / "data").string(), "--log.level", "info"});
  const auto port = server.port();
  // Traffic: a subscriber, publishes it receives, a refused upgrade.
  auto subscriber = v1_client(port);
  for (int i = 0; i < 3; ++i) ASSERT_EQ(publish_form(port, "m" + std::to_string(i)).status, 200);
  for (int i = 0; i < 3; ++i) EXPECT_EQ(next_json(*subscriber)["message"], "m" + std::to_string(i));
  EXPECT_EQ(try_upgrade(port, {{"Origin", "http://elsewhere.example"}}), 403);

  const auto scrape = http_request(port, "GET", "/metrics");
  ASSERT_EQ(scrape.status, 200) << scrape.body;
  const auto live = scraped_names(scrape.body);
  auto named = metric_names_in(read_text(rules_file));
  named.merge(metric_names_in(json::parse(read_text(dashboard_file)).dump()));
  for (const auto& expected : {"wshub_connections", "wshub_subscriptions", "wshub_messages_published_total",
                               "wshub_publish_store_seconds_bucket", "wshub_messages_delivered_total",
                               "wshub_slow_consumer_closes_total", "wshub_refusals_total", "wshub_store_writable",
                               "wshub_redis_up", "wshub_cluster_nodes"})
    EXPECT_TRUE(named.contains(expected)) << expected << " is on neither the dashboard nor in the rules";
  for (const auto& name : named) EXPECT_TRUE(live.contains(name)) << name << " is not in /metrics:\n" << scrape.body;
  // The traffic shows in the scrape.
  EXPECT_NE(scrape.body.find("\nwshub_connections 1\n"), std::string::npos) << scrape.body;
  EXPECT_NE(scrape.body.find("\nwshub_messages_published_total 3\n"), std::string::npos) << scrape.body;
  EXPECT_NE(scrape.body.find("wshub_refusals_total{reason=\"origin\"} 1\n"), std::string::npos) << scrape.body;
}

}  // namespace
}  // namespace wshub::test
