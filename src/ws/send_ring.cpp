#include "wshub/ws/send_ring.hpp"

#include "wshub/hub/hub.hpp"

#include <liburing.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstring>
#include <utility>

namespace wshub::ws {

namespace {

// Sends never wait and never raise SIGPIPE: a full buffer comes back as EAGAIN, a closed peer as
// EPIPE.
constexpr int send_flags = MSG_DONTWAIT | MSG_NOSIGNAL;

// A result slot of a send the kernel has not answered yet.
constexpr int not_done = INT_MIN;

int sendmsg_now(int fd, const msghdr& h) {
  const auto n = ::sendmsg(fd, &h, send_flags);
  return n < 0 ? -errno : static_cast<int>(n);
}

boost::system::error_code error_of(int result) {
  if (result >= 0 || result == -EAGAIN || result == -EWOULDBLOCK) return {};
  return {-result, boost::system::system_category()};
}

}  // namespace

thread_local send_ring* send_ring::open_here_ = nullptr;

send_ring::send_ring(unsigned entries, mode wanted) : entries_(std::max(1u, entries)) {
  if (wanted != mode::io_uring) {
    why_not_ = "not asked for";
    return;
  }
  auto ring = std::make_unique<::io_uring>();
  // Completions are posted when the sends run (inline, in io_uring_enter): no interrupt of the
  // thread is needed to deliver them.
  int rc = ::io_uring_queue_init(entries_, ring.get(), IORING_SETUP_COOP_TASKRUN);
  if (rc == -EINVAL) rc = ::io_uring_queue_init(entries_, ring.get(), 0);  // a kernel before 5.19
  if (rc < 0) {
    why_not_ = std::string("io_uring_setup: ") + std::strerror(-rc);
    return;
  }
  ring_ = std::move(ring);
}

send_ring::~send_ring() {
  if (ring_) ::io_uring_queue_exit(ring_.get());
}

void send_ring::submit(std::size_t from, std::size_t n) {
  headers_.assign(n, msghdr{});
  unsigned prepared = 0;
  for (std::size_t i = 0; i < n; ++i) {
    const auto& q = telling_[from + i];
    auto& h = headers_[i];
    h.msg_iov = telling_iovecs_.data() + q.first_iovec;
    h.msg_iovlen = q.iovec_count;
    // A socket already closed (its descriptor gone) gets its error here, not from the kernel: an
    // older kernel would stop the whole submission at it.
    if (q.fd < 0) {
      results_[from + i] = -EBADF;
      continue;
    }
    auto* sqe = ::io_uring_get_sqe(ring_.get());  // never null: n <= entries_ and the ring is empty
    ::io_uring_prep_sendmsg(sqe, q.fd, &h, send_flags);
    ::io_uring_sqe_set_data64(sqe, from + i);
    ++prepared;
  }
  if (prepared == 0) return;
  // Non-blocking sends complete inside the call; waiting for all of them costs nothing more, and
  // the buffers and headers are never left with the kernel after it returns. A kernel may take
  // fewer than were queued (it stops at a send it cannot set up); the rest go in the next call.
  unsigned taken = 0;
  while (taken < prepared) {
    ++calls_;
    const int rc = ::io_uring_submit_and_wait(ring_.get(), prepared);
    if (rc == -EINTR) continue;
    if (rc <= 0) break;
    taken += static_cast<unsigned>(rc);
  }
  unsigned reaped = 0;
  for (; reaped < taken; ++reaped) {
    ::io_uring_cqe* cqe = nullptr;
    int rc;
    do rc = ::io_uring_wait_cqe(ring_.get(), &cqe);
    while (rc == -EINTR);
    if (rc < 0) break;
    const auto i = ::io_uring_cqe_get_data64(cqe);
    if (i >= from && i < from + n) results_[i] = cqe->res;
    ::io_uring_cqe_seen(ring_.get(), cqe);
  }
  if (taken == prepared && reaped == taken) return;
  // The ring failed (the kernel refused a submission or a wait): it is closed, so the sends it
  // never took are never issued later with stale headers, and this worker goes on with one
  // sendmsg per send (flush() makes the ones not made yet). A send the kernel took whose result
  // was lost gets an error instead: its connection is closed, as sending it again could repeat
  // bytes.
  ::io_uring_queue_exit(ring_.get());
  ring_.reset();
  why_not_ = "io_uring failed while sending; one sendmsg per send from then on";
  unsigned position = 0;  // among the prepared sends, which the kernel takes in order
  for (std::size_t i = from; i < from + n; ++i) {
    if (telling_[i].fd < 0) continue;
    const bool was_taken = position++ < taken;
    if (was_taken && results_[i] == not_done) results_[i] = -ECANCELED;
  }
}

void send_ring::flush() {
  if (flushing_) return;  // a sender queued from sent(): the loop below takes it
  flushing_ = true;
  while (!queued_.empty()) {
    // This round's sends move aside: what the senders queue while they are told waits for the next.
    std::swap(queued_, telling_);
    std::swap(iovecs_, telling_iovecs_);
    queued_.clear();
    iovecs_.clear();
    results_.assign(telling_.size(), not_done);
    sends_ += telling_.size();
    const auto calls_before = calls_;
    for (std::size_t from = 0; from < telling_.size() && ring_; from += entries_)
      submit(from, std::min<std::size_t>(entries_, telling_.size() - from));
    // Without a ring (or after it failed): one call per send not made yet.
    for (std::size_t i = 0; i < telling_.size(); ++i) {
      if (results_[i] != not_done) continue;
      msghdr h{};
      h.msg_iov = telling_iovecs_.data() + telling_[i].first_iovec;
      h.msg_iovlen = telling_[i].iovec_count;
      ++calls_;
      results_[i] = sendmsg_now(telling_[i].fd, h);
    }
    if (tally_) tally_->count_socket_writes(telling_.size(), calls_ - calls_before);
    for (std::size_t i = 0; i < telling_.size(); ++i) {
      const auto r = results_[i];
      auto to_tell = std::move(telling_[i].to_tell);
      to_tell->sent(error_of(r), r > 0 ? static_cast<std::size_t>(r) : 0);
    }
    telling_.clear();
  }
  flushing_ = false;
}

}  // namespace wshub::ws
