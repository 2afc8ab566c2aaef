#include "support/test_server.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <poll.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <map>

#include <random>
#include <regex>
#include <stdexcept>
#include <string_view>

extern char** environ;

namespace wshub::test {

namespace fs = std::filesystem;

namespace {

// Reads what `fd` has within the time left; false when the deadline passed or the fd closed.
bool read_some(int fd, std::string& out, std::chrono::steady_clock::time_point deadline) {
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
  if (left.count() <= 0) return false;
  pollfd p{fd, POLLIN, 0};
  if (poll(&p, 1, static_cast<int>(left.count())) <= 0) return false;
  char buf[4096];
  const auto n = ::read(fd, buf, sizeof buf);
  if (n <= 0) return false;
  out.append(buf, static_cast<std::size_t>(n));
  return true;
}

// Starts `bin` (a path, or a name looked up in PATH) with `args` and this process's environment
// plus `extra_env`; its stdout (and stderr when asked for) come back as pipes.
int spawn(const std::string& bin, const std::vector<std::string>& args, int* stdout_fd, int* stderr_fd,
          const std::map<std::string, std::string>& extra_env = {}) {
  // Built before fork(): the child only calls async-signal-safe functions.
  std::vector<std::string> env_entries;
  for (char** e = environ; e && *e; ++e) {
    const std::string_view entry(*e);
    if (!extra_env.contains(std::string(entry.substr(0, entry.find('='))))) env_entries.emplace_back(entry);
  }
  for (const auto& [name, value] : extra_env) env_entries.push_back(name + "=" + value);
  std::vector<char*> envp;
  for (auto& entry : env_entries) envp.push_back(entry.data());
  envp.push_back(nullptr);
  std::vector<char*> argv;
  argv.push_back(const_cast<char*>(bin.c_str()));
  for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);

  int out[2], err[2];
  if (pipe(out) != 0 || pipe(err) != 0) throw std::runtime_error("pipe failed");
  const int pid = fork();
  if (pid == 0) {
    dup2(out[1], STDOUT_FILENO);
    dup2(err[1], STDERR_FILENO);
    close(out[0]);
    close(err[0]);
    execvpe(bin.c_str(), argv.data(), envp.data());
    _exit(127);
  }
  close(out[1]);
  close(err[1]);
  *stdout_fd = out[0];
  if (stderr_fd) *stderr_fd = err[0];
  else close(err[0]);
  return pid;
}

// The first port of the kernel's ephemeral range (where it picks the source ports of outgoing
// connections).
int ephemeral_low() {
  std::ifstream range("/proc/sys/net/ipv4/ip_local_port_range");
  int low = 32768;
  range >> low;
  return low;
}

// A free loopback port below the ephemeral range, for a server that is restarted on the same
// port: an ephemeral port may be taken meanwhile, not least by a client reconnecting to that very
// port (TCP connects a socket to itself when the source port the kernel picks is the port it
// connects to and nothing listens there).
std::uint16_t free_port_outside_ephemeral_range() {
  const int high = std::min(ephemeral_low(), 65536);
  const int low = std::max(1024, high - 20000);
  std::mt19937 pick(std::random_device{}());
  for (int attempt = 0; attempt < 1000; ++attempt) {
    const auto port = static_cast<std::uint16_t>(std::uniform_int_distribution<int>(low, high - 1)(pick));
    const int fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons(port);
    const bool free = bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
    close(fd);
    if (free) return port;
  }
  throw std::runtime_error("no free port below the ephemeral range");
}

}  // namespace

std::string wshub_binary() {
  const char* bin = std::getenv("WSHUB_BIN");
  if (!bin || !*bin) throw std::runtime_error("WSHUB_BIN must name the wshub binary");
  return bin;
}

int wait_for_exit(int pid, std::chrono::milliseconds timeout) {
  const int fd = static_cast<int>(syscall(SYS_pidfd_open, pid, 0));
  if (fd >= 0) {
    pollfd p{fd, POLLIN, 0};
    poll(&p, 1, static_cast<int>(timeout.count()));
    close(fd);
  }
  int status = 0;
  if (waitpid(pid, &status, WNOHANG) == pid) return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  kill(pid, SIGKILL);
  waitpid(pid, &status, 0);
  return -1;
}


redis_process::redis_process(std::vector<std::string> extra_args)
    : port_(free_port_outside_ephemeral_range()), extra_args_(std::move(extra_args)) {
  start();
}

redis_process::~redis_process() { kill_now(); }

