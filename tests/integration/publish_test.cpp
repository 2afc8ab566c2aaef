// send_message end to end: real server, real HTTP and WebSocket clients over loopback.
#include <gtest/gtest.h>

#include <regex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "support/test_clients.hpp"
#include "support/test_server.hpp"

namespace wshub::test {
namespace {

using json = nlohmann::json;

class publish_test : public ::testing::Test {
 protected:
  void SetUp() override {
    auto cfg = test_config(dir.path());
    cfg.publish.max_message_bytes = 4096;
    cfg.http.body_limit = 16 * 1024;
    cfg.http.header_limit = 2048;
    server = std::make_unique<running_app>(cfg);
  }
  std::uint16_t port() const { return server->port(); }

  temp_dir dir;
  std::unique_ptr<running_app> server;
};

json read_json(ws_client& c) {
  const auto text = c.read();
  if (!text) throw std::runtime_error("no frame arrived");
  return json::parse(*text);
}

TEST_F(publish_test, every_client_receives_every_message_in_order) {
  constexpr int clients = 4, messages = 60;
  std::vector<std::unique_ptr<ws_client>> sockets;
  for (int i = 0; i < clients; ++i) sockets.push_back(std::make_unique<ws_client>(port()));
  ASSERT_EQ(server->get().connection_count(), static_cast<std::size_t>(clients));

  std::vector<std::uint64_t> ids;
  for (int i = 0; i < messages; ++i) {
    const auto reply = publish_form(port(), "message " + std::to_string(i));
    ASSERT_EQ(reply.status, 200) << reply.body;
    const auto body = json::parse(reply.body);
    EXPECT_EQ(body["status"], "OK");
    EXPECT_EQ(body["recipients"], clients);
    ids.push_back(body["id"].get<std::uint64_t>());
  }
  for (auto& s : sockets) {
    for (int i = 0; i < messages; ++i) {
      const auto frame = read_json(*s);
      EXPECT_EQ(frame["id"], ids[i]);
      EXPECT_EQ(frame["message"], "message " + std::to_string(i));
    }
  }
}

TEST_F(publish_test, concurrent_publishers_are_seen_in_id_order_by_everyone) {
  ws_client a(port()), b(port());
  constexpr int threads = 4, per_thread = 40;
  std::vector<std::thread> publishers;
  for (int t = 0; t < threads; ++t)
    publishers.emplace_back([&, t] {
      for (int i = 0; i < per_thread; ++i) publish_form(port(), std::to_string(t) + ":" + std::to_string(i));
    });
  for (auto& t : publishers) t.join();
  std::vector<std::uint64_t> seen_a, seen_b;
  for (int i = 0; i < threads * per_thread; ++i) {
    seen_a.push_back(read_json(a)["id"].get<std::uint64_t>());
    seen_b.push_back(read_json(b)["id"].get<std::uint64_t>());
  }
  EXPECT_TRUE(std::is_sorted(seen_a.begin(), seen_a.end()));
  EXPECT_EQ(std::adjacent_find(seen_a.begin(), seen_a.end()), seen_a.end()) << "duplicate id";
  EXPECT_EQ(seen_a, seen_b);
}

// publish.answer_ahead 0 with one worker: a publish is answered only once its frame has been
// written to every socket (more sockets than the write scheduler wakes in one slice). On loopback
// a written frame is in the reader's kernel buffer when the write returns, so each subscriber
// must hold its frame, unread, the moment the answer arrives.
TEST(publish_pacing, a_paced_publish_is_answered_after_its_frames_are_written) {
  temp_dir dir;
  auto cfg = test_config(dir.path());
  cfg.io_threads = 1;
  cfg.publish.answer_ahead = 0;
  running_app server(cfg);
  constexpr int subscribers = 300, messages = 10;
  std::vector<std::unique_ptr<ws_client>> sockets;
  for (int i = 0; i < subscribers; ++i) sockets.push_back(std::make_unique<ws_client>(server.port()));
  for (int m = 0; m < messages; ++m) {
    const auto reply = publish_form(server.port(), "paced " + std::to_string(m));
    ASSERT_EQ(reply.status, 200) << reply.body;
    ASSERT_EQ(json::parse(reply.body)["recipients"], subscribers);
    // Last connected first: the scheduler reaches them last.
    for (int i = subscribers - 1; i >= 0; --i)
      ASSERT_GT(sockets[i]->bytes_waiting(), 0u) << "socket " << i << " lacked message " << m << " at the answer";
    for (auto& s : sockets) EXPECT_EQ(read_json(*s)["message"], "paced " + std::to_string(m));
  }
}

TEST_F(publish_test, form_multipart_json_and_query_bodies_all_publish) {
  ws_client c(port());
  const std::string boundary = "XyZ123";
  const std::string multipart = "--" + boundary +
                                "\r\nContent-Disposition: form-data; name=\"message\"\r\n\r\nfrom multipart\r\n--" +
                                boundary + "--\r\n";
  struct body_case {
    std::string content_type, body, target, expected;
  } cases[] = {
      {"application/x-www-form-urlencoded", "message=hello+form%21", "/api/tool/send_message", "hello form!"},
      // curl -d "message=a b" sends the space raw; form decoders accept it.
      {"application/x-www-form-urlencoded", "message=raw space \"quoted\" \xc3\xa9#1", "/api/tool/send_message",
       "raw space \"quoted\" \xc3\xa9#1"},
      {"multipart/form-data; boundary=" + boundary, multipart, "/api/tool/send_message", "from multipart"},
      {"application/json", R"({"message":"from json \u00e9"})", "/api/tool/send_message", "from json \xc3\xa9"},
      {"", "", "/api/tool/send_message?message=from%20query", "from query"},
  };
  for (const auto& bc : cases) {
    std::map<std::string, std::string> headers;
    if (!bc.content_type.empty()) headers["Content-Type"] = bc.content_type;
    const auto reply = http_request(port(), "POST", bc.target, bc.body, headers);
    ASSERT_EQ(reply.status, 200) << bc.content_type << ": " << reply.body;
    EXPECT_EQ(read_json(c)["message"], bc.expected) << bc.content_type;
  }
}

TEST_F(publish_test, frames_carry_every_field) {
  ws_client c(port());
  const auto before = std::chrono::duration_cast<std::chrono::milliseconds>(
                          std::chrono::system_clock::now().time_since_epoch()).count();
  const auto reply = publish_form(port(), "fields <&> \"quoted\"\nline");
  ASSERT_EQ(reply.status, 200);
  const auto frame = read_json(c);
  ASSERT_EQ(frame.size(), 6u) << frame.dump();
  EXPECT_EQ(frame["id"], json::parse(reply.body)["id"]);
  EXPECT_EQ(frame["channel"], "system");
  EXPECT_EQ(frame["username"], "system");
  EXPECT_EQ(frame["message"], "fields <&> \"quoted\"\nline");
  EXPECT_TRUE(std::regex_match(frame["time"].get<std::string>(), std::regex(R"(\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2})")));
  EXPECT_GE(frame["ts"].get<std::int64_t>(), before);
  EXPECT_LT(frame["ts"].get<std::int64_t>(), before + 60'000);
}

TEST_F(publish_test, publishing_with_nobody_connected_succeeds_and_is_kept) {
  const auto reply = publish_form(port(), "kept for later");
  ASSERT_EQ(reply.status, 200);
  const auto body = json::parse(reply.body);
  EXPECT_EQ(body["recipients"], 0);
  EXPECT_GT(body["id"].get<std::uint64_t>(), 0u);
}

TEST_F(publish_test, bad_requests_get_the_right_status_and_change_nothing) {
  ws_client watcher(port());
  const std::string big(5000, 'x');
  struct bad_case {
    std::string name, method, target, content_type, body;
    int status, code;
  } cases[] = {
      {"get on send_message", "GET", "/api/tool/send_message", "", "", 405, 10202},
      {"missing message", "POST", "/api/tool/send_message", "application/x-www-form-urlencoded", "other=1", 400, 10103},
      {"empty message", "POST", "/api/tool/send_message", "application/x-www-form-urlencoded", "message=", 400, 10103},
      {"no body at all", "POST", "/api/tool/send_message", "", "", 400, 10103},
      {"invalid json", "POST", "/api/tool/send_message", "application/json", "{\"message\":", 400, 10103},
      {"json array", "POST", "/api/tool/send_message", "application/json", "[1,2]", 400, 10103},
      {"json number message", "POST", "/api/tool/send_message", "application/json", R"({"message":5})", 400, 10103},
      {"text/plain", "POST", "/api/tool/send_message", "text/plain", "message=hi", 415, 10204},
      {"message too large", "POST", "/api/tool/send_message", "application/x-www-form-urlencoded", "message=" + big, 413, 10203},
      {"body too large", "POST", "/api/tool/send_message", "application/x-www-form-urlencoded",
       "message=" + std::string(20000, 'y'), 413, 10203},
      {"invalid channel", "POST", "/api/tool/send_message", "application/x-www-form-urlencoded",
       "message=hi&channel=no%20spaces", 400, 10103},
      {"invalid utf-8", "POST", "/api/tool/send_message", "application/x-www-form-urlencoded", "message=%C3%28", 400, 10103},
      {"multipart without boundary", "POST", "/api/tool/send_message", "multipart/form-data", "--x\r\n", 400, 10103},
      {"unknown path", "GET", "/no/such/path", "", "", 404, 10201},
      {"post on healthz", "POST", "/healthz", "", "", 405, 10202},
      {"plain get on the socket path", "GET", "/socket/system/message", "", "", 426, 10206},
  };
  for (const auto& bc : cases) {
    std::map<std::string, std::string> headers;
    if (!bc.content_type.empty()) headers["Content-Type"] = bc.content_type;
    const auto reply = http_request(port(), bc.method, bc.target, bc.body, headers);
    EXPECT_EQ(reply.status, bc.status) << bc.name << ": " << reply.body;
    const auto body = json::parse(reply.body, nullptr, false);
    ASSERT_TRUE(body.is_object()) << bc.name << ": " << reply.body;
    EXPECT_EQ(body["code"], bc.code) << bc.name;
    EXPECT_TRUE(body["message"].is_string()) << bc.name;
    EXPECT_EQ(reply.headers.at("content-type"), "application/json; charset=utf-8") << bc.name;
    if (bc.status == 405) {
      EXPECT_TRUE(reply.headers.contains("allow")) << bc.name;
    }
  }
  EXPECT_EQ(server->get().counters().published.load(), 0u) << "a bad request stored a message";

  // Headers over the limit (431) and a request that is not HTTP (400), on raw sockets.
  const auto huge_header = raw_exchange(port(), "GET /healthz HTTP/1.1\r\nHost: localhost\r\nX-Big: " + std::string(4000, 'h') +
                                                    "\r\n\r\n");
  EXPECT_EQ(huge_header.substr(0, 12), "HTTP/1.1 431") << huge_header;
  EXPECT_NE(huge_header.find("\"code\":10205"), std::string::npos);
  const auto garbage = raw_exchange(port(), "NOT HTTP AT ALL\r\n\r\n");
  EXPECT_EQ(garbage.substr(0, 12), "HTTP/1.1 400") << garbage;

  // Still serving, and the watcher saw nothing.
  EXPECT_EQ(http_request(port(), "GET", "/healthz").status, 200);
  ASSERT_EQ(publish_form(port(), "after the bad ones").status, 200);
  EXPECT_EQ(read_json(watcher)["message"], "after the bad ones");
}

TEST_F(publish_test, keep_alive_serves_several_requests_on_one_connection) {
  const std::string two = "GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\nGET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n";
  const auto answer = raw_exchange(port(), two);
  std::size_t count = 0;
  for (auto pos = answer.find("HTTP/1.1 200"); pos != std::string::npos; pos = answer.find("HTTP/1.1 200", pos + 1)) ++count;
  EXPECT_EQ(count, 2u) << answer;
}

// The HTTP answers on one connection, in the order they came: each a status and a body.
std::vector<std::pair<int, std::string>> split_answers(const std::string& bytes) {
  std::vector<std::pair<int, std::string>> out;
  std::size_t pos = 0;
  while ((pos = bytes.find("HTTP/1.1 ", pos)) != std::string::npos) {
    const auto head_end = bytes.find("\r\n\r\n", pos);
    if (head_end == std::string::npos) break;
    const auto head = bytes.substr(pos, head_end - pos);
    std::smatch length;
    if (!std::regex_search(head, length, std::regex("[Cc]ontent-[Ll]ength: *([0-9]+)"))) break;
    const auto body_size = std::stoul(length[1].str());
    out.emplace_back(std::stoi(head.substr(9, 3)), bytes.substr(head_end + 4, body_size));
    pos = head_end + 4 + body_size;
  }
  return out;
}

TEST_F(publish_test, pipelined_requests_on_one_connection_are_answered_in_order) {
  ws_client watcher(port());
  auto post = [](const std::string& type, const std::string& body, const std::string& connection = "keep-alive") {
    return "POST /api/tool/send_message HTTP/1.1\r\nHost: localhost\r\nContent-Type: " + type +
           "\r\nContent-Length: " + std::to_string(body.size()) + "\r\nConnection: " + connection + "\r\n\r\n" + body;
  };
  // Sent in one write: the server reads them all at once and must still answer one by one.
  std::string requests;
  std::vector<std::string> published;
  for (int i = 0; i < 6; ++i) {
    const auto text = "pipelined " + std::to_string(i);
    published.push_back(text);
    requests += i % 2 ? post("application/x-www-form-urlencoded", "message=pipelined+" + std::to_string(i))
                      : post("application/json", json{{"message", text}}.dump());
  }
  requests += post("application/json", R"({"message": 5})");  // refused: 400, in its place
  requests += post("application/json", json{{"message", "last"}}.dump(), "close");
  published.push_back("last");

  const auto answers = split_answers(raw_exchange(port(), requests));
  ASSERT_EQ(answers.size(), 8u);
  std::uint64_t last_id = 0;
  for (std::size_t i = 0; i < answers.size(); ++i) {
    const auto body = json::parse(answers[i].second);
    if (i == 6) {
      EXPECT_EQ(answers[i].first, 400) << answers[i].second;
      EXPECT_EQ(body["message"], "'message' must be a string");
      continue;
    }
    ASSERT_EQ(answers[i].first, 200) << answers[i].second;
    const auto id = body["id"].get<std::uint64_t>();
    EXPECT_GT(id, last_id) << "answer " << i << " came out of order";
    last_id = id;
  }
  for (const auto& text : published) EXPECT_EQ(read_json(watcher)["message"], text);
}

TEST_F(publish_test, expect_100_continue_is_answered_before_the_body) {
  const auto answer = raw_exchange(
      port(), "POST /api/tool/send_message HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/x-www-form-urlencoded\r\n"
              "Content-Length: 13\r\nExpect: 100-continue\r\nConnection: close\r\n\r\nmessage=hello");
  EXPECT_EQ(answer.substr(0, 25), "HTTP/1.1 100 Continue\r\n\r\n") << answer;
  EXPECT_NE(answer.find("HTTP/1.1 200 OK"), std::string::npos) << answer;
}

TEST_F(publish_test, stats_and_health_answer_json) {
  ws_client c(port());
  ASSERT_EQ(publish_form(port(), "counted").status, 200);
  const auto stats = json::parse(http_request(port(), "GET", "/api/tool/stats").body);
  EXPECT_EQ(stats["connections"], 1);
  EXPECT_EQ(stats["messages_total"], 1);
  EXPECT_EQ(json::parse(http_request(port(), "GET", "/healthz").body)["status"], "ok");
}

}  // namespace
}  // namespace wshub::test
