// The worker's batched sends over real loopback TCP sockets, in both modes: io_uring (what runs
// by default) and one sendmsg per send (what runs where io_uring is refused). Both must give the
// sessions the same results.
#include "wshub/ws/send_ring.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include <boost/asio/buffer.hpp>
#include <gtest/gtest.h>

namespace {

using wshub::ws::send_pass;
using wshub::ws::send_ring;

// A connected pair of loopback TCP sockets: `ours` sends, `peer` reads.
struct tcp_pair {
  int ours = -1;
  int peer = -1;
  tcp_pair() {
    const int listener = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in at{};
    at.sin_family = AF_INET;
    at.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t size = sizeof at;
    if (::bind(listener, reinterpret_cast<sockaddr*>(&at), sizeof at) != 0 || ::listen(listener, 1) != 0 ||
        ::getsockname(listener, reinterpret_cast<sockaddr*>(&at), &size) != 0)
      throw std::runtime_error("listen failed");
    peer = ::socket(AF_INET, SOCK_STREAM, 0);
    if (::connect(peer, reinterpret_cast<sockaddr*>(&at), sizeof at) != 0) throw std::runtime_error("connect failed");
    ours = ::accept(listener, nullptr, nullptr);
    ::close(listener);
  }
  tcp_pair(const tcp_pair&) = delete;
  tcp_pair& operator=(const tcp_pair&) = delete;
  ~tcp_pair() {
    if (ours >= 0) ::close(ours);
    if (peer >= 0) ::close(peer);
  }
  // Reads exactly n bytes (blocking).
  std::string read(std::size_t n) const {
    std::string got(n, '\0');
    for (std::size_t at = 0; at < n;) {
      const auto r = ::recv(peer, got.data() + at, n - at, 0);
      if (r <= 0) throw std::runtime_error("peer read failed");
      at += static_cast<std::size_t>(r);
    }
    return got;
  }
};

struct outcome {
  bool told = false;
  boost::system::error_code ec;
  std::size_t bytes = 0;
};

// A sender that records its result, and may do more when told.
class recorder final : public send_ring::sender {
 public:
  explicit recorder(outcome& out, std::function<void()> then = {}) : out_(out), then_(std::move(then)) {}
  void sent(boost::system::error_code ec, std::size_t bytes) override {
    out_ = {true, ec, bytes};
    if (then_) then_();
  }

 private:
  outcome& out_;
  std::function<void()> then_;
};

// A frame as a session sends it: header and payload in two buffers.
std::array<boost::asio::const_buffer, 2> frame(const std::string& header, const std::string& payload) {
  return {boost::asio::buffer(header), boost::asio::buffer(payload)};
}

class send_ring_modes : public testing::TestWithParam<send_ring::mode> {
 protected:
  void SetUp() override {
    ring_ = std::make_unique<send_ring>(32, GetParam());
    // The default mode must really be io_uring here: otherwise its tests would test the other one.
    ASSERT_EQ(ring_->used(), GetParam()) << ring_->why_not_io_uring();
  }
  send_ring& ring() { return *ring_; }
  bool batched() const { return GetParam() == send_ring::mode::io_uring; }

