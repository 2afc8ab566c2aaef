// wshub-handoff-bench: what one hand-off from the store's writer thread to the workers costs.
//
// After each commit the writer posts one job to every worker's io_context (docs/ARCHITECTURE.md).
// This measures that mechanism alone, with Asio as wshub uses it: N threads each run their own
// io_context (concurrency hint 1); a "writer" thread posts one job to each of them per round and
// waits until all N have run before the next round (a commit at a time). Printed: the writer's
// CPU time per post (what bounds the writer as workers are added), the workers' CPU time per job
// (waking up included) and the wall time of a round. Workers sleep between rounds, so every post
// pays for waking a sleeping thread: the worst case; a post to a busy worker is cheaper.
//
//   wshub-handoff-bench [--workers 1,2,4,8] [--rounds 20000]
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>

#include <algorithm>
#include <atomic>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <memory>
#include <string_view>
#include <thread>
#include <vector>

namespace {

double seconds(clockid_t clock) {
  timespec ts{};
  clock_gettime(clock, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

struct handoff_cost {
  double writer_us_per_post;  // the writer thread's CPU time spent posting
  double worker_us_per_job;   // the workers' CPU time per job: waking up, running it, sleeping again
  double wall_us_per_round;   // from the first post of a round until the last job has run
};

handoff_cost measure(unsigned workers, unsigned rounds) {
  namespace asio = boost::asio;
  std::vector<std::unique_ptr<asio::io_context>> contexts;
  std::vector<asio::executor_work_guard<asio::io_context::executor_type>> guards;
  for (unsigned i = 0; i < workers; ++i) {
    contexts.push_back(std::make_unique<asio::io_context>(1));
    guards.push_back(asio::make_work_guard(*contexts.back()));
  }
  std::vector<std::thread> threads;
  for (auto& c : contexts) threads.emplace_back([&io = *c] { io.run(); });

  std::atomic<unsigned> left{0};
  double posting = 0;
  const double wall0 = seconds(CLOCK_MONOTONIC);
  const double process0 = seconds(CLOCK_PROCESS_CPUTIME_ID);
  const double writer0 = seconds(CLOCK_THREAD_CPUTIME_ID);
  for (unsigned r = 0; r < rounds; ++r) {
    left.store(workers, std::memory_order_relaxed);
    const double t0 = seconds(CLOCK_THREAD_CPUTIME_ID);
    for (auto& c : contexts) asio::post(*c, [&left] { left.fetch_sub(1, std::memory_order_release); });
    posting += seconds(CLOCK_THREAD_CPUTIME_ID) - t0;
    // The writer would go on to its next commit; here it waits for the round, yielding its core.
    while (left.load(std::memory_order_acquire) != 0) std::this_thread::yield();
  }
  const double writer = seconds(CLOCK_THREAD_CPUTIME_ID) - writer0;
  const double process = seconds(CLOCK_PROCESS_CPUTIME_ID) - process0;
  const double wall = seconds(CLOCK_MONOTONIC) - wall0;
  guards.clear();
  for (auto& t : threads) t.join();

  const double posts = static_cast<double>(rounds) * workers;
  return {posting * 1e6 / posts, (process - writer) * 1e6 / posts, wall * 1e6 / rounds};
}

std::vector<unsigned> parse_list(std::string_view text) {
  std::vector<unsigned> out;
  while (!text.empty()) {
    const auto comma = text.find(',');
    const auto item = text.substr(0, comma);
    unsigned v = 0;
    const auto [end, ec] = std::from_chars(item.data(), item.data() + item.size(), v);
    if (ec != std::errc{} || end != item.data() + item.size() || v == 0 || v > 256) return {};
    out.push_back(v);
    text = comma == std::string_view::npos ? std::string_view{} : text.substr(comma + 1);
  }
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<unsigned> worker_counts{1, 2, 4, 8};
  unsigned rounds = 20000;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (arg == "--workers" && i + 1 < argc) {
      worker_counts = parse_list(argv[++i]);
      if (worker_counts.empty()) {
        std::fprintf(stderr, "--workers: a comma-separated list of counts from 1 to 256\n");
        return 2;
      }
    } else if (arg == "--rounds" && i + 1 < argc) {
      const std::string_view v = argv[++i];
      const auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), rounds);
      if (ec != std::errc{} || end != v.data() + v.size() || rounds == 0 || rounds > 10'000'000) {
        std::fprintf(stderr, "--rounds: a count from 1 to 10000000\n");
        return 2;
      }
    } else {
      std::fprintf(stderr, "usage: wshub-handoff-bench [--workers 1,2,4,8] [--rounds 20000]\n");
      return 2;
    }
  }
  std::printf("workers  writer CPU us/post  worker CPU us/job  wall us/round\n");
  for (unsigned n : worker_counts) {
    const auto c = measure(n, rounds);
    std::printf("%7u  %18.2f  %17.2f  %13.2f\n", n, c.writer_us_per_post, c.worker_us_per_job, c.wall_us_per_round);
  }
  return 0;
}
