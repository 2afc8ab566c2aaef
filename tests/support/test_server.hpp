#pragma once
// The real server for integration tests: in this process (app on 127.0.0.1:0), or as the
// wshub binary in a child process (for signals and restarts).
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "wshub/app/app.hpp"
#include "wshub/app/config.hpp"

namespace wshub::test {

// A fresh folder under the system temp folder, removed with its contents.
class temp_dir {
 public:
  temp_dir();
  ~temp_dir();
  temp_dir(const temp_dir&) = delete;
  temp_dir& operator=(const temp_dir&) = delete;
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

// Test defaults: any free port, a data folder of its own, two workers, quiet logs.
app::config test_config(const std::filesystem::path& data_dir);

class running_app {
 public:
  explicit running_app(const app::config& cfg);
  ~running_app();
  std::uint16_t port() const { return port_; }
  app::app& get() { return *app_; }
  // Graceful stop; returns when the workers have ended.
  void stop();

 private:
  std::unique_ptr<app::app> app_;
  std::uint16_t port_ = 0;
};

// The wshub binary (path in WSHUB_BIN) as a child process with its stdout captured.
class server_process {
 public:
  explicit server_process(const std::vector<std::string>& args);
  ~server_process();
  std::uint16_t port() const { return port_; }
  void signal(int signo);
  // Waits for the exit, up to `timeout`; returns the exit code, or -1 if it did not exit
  // (then it is killed) or died of a signal.
  int wait_exit(std::chrono::milliseconds timeout);
  const std::string& output() const { return output_; }
  // Reads the running server's output until it contains `text`; false after `timeout`.
  bool wait_for_output(const std::string& text, std::chrono::milliseconds timeout);

 private:
  int pid_ = -1;
  int stdout_fd_ = -1;
  std::uint16_t port_ = 0;
  std::string output_;
};

// A real redis-server on a free loopback port, with its append-only file (fsync on every write)
// in a folder of its own, so that it can be killed and started again with its data.
class redis_process {
 public:
  explicit redis_process(std::vector<std::string> extra_args = {});  // started
  std::filesystem::path folder() const { return dir_.path(); }
  ~redis_process();
  redis_process(const redis_process&) = delete;
  redis_process& operator=(const redis_process&) = delete;
  std::uint16_t port() const { return port_; }
  void kill_now();  // SIGKILL, and waits for the exit
  void start();     // again: same port, same data

 private:
  temp_dir dir_;
  std::uint16_t port_ = 0;
  std::vector<std::string> extra_args_;
  int pid_ = -1;
  int stdout_fd_ = -1;
};

// The wshub binary the tests run: the path in WSHUB_BIN (throws when it is not set).
std::string wshub_binary();

// Waits up to `timeout` for the child `pid` to exit (through a pidfd: no polling loop) and reaps
// it. Returns its exit code, or -1 when it died of a signal or did not exit in time (then it is
// killed and reaped).
int wait_for_exit(int pid, std::chrono::milliseconds timeout);

struct command_result {
  int code = -1;  // as wait_for_exit()
  std::string out, err;
};
// Runs the wshub binary to completion with `args`, and `env` added to this process's
// environment; returns its exit code, stdout and stderr.
command_result run_command(const std::vector<std::string>& args, const std::map<std::string, std::string>& env = {},
                           std::chrono::milliseconds timeout = std::chrono::seconds(10));

// Runs the wshub binary to completion with `args`; returns its exit code and stderr.
int run_binary(const std::vector<std::string>& args, std::string* stderr_text,
               std::chrono::milliseconds timeout = std::chrono::seconds(10));

}  // namespace wshub::test
