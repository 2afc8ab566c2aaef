#include "subscribers.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <stdexcept>

namespace wshub::bench {

namespace {

constexpr char tag_ready = 'R', tag_data = 'D', tag_end = 'E';

bool write_all(int fd, const void* data, std::size_t size) {
  const auto* p = static_cast<const char*>(data);
  while (size > 0) {
    const ssize_t n = ::write(fd, p, size);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    p += n;
    size -= static_cast<std::size_t>(n);
  }
  return true;
}

// Socket g of n is decoded when it is one of `sample` sockets spread evenly over the run.
bool is_sampled(std::size_t g, std::size_t n, std::size_t sample) {
  if (sample == 0 || sample >= n) return true;
  return (g + 1) * sample / n > g * sample / n;
}

// The child's end of the parent->child pipe.
class parent_link final : public io_handler {
 public:
  explicit parent_link(int fd) : fd_(fd) {}
  void on_io(std::uint32_t) override {
    char buf[64];
    const ssize_t n = ::read(fd_, buf, sizeof buf);
    if (n <= 0) {
      if (n == 0 || (errno != EAGAIN && errno != EINTR)) gone = true;
      return;
    }
    in_.append(buf, static_cast<std::size_t>(n));
    if (in_.size() >= 1 + 2 * sizeof(std::int64_t) && in_[0] == tag_end) {
      std::memcpy(&expected, in_.data() + 1, sizeof expected);
      std::memcpy(&drain_until_ns, in_.data() + 1 + sizeof expected, sizeof drain_until_ns);
      ended = true;
    }
  }
  bool ended = false, gone = false;
  std::uint64_t expected = 0;
  std::int64_t drain_until_ns = 0;

