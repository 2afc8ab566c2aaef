#pragma once
// The command line of wshub-bench: one scenario and its parameters.
#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

namespace wshub::bench {

enum class scenario_kind { fanout, idle, publish, connect };

const char* scenario_name(scenario_kind k);

struct options {
  scenario_kind scenario = scenario_kind::fanout;
  std::string host = "127.0.0.1";  // always inside 127.0.0.0/8
  std::uint16_t port = 0;
  std::uint16_t publish_port = 0;  // publish to this port instead (another node of a cluster); 0: port
  std::string socket_path = "/socket/system/message";
  std::string publish_path = "/api/tool/send_message";

  std::size_t sockets = 0;        // subscribers held open
  std::size_t messages = 0;       // fanout: messages to publish; publish: the most to publish
  std::size_t message_bytes = 100;
  std::size_t publishers = 1;     // concurrent keep-alive POST connections
  double rate = 0;                // messages per second over all publishers; 0: as fast as answers come
  double duration_s = 0;          // publish: how long to publish; idle: how long to hold the sockets
  std::size_t sample = 100;       // sockets whose messages are fully decoded (0: all of them)
  std::size_t concurrency = 200;  // connects in flight per process
  std::size_t procs = 1;          // generator processes; the sockets are split between them
  std::string source_ip;          // first source address; process i uses it + i (empty: the kernel's choice)
  int server_pid = 0;             // for the server's RSS and CPU time from /proc (0: not measured)
  double timeout_s = 120;         // the whole run, whatever happens
  double drain_s = 10;            // after the last answer, how long to wait for deliveries
  bool json_body = false;         // publish {"message": ...} instead of a form
  std::size_t batch = 1;          // messages per request; above 1: {"messages":[...]} to send_messages
  bool deflate = false;           // subscribers offer permessage-deflate (and inflate on sampled sockets)
  bool words = false;             // pad bodies with words (text that compresses like text), not x
  std::vector<std::string> headers;  // extra request headers for the publishers
  std::string label;              // echoed in the report, e.g. the server's name
  bool json_only = false;         // print only the JSON line
};

struct usage_error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// Parses argv (argv[1] is the scenario) and fills in the scenario's defaults.
// Throws usage_error on anything invalid, including a host or source outside 127.0.0.0/8.
options parse_options(int argc, char** argv);

// True for --help / -h anywhere on the command line.
bool wants_help(int argc, char** argv);

std::string usage_text();

}  // namespace wshub::bench