 private:
  std::unique_ptr<send_ring> ring_;
};

TEST_P(send_ring_modes, the_sends_of_a_pass_go_out_together_when_it_ends) {
  constexpr std::size_t sockets = 100;
  std::vector<std::unique_ptr<tcp_pair>> pairs;
  std::vector<outcome> results(sockets);
  std::vector<std::string> payloads;
  for (std::size_t i = 0; i < sockets; ++i) {
    pairs.push_back(std::make_unique<tcp_pair>());
    payloads.push_back("message " + std::to_string(i));
  }
  const std::string header = "H:";
  {
    const send_pass pass(ring());
    for (std::size_t i = 0; i < sockets; ++i)
      ring().send(pairs[i]->ours, frame(header, payloads[i]), std::make_shared<recorder>(results[i]));
    for (const auto& r : results) EXPECT_FALSE(r.told) << "told before the pass ended";
    EXPECT_EQ(ring().sends(), 0u);
  }
  for (std::size_t i = 0; i < sockets; ++i) {
    ASSERT_TRUE(results[i].told);
    EXPECT_FALSE(results[i].ec) << results[i].ec.message();
    EXPECT_EQ(results[i].bytes, header.size() + payloads[i].size());
    EXPECT_EQ(pairs[i]->read(results[i].bytes), header + payloads[i]);
  }
  EXPECT_EQ(ring().sends(), sockets);
  // 32 sends per system call at most with io_uring (100 = 32 + 32 + 32 + 4); one each without.
  EXPECT_EQ(ring().system_calls(), batched() ? 4u : sockets);
}

TEST_P(send_ring_modes, outside_a_pass_a_send_is_made_and_told_at_once) {
  tcp_pair pair;
  outcome result;
  const std::string header = "h", payload = "now";
  ring().send(pair.ours, frame(header, payload), std::make_shared<recorder>(result));
  ASSERT_TRUE(result.told);
  EXPECT_FALSE(result.ec);
  EXPECT_EQ(pair.read(4), "hnow");
  EXPECT_EQ(ring().system_calls(), 1u);
}

TEST_P(send_ring_modes, a_full_socket_takes_part_then_nothing_and_neither_is_an_error) {
  tcp_pair pair;
  const int small = 4096;
  ::setsockopt(pair.ours, SOL_SOCKET, SO_SNDBUF, &small, sizeof small);
  ::setsockopt(pair.peer, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
  const std::string big(4 * 1024 * 1024, 'x');
  outcome first, second;
  ring().send(pair.ours, std::array{boost::asio::buffer(big)}, std::make_shared<recorder>(first));
  ASSERT_TRUE(first.told);
  EXPECT_FALSE(first.ec) << first.ec.message();
  EXPECT_GT(first.bytes, 0u);
  EXPECT_LT(first.bytes, big.size()) << "the peer reads nothing, so the kernel cannot take 4 MiB";
  // The kernel may still grow the buffers a little: sends go on (64 at most) until one takes nothing.
  std::size_t taken = first.bytes;
  for (int attempt = 0; attempt < 64 && !(second.told && second.bytes == 0); ++attempt) {
    second = {};
    ring().send(pair.ours, std::array{boost::asio::buffer(big)}, std::make_shared<recorder>(second));
    ASSERT_TRUE(second.told);
    ASSERT_FALSE(second.ec) << "a full buffer is not an error: " << second.ec.message();
    taken += second.bytes;
  }
  EXPECT_EQ(second.bytes, 0u) << "the socket never filled up: " << taken << " bytes taken";
}

TEST_P(send_ring_modes, a_reset_connection_is_the_senders_error_and_no_signal) {
  tcp_pair pair;
  const linger reset{1, 0};  // closing with linger 0 sends a RST
  ::setsockopt(pair.peer, SOL_SOCKET, SO_LINGER, &reset, sizeof reset);
  ::close(std::exchange(pair.peer, -1));
  char byte = 0;
  ASSERT_EQ(::recv(pair.ours, &byte, 1, 0), -1);  // the RST has arrived (loopback: at once)
  outcome result;
  const std::string payload = "lost";
  ring().send(pair.ours, std::array{boost::asio::buffer(payload)}, std::make_shared<recorder>(result));
  ASSERT_TRUE(result.told);
  EXPECT_TRUE(result.ec) << "a send to a reset connection must fail";
}

TEST_P(send_ring_modes, a_closed_or_wrong_descriptor_in_a_pass_fails_alone) {
  // A session cut between being woken and sending has no descriptor any more (-1); a descriptor
  // that is no socket fails in the kernel. Each gets its own error; the sends around them go out.
  std::array<tcp_pair, 3> pairs;
  int pipe_ends[2];
  ASSERT_EQ(::pipe(pipe_ends), 0);
  const std::string payload = "still sent";
  std::array<outcome, 5> results;
  const std::array<int, 5> fds{pairs[0].ours, -1, pairs[1].ours, pipe_ends[1], pairs[2].ours};
  {
    const send_pass pass(ring());
    for (std::size_t i = 0; i < fds.size(); ++i)
      ring().send(fds[i], std::array{boost::asio::buffer(payload)}, std::make_shared<recorder>(results[i]));
  }
  ::close(pipe_ends[0]);
  ::close(pipe_ends[1]);
  for (const std::size_t i : {0, 2, 4}) {
    ASSERT_TRUE(results[i].told);
    EXPECT_FALSE(results[i].ec) << results[i].ec.message();
    EXPECT_EQ(results[i].bytes, payload.size());
  }
  for (auto& pair : pairs) EXPECT_EQ(pair.read(payload.size()), payload);
  ASSERT_TRUE(results[1].told);
  EXPECT_EQ(results[1].ec, boost::system::error_code(EBADF, boost::system::system_category()));
  ASSERT_TRUE(results[3].told);
  EXPECT_TRUE(results[3].ec) << "a send on a pipe must fail";
  EXPECT_EQ(ring().used(), GetParam()) << "a failed send is not a failed ring";
}

TEST_P(send_ring_modes, a_send_queued_while_a_sender_is_told_goes_out_in_the_same_flush) {
  tcp_pair pair;
  outcome first, second;
  const std::string a = "first;", b = "second";
  {
    const send_pass pass(ring());
    ring().send(pair.ours, std::array{boost::asio::buffer(a)}, std::make_shared<recorder>(first, [&] {
      ring().send(pair.ours, std::array{boost::asio::buffer(b)}, std::make_shared<recorder>(second));
      EXPECT_FALSE(second.told) << "told inside another sender's sent()";
    }));
  }
  ASSERT_TRUE(first.told);
  ASSERT_TRUE(second.told);
  EXPECT_FALSE(second.ec);
  EXPECT_EQ(pair.read(a.size() + b.size()), a + b);
  EXPECT_EQ(ring().sends(), 2u);
}

TEST_P(send_ring_modes, a_pass_opened_and_closed_while_results_are_told_keeps_the_ring_open_here) {
  // A sender told its result may start work of its own in a pass (a session's next write, an
  // answer); when that inner pass ends, the outer flush is still running, and what is made after
  // it must still see the ring open here (so answers join the flush instead of being posted).
  tcp_pair pair;
  outcome first, second;
  const send_ring* seen_after_inner_pass = nullptr;
  const std::string a = "a", b = "b";
  {
    const send_pass pass(ring());
    ring().send(pair.ours, std::array{boost::asio::buffer(a)}, std::make_shared<recorder>(first, [&] {
      { const send_pass inner(ring()); }
      seen_after_inner_pass = send_ring::open_here();
      ring().send(pair.ours, std::array{boost::asio::buffer(b)}, std::make_shared<recorder>(second));
    }));
  }
  EXPECT_EQ(seen_after_inner_pass, &ring());
  EXPECT_EQ(send_ring::open_here(), nullptr) << "the outer pass is over";
  ASSERT_TRUE(second.told);
  EXPECT_EQ(pair.read(2), "ab");
}

INSTANTIATE_TEST_SUITE_P(, send_ring_modes,
                         testing::Values(send_ring::mode::io_uring, send_ring::mode::one_call_per_send),
                         [](const testing::TestParamInfo<send_ring::mode>& param) {
                           return param.param == send_ring::mode::io_uring ? std::string("io_uring")
                                                                            : std::string("one_call_per_send");
                         });

}  // namespace