void redis_process::start() {
  // Every write is in the append-only file before Redis answers: a SIGKILL loses nothing.
  std::vector<std::string> args = {"--port",       std::to_string(port_), "--bind",       "127.0.0.1",
                                   "--dir",        dir_.path().string(),  "--save",       "",
                                   "--appendonly", "yes",                 "--appendfsync", "always",
                                   "--loglevel",   "notice"};
  args.insert(args.end(), extra_args_.begin(), extra_args_.end());
  pid_ = spawn("redis-server", args, &stdout_fd_, nullptr);
  std::string output;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (output.find("Ready to accept connections") == std::string::npos)
    if (!read_some(stdout_fd_, output, deadline)) {
      kill_now();
      throw std::runtime_error("redis-server did not start; output:\n" + output);
    }
}

void redis_process::kill_now() {
  if (pid_ > 0) {
    kill(pid_, SIGKILL);
    int status = 0;
    waitpid(pid_, &status, 0);
    pid_ = -1;
  }
  if (stdout_fd_ >= 0) close(stdout_fd_);
  stdout_fd_ = -1;
}

temp_dir::temp_dir() {
  std::random_device rd;
  path_ = fs::temp_directory_path() / ("wshub-test-" + std::to_string(getpid()) + "-" + std::to_string(rd()));
  fs::create_directories(path_);
}

temp_dir::~temp_dir() {
  std::error_code ec;
  fs::remove_all(path_, ec);
}

app::config test_config(const fs::path& data_dir) {
  app::config cfg;
  cfg.listen.port = 0;
  cfg.data_dir = data_dir.string();
  // Two workers: every test crosses workers (sockets alternate between them); the engine tests
  // also run one and three.
  cfg.io_threads = 2;
  cfg.log.level = std::getenv("WSHUB_TEST_LOG") ? std::getenv("WSHUB_TEST_LOG") : "warn";
  cfg.store.synchronous = "normal";
  cfg.shutdown_timeout = std::chrono::seconds(5);
  return cfg;
}

running_app::running_app(const app::config& cfg) : app_(std::make_unique<app::app>(cfg)) {
  app_->start();
  port_ = app_->endpoint().port();
}

running_app::~running_app() { stop(); }

void running_app::stop() {
  if (!app_) return;
  app_->stop();
  app_->wait();
  app_.reset();
}

server_process::server_process(const std::vector<std::string>& args) {
  pid_ = spawn(wshub_binary(), args, &stdout_fd_, nullptr);
  const std::regex listening(R"(listening on (?:\d+\.\d+\.\d+\.\d+|\[[0-9a-f:]*\]):(\d+))");
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  std::smatch m;
  while (!std::regex_search(output_, m, listening))
    if (!read_some(stdout_fd_, output_, deadline))
      throw std::runtime_error("wshub did not report listening; output:\n" + output_);
  port_ = static_cast<std::uint16_t>(std::stoi(m[1]));
}

server_process::~server_process() {
  if (pid_ > 0) {
    kill(pid_, SIGKILL);
    int status = 0;
    waitpid(pid_, &status, 0);
  }
  if (stdout_fd_ >= 0) close(stdout_fd_);
}

void server_process::signal(int signo) { kill(pid_, signo); }

bool server_process::wait_for_output(const std::string& text, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (output_.find(text) == std::string::npos)
    if (!read_some(stdout_fd_, output_, deadline)) return false;
  return true;
}

int server_process::wait_exit(std::chrono::milliseconds timeout) {
  const int code = wait_for_exit(pid_, timeout);
  pid_ = -1;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(200);
  while (read_some(stdout_fd_, output_, deadline)) {
  }
  return code;
}

int run_binary(const std::vector<std::string>& args, std::string* stderr_text, std::chrono::milliseconds timeout) {
  auto result = run_command(args, {}, timeout);
  if (stderr_text) *stderr_text = std::move(result.err);
  return result.code;
}

command_result run_command(const std::vector<std::string>& args, const std::map<std::string, std::string>& env,
                           std::chrono::milliseconds timeout) {
  int out = -1, err = -1;
  const int pid = spawn(wshub_binary(), args, &out, &err, env);
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  command_result result;
  // Both pipes at once, so a full one never blocks the child while the other is read.
  for (bool out_open = true, err_open = true; out_open || err_open;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) break;
    pollfd p[2] = {{out_open ? out : -1, POLLIN, 0}, {err_open ? err : -1, POLLIN, 0}};
    if (poll(p, 2, static_cast<int>(left.count())) <= 0) break;
    char buf[4096];
    for (int i = 0; i < 2; ++i) {
      if (!p[i].revents) continue;
      const auto n = ::read(i == 0 ? out : err, buf, sizeof buf);
      if (n > 0) (i == 0 ? result.out : result.err).append(buf, static_cast<std::size_t>(n));
      else (i == 0 ? out_open : err_open) = false;
    }
  }
  result.code = wait_for_exit(pid, timeout);
  close(out);
  close(err);
  return result;
}

}  // namespace wshub::test