 private:
  int fd_;
  std::string in_;
};

// A child: connects its share, says ready, waits for the end, drains, reports, exits.
[[noreturn]] void child_main(const options& o, const share& s, int to_parent, int from_parent) {
  int code = 0;
  try {
    event_loop loop;
    subscriber_set subs(o, loop, s);
    parent_link link(from_parent);
    loop.add(from_parent, EPOLLIN, &link);
    const auto deadline = now_ns() + static_cast<std::int64_t>(o.timeout_s * 1e9);
    const double cpu_start = own_cpu_seconds();
    while (!subs.connects_done() && !link.gone && now_ns() < deadline) {
      subs.pump_connects();
      loop.run_once(5);
    }
    subs.abandon_connects();
    write_all(to_parent, &tag_ready, 1);
    const double cpu0 = own_cpu_seconds();
    while (!link.ended && !link.gone && now_ns() < deadline) loop.run_once(20);
    const auto drain_until = link.ended ? std::min(link.drain_until_ns, deadline) : now_ns();
    while (!subs.drained(link.expected) && now_ns() < drain_until) loop.run_once(2);
    auto r = subs.result(link.expected);
    r.cpu_s = own_cpu_seconds() - cpu0;
    r.connect_cpu_s = cpu0 - cpu_start;
    auto samples = subs.take_samples();
    write_all(to_parent, &tag_data, 1);
    write_all(to_parent, &r, sizeof r);
    write_all(to_parent, samples.latency_ns.data(), samples.latency_ns.size() * sizeof(std::int64_t));
    write_all(to_parent, samples.connect_ns.data(), samples.connect_ns.size() * sizeof(std::int64_t));
  } catch (const std::exception& e) {
    std::fprintf(stderr, "wshub-bench: process %zu: %s\n", s.index, e.what());
    code = 3;
  }
  _exit(code);
}

}  // namespace

double own_cpu_seconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
         static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

std::vector<share> split_sockets(const options& o) {
  std::vector<share> shares(o.procs);
  std::size_t first = 0;
  for (std::size_t i = 0; i < o.procs; ++i) {
    const std::size_t count = o.sockets / o.procs + (i < o.sockets % o.procs ? 1 : 0);
    shares[i] = share{i, first, count};
    first += count;
  }
  return shares;
}

subscriber_set::subscriber_set(const options& o, event_loop& loop, const share& s)
    : shared_(o.host, o.port, o.socket_path, o.deflate), target_(ipv4_endpoint(o.host, o.port)) {
  shared_.connect_limit = o.concurrency;
  if (!o.source_ip.empty()) {
    source_ = ipv4_endpoint(o.source_ip, 0, static_cast<std::uint32_t>(s.index));
    has_source_ = true;
  }
  readers_.reserve(s.count);
  for (std::size_t i = 0; i < s.count; ++i)
    readers_.push_back(std::make_unique<ws_reader>(loop, shared_, is_sampled(s.first + i, o.sockets, o.sample)));
}

void subscriber_set::pump_connects() {
  while (next_ < readers_.size() && shared_.in_flight < shared_.connect_limit)
    readers_[next_++]->connect(target_, source());
}

bool subscriber_set::connects_done() const { return next_ == readers_.size() && shared_.in_flight == 0; }

void subscriber_set::abandon_connects() {
  for (std::size_t i = 0; i < next_; ++i)
    if (!readers_[i]->was_opened()) readers_[i]->close();
  shared_.failed += readers_.size() - next_;  // never started
  next_ = readers_.size();
}

bool subscriber_set::drained(std::uint64_t expected) const {
  return std::all_of(readers_.begin(), readers_.end(),
                     [&](const auto& r) { return !r->is_open() || r->messages() >= expected; });
}

worker_result subscriber_set::result(std::uint64_t expected) const {
  worker_result r;
  r.opened = shared_.opened;
  r.failed = shared_.failed;
  r.closed_by_server = shared_.closed_by_server;
  r.protocol_errors = shared_.protocol_errors;
  r.messages = shared_.messages;
  r.wire_bytes = shared_.wire_bytes;
  r.compressed = shared_.compressed;
  for (const auto& reader : readers_) {
    if (!reader->was_opened()) continue;
    const auto got = reader->messages();
    if (got < expected) r.lost += expected - got;
    else r.extra += got - expected;
  }
  r.out_of_order = shared_.out_of_order;
  r.gaps = shared_.gaps;
  r.unstamped = shared_.unstamped;
  r.first_connect_ns = shared_.first_connect_ns;
  r.last_open_ns = shared_.last_open_ns;
  r.last_message_ns = shared_.last_message_ns;
  r.latency_count = shared_.latency_ns.size();
  r.connect_count = shared_.connect_ns.size();
  shared_.first_error.copy(r.first_error, sizeof r.first_error - 1);
  return r;
}

worker_samples subscriber_set::take_samples() {
  return worker_samples{std::move(shared_.latency_ns), std::move(shared_.connect_ns)};
}

std::vector<child_pipes> fork_children(const options& o, const std::vector<share>& shares) {
  std::vector<child_pipes> children;
  std::vector<int> parent_fds;  // every parent end so far: a later child must not hold them open
  for (std::size_t i = 1; i < shares.size(); ++i) {
    int up[2], down[2];
    if (pipe2(up, O_CLOEXEC) != 0 || pipe2(down, O_CLOEXEC) != 0)
      throw std::runtime_error(std::string("pipe: ") + std::strerror(errno));
    const pid_t pid = fork();
    if (pid < 0) throw std::runtime_error(std::string("fork: ") + std::strerror(errno));
    if (pid == 0) {
      for (const int fd : parent_fds) ::close(fd);
      ::close(up[0]);
      ::close(down[1]);
      child_main(o, shares[i], up[1], down[0]);
    }
    ::close(up[1]);
    ::close(down[0]);
    parent_fds.push_back(up[0]);
    parent_fds.push_back(down[1]);
    children.push_back(child_pipes{pid, down[1], up[0]});
  }
  return children;
}

child_process::child_process(const child_pipes& pipes, event_loop& loop)
    : pid_(pipes.pid), to_child_(pipes.to_child), from_child_(pipes.from_child), loop_(loop) {
  loop_.add(from_child_, EPOLLIN, this);
}

child_process::~child_process() {
  reap(0);
  ::close(to_child_);
  if (from_child_ >= 0) ::close(from_child_);
}

void child_process::on_io(std::uint32_t) {
  if (from_child_ < 0) return;
  char buf[64 * 1024];
  const ssize_t n = ::read(from_child_, buf, sizeof buf);
  if (n > 0) {
    in_.append(buf, static_cast<std::size_t>(n));
    return parse();
  }
  if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;
  loop_.remove(from_child_);
  ::close(from_child_);
  from_child_ = -1;
  gone_ = true;
}

void child_process::parse() {
  if (!ready_ && !in_.empty() && in_[0] == tag_ready) ready_ = true;
  if (done_ || in_.size() < 2 + sizeof(worker_result) || in_[1] != tag_data) return;
  std::memcpy(&result_, in_.data() + 2, sizeof result_);
  const std::size_t samples = result_.latency_count + result_.connect_count;
  const std::size_t total = 2 + sizeof result_ + samples * sizeof(std::int64_t);
  if (in_.size() < total) return;
  const char* p = in_.data() + 2 + sizeof result_;
  for (auto* v : {&samples_.latency_ns, &samples_.connect_ns}) {
    const std::size_t n = v == &samples_.latency_ns ? result_.latency_count : result_.connect_count;
    v->resize(n);
    if (n > 0) std::memcpy(v->data(), p, n * sizeof(std::int64_t));
    p += n * sizeof(std::int64_t);
  }
  in_.clear();
  in_.shrink_to_fit();
  done_ = true;
}

void child_process::send_end(std::uint64_t expected, std::int64_t drain_until_ns) {
  char msg[1 + 2 * sizeof(std::int64_t)];
  msg[0] = tag_end;
  std::memcpy(msg + 1, &expected, sizeof expected);
  std::memcpy(msg + 1 + sizeof expected, &drain_until_ns, sizeof drain_until_ns);
  write_all(to_child_, msg, sizeof msg);
}

void child_process::reap(int wait_ms) {
  if (pid_ <= 0) return;
  for (int waited = 0;; waited += 10) {
    if (waitpid(pid_, nullptr, WNOHANG) == pid_) break;
    if (waited >= wait_ms) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
      break;
    }
    usleep(10'000);
  }
  pid_ = -1;
}

}  // namespace wshub::bench
