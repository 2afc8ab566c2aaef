#pragma once
// The deadlines of one worker's sessions (keep-alive pings, the idle cut, token expiry, the close
// timeout) on one timer per worker instead of one timer and one pending wait per socket.
//
// A hashed wheel: `slots` lists of entries, one per tick of `resolution`; an entry due at time t
// waits in the slot of the first tick at or after t, and is called on that tick once t has
// passed (entries due more than a lap away stay in their slot for the later laps). An entry is
// called at most one resolution late, more only when the worker's thread is late itself.
// Everything runs on the thread that runs the io_context: no lock.
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

namespace wshub::ws {

class timer_wheel {
 public:
  using clock = std::chrono::steady_clock;

  // A deadline owned by its holder (a session): scheduled at most once at a time; unscheduled by
  // cancel() and by its destructor. 24 bytes and a vtable pointer, no allocation.
  class entry {
   public:
    entry() = default;
    entry(const entry&) = delete;
    entry& operator=(const entry&) = delete;

    // Owner thread: the entry will not be called (a no-op when it is not scheduled).
    void cancel();
    bool scheduled() const { return prev_ != nullptr; }

   protected:
    ~entry() { cancel(); }
    // Owner thread, from the wheel, once the deadline has passed; the entry is unscheduled then
    // and may schedule itself again.
    virtual void on_due() = 0;

   private:
    friend class timer_wheel;
    entry* prev_ = nullptr;  // both null while not scheduled (the lists are circular)
    entry* next_ = nullptr;
    clock::time_point due_{};
  };

  explicit timer_wheel(boost::asio::io_context& ioc, clock::duration resolution = std::chrono::milliseconds(100),
                       std::size_t slots = 1024);
  timer_wheel(const timer_wheel&) = delete;
  timer_wheel& operator=(const timer_wheel&) = delete;
  // Unschedules every entry still waiting (their own destructors may run later).
  ~timer_wheel();

  // Owner thread: calls e.on_due() once `at` has passed; replaces e's earlier deadline, if any.
  void schedule(entry& e, clock::time_point at);
  // Any thread: the io_context's executor (the owner thread's).
  boost::asio::any_io_executor get_executor() { return timer_.get_executor(); }
  // Owner thread: no entry is scheduled.
  bool empty() const;

 private:
  // The head of one slot's circular list.
  struct sentinel final : entry {
    void on_due() override {}
  };

  std::int64_t tick_at_or_after(clock::time_point t) const;
  std::int64_t tick_before(clock::time_point t) const;
  void link(entry& e, std::int64_t tick);
  void arm();
  void on_timer();
  void run_slot(std::int64_t tick, clock::time_point now);

  boost::asio::steady_timer timer_;
  const clock::duration resolution_;
  const clock::time_point origin_;
  const std::size_t slot_count_;
  std::unique_ptr<sentinel[]> slots_;
  std::int64_t done_ = 0;  // every tick up to this one has been run
  bool armed_ = false;
};

}  // namespace wshub::ws
