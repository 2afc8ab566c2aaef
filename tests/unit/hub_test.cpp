#include "wshub/hub/hub.hpp"

#include <atomic>
#include <functional>
#include <future>
#include <latch>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <boost/asio/post.hpp>
#include <gtest/gtest.h>

#include "wshub/engine/workers.hpp"

namespace {

using wshub::hub::conn_id;
using wshub::hub::frame_ptr;

// Records every frame it accepts and every close; refuses all frames when built with accept = false.
class recording_subscriber : public wshub::hub::subscriber {
 public:
  explicit recording_subscriber(bool accept = true) : accept_(accept) {}

  bool deliver(const frame_ptr& f) override {
    std::lock_guard lock(mutex_);
    if (!accept_) return false;
    frames_.push_back(f);
    return true;
  }
  void close(std::uint16_t code, const std::string& reason) override {
    std::lock_guard lock(mutex_);
    closes_.emplace_back(code, reason);
  }
  std::size_t queued_bytes() const override { return 7; }

  std::vector<frame_ptr> frames() const {
    std::lock_guard lock(mutex_);
    return frames_;
  }
  std::size_t count() const { return frames().size(); }
  std::vector<std::pair<std::uint16_t, std::string>> closes() const {
    std::lock_guard lock(mutex_);
    return closes_;
  }

 private:
  const bool accept_;
  mutable std::mutex mutex_;
  std::vector<frame_ptr> frames_;
  std::vector<std::pair<std::uint16_t, std::string>> closes_;
};

frame_ptr frame_on_all(std::vector<std::string> channels, std::uint64_t id = 0) {
  auto f = std::make_shared<wshub::hub::frame>();
  f->id = id;
  f->channels = std::move(channels);
  f->set_text("{}");
  return f;
}

frame_ptr frame_on(const std::string& channel, std::uint64_t id = 0) {
  return frame_on_all({channel}, id);
}

frame_ptr frame_to_conn(conn_id to) {
  auto f = std::make_shared<wshub::hub::frame>();
  f->channels = {"system"};
  f->to_conn = to;
  return f;
}

frame_ptr frame_to_user(std::string user) {
  auto f = std::make_shared<wshub::hub::frame>();
  f->channels = {"system"};
  f->to_user = std::move(user);
  return f;
}

wshub::hub::member_info as_user(std::string user) {
  wshub::hub::member_info info;
  info.remote = "127.0.0.1:40000";
  info.user = std::move(user);
  return info;
}

// Registry i's owner is worker i, as in the server; then the workers start.
void start_owners(wshub::engine::workers& io, wshub::hub::hub& node) {
  for (std::size_t i = 0; i < node.size(); ++i) {
    node.set_owner(i, [&ioc = io.at(i).ioc](std::function<void()> job) { boost::asio::post(ioc, std::move(job)); });
    boost::asio::post(io.at(i).ioc, [&r = node.shard(i)] { r.bind_owner(); });
  }
  io.start();
}

struct hub_fixture : ::testing::Test {
  conn_id join(recording_subscriber& s, const std::vector<std::string>& channels) {
    return hub.join(s, channels, wshub::hub::member_info{});
  }

  wshub::hub::registry hub;  // one worker's; the test thread is its owner
};

TEST_F(hub_fixture, join_returns_distinct_ids) {
  recording_subscriber a, b;
  std::set<conn_id> ids;
  for (int i = 0; i < 100; ++i) ids.insert(join(i % 2 ? a : b, {"system"}));
  EXPECT_EQ(ids.size(), 100u);
  EXPECT_EQ(ids.count(0), 0u);
}

TEST_F(hub_fixture, fan_out_reaches_only_subscribers_of_the_channel) {
  recording_subscriber news, sports, both;
  join(news, {"news"});
  join(sports, {"sports"});
  join(both, {"news", "sports"});

  EXPECT_EQ(hub.fan_out(frame_on("news")), 2u);
  EXPECT_EQ(news.count(), 1u);
  EXPECT_EQ(sports.count(), 0u);
  EXPECT_EQ(both.count(), 1u);
  EXPECT_EQ(hub.fan_out(frame_on("weather")), 0u);
}

TEST_F(hub_fixture, frame_on_several_channels_reaches_each_subscriber_once) {
  recording_subscriber news, sports, both, neither;
  join(news, {"news"});
  join(sports, {"sports"});
  join(both, {"news", "sports"});
  join(neither, {"weather"});

  EXPECT_EQ(hub.fan_out(frame_on_all({"news", "sports"})), 3u);
  EXPECT_EQ(news.count(), 1u);
  EXPECT_EQ(sports.count(), 1u);
  EXPECT_EQ(both.count(), 1u);
  EXPECT_EQ(neither.count(), 0u);
  EXPECT_EQ(hub.deliveries(), 3u);
}

TEST_F(hub_fixture, fan_out_counts_accepted_deliveries) {
  recording_subscriber a, b;
  join(a, {"system"});
  join(b, {"system"});
  hub.fan_out(frame_on("system"));
  hub.fan_out(frame_on("system"));
  EXPECT_EQ(hub.deliveries(), 4u);
}

TEST_F(hub_fixture, refused_deliveries_are_not_counted) {
  recording_subscriber accepting, refusing(false);
  join(accepting, {"system"});
  join(refusing, {"system"});
  EXPECT_EQ(hub.fan_out(frame_on("system")), 1u);
  EXPECT_EQ(hub.deliveries(), 1u);
  EXPECT_EQ(accepting.count(), 1u);
}

TEST_F(hub_fixture, frame_to_a_connection_reaches_only_that_connection) {
  recording_subscriber target, other;
  const auto id = join(target, {"news"});  // not subscribed to the frame's channel: still reached
  join(other, {"system"});
  EXPECT_EQ(hub.fan_out(frame_to_conn(id)), 1u);
  EXPECT_EQ(target.count(), 1u);
  EXPECT_EQ(other.count(), 0u);
  EXPECT_EQ(hub.fan_out(frame_to_conn(id + 1000)), 0u);  // unknown id: nobody
}

TEST_F(hub_fixture, frame_to_a_user_reaches_all_and_only_their_connections) {
  recording_subscriber alice_phone, alice_laptop, bob, anonymous;
  hub.join(alice_phone, {"system"}, as_user("alice"));
  hub.join(alice_laptop, {}, as_user("alice"));
  hub.join(bob, {"system"}, as_user("bob"));
  join(anonymous, {"system"});
  EXPECT_EQ(hub.fan_out(frame_to_user("alice")), 2u);
  EXPECT_EQ(alice_phone.count(), 1u);
  EXPECT_EQ(alice_laptop.count(), 1u);
  EXPECT_EQ(bob.count(), 0u);
  EXPECT_EQ(anonymous.count(), 0u);
}

TEST_F(hub_fixture, user_is_unreachable_after_leave) {
  recording_subscriber alice;
  const auto id = hub.join(alice, {}, as_user("alice"));
  hub.leave(id);
  EXPECT_EQ(hub.fan_out(frame_to_user("alice")), 0u);
  EXPECT_EQ(alice.count(), 0u);
}

TEST_F(hub_fixture, joining_a_channel_twice_delivers_once) {
  recording_subscriber s;
  join(s, {"system", "system"});
  EXPECT_EQ(hub.fan_out(frame_on("system")), 1u);
  EXPECT_EQ(s.count(), 1u);
  EXPECT_EQ(hub.subscription_count(), 1u);
}

TEST_F(hub_fixture, leave_stops_delivery) {
  recording_subscriber s;
  const auto id = join(s, {"system"});
  hub.fan_out(frame_on("system"));
  hub.leave(id);
  EXPECT_EQ(hub.fan_out(frame_on("system")), 0u);
  EXPECT_EQ(s.count(), 1u);
  hub.leave(id);  // leaving twice is harmless
  EXPECT_EQ(hub.connection_count(), 0u);
}

TEST_F(hub_fixture, subscribe_and_unsubscribe) {
  recording_subscriber s;
  const auto id = join(s, {});
  EXPECT_EQ(hub.fan_out(frame_on("news")), 0u);

  EXPECT_TRUE(hub.subscribe(id, "news"));
  EXPECT_TRUE(hub.subscribe(id, "news"));  // already subscribed: still true, still one delivery
  EXPECT_EQ(hub.fan_out(frame_on("news")), 1u);

  EXPECT_TRUE(hub.unsubscribe(id, "news"));
  EXPECT_FALSE(hub.unsubscribe(id, "news"));
  EXPECT_EQ(hub.fan_out(frame_on("news")), 0u);
  EXPECT_EQ(s.count(), 1u);
}

TEST_F(hub_fixture, subscribe_of_an_unknown_id_fails) {
  EXPECT_FALSE(hub.subscribe(12345, "news"));
  EXPECT_FALSE(hub.unsubscribe(12345, "news"));
}

TEST_F(hub_fixture, connection_and_subscription_counts_follow_the_registry) {
  recording_subscriber a, b;
  EXPECT_EQ(hub.connection_count(), 0u);
  const auto ia = join(a, {"x", "y"});
  const auto ib = join(b, {});
  EXPECT_EQ(hub.connection_count(), 2u);
  EXPECT_EQ(hub.subscription_count(), 2u);
  hub.subscribe(ib, "x");
  EXPECT_EQ(hub.subscription_count(), 3u);
  hub.leave(ia);
  EXPECT_EQ(hub.connection_count(), 1u);
  EXPECT_EQ(hub.subscription_count(), 1u);
  hub.unsubscribe(ib, "x");
  EXPECT_EQ(hub.subscription_count(), 0u);
}

TEST_F(hub_fixture, list_pages_connections_in_id_order) {
  std::vector<std::unique_ptr<recording_subscriber>> subs;
  std::vector<conn_id> ids;
  for (int i = 0; i < 5; ++i) {
    subs.push_back(std::make_unique<recording_subscriber>());
    ids.push_back(hub.join(*subs.back(), {"c" + std::to_string(i)}, as_user("u" + std::to_string(i))));
  }
  const auto first = hub.list(0, 3);
  ASSERT_EQ(first.size(), 3u);
  const auto rest = hub.list(first.back().id, 3);
  ASSERT_EQ(rest.size(), 2u);
  for (std::size_t i = 0; i < 5; ++i) {
    const auto& v = i < 3 ? first[i] : rest[i - 3];
    EXPECT_EQ(v.id, ids[i]);
    EXPECT_EQ(v.info.user, "u" + std::to_string(i));
    EXPECT_EQ(v.channels, std::vector<std::string>{"c" + std::to_string(i)});
    EXPECT_EQ(v.queued_bytes, 7u);
  }
}

// Members sit in each channel's and user's list at a position they know; whoever leaves or
// unsubscribes, from the middle or the end, the others stay reachable, each exactly once.
TEST_F(hub_fixture, leaving_in_any_order_keeps_every_other_member_reachable_once) {
  constexpr int count = 30;
  std::vector<std::unique_ptr<recording_subscriber>> subs;
  std::vector<conn_id> ids;
  for (int i = 0; i < count; ++i) {
    subs.push_back(std::make_unique<recording_subscriber>());
    ids.push_back(hub.join(*subs.back(), {"a", "b"}, as_user("u")));
  }
  std::set<int> on_a, members;  // who should be reached on "a"; who is still a member
  for (int i = 0; i < count; ++i) on_a.insert(i), members.insert(i);
  const auto expect_reached = [&](const frame_ptr& f, const std::set<int>& expected) {
    std::vector<std::size_t> before;
    for (const auto& s : subs) before.push_back(s->count());
    EXPECT_EQ(hub.fan_out(f), expected.size());
    for (int i = 0; i < count; ++i) EXPECT_EQ(subs[i]->count() - before[i], expected.count(i)) << "member " << i;
  };
  for (const int i : {7, 0, 29, 15, 16, 28, 1, 14, 8, 22}) {
    if (i % 2 == 0) {
      hub.leave(ids[i]);
      members.erase(i);
    } else {  // out of "a" only: still on "b" and the user's
      ASSERT_TRUE(hub.unsubscribe(ids[i], "a"));
      ASSERT_TRUE(hub.subscribe(ids[i], "c"));
    }
    on_a.erase(i);
    expect_reached(frame_on("a"), on_a);
  }
  expect_reached(frame_on("b"), members);
  expect_reached(frame_to_user("u"), members);
  expect_reached(frame_on("c"), {7, 29, 15, 1});
  EXPECT_EQ(hub.channels_of(ids[7]), (std::vector<std::string>{"b", "c"}));
  EXPECT_EQ(hub.user_of(ids[7]), "u");
  EXPECT_TRUE(hub.channels_of(ids[0]).empty()) << "left";
  EXPECT_EQ(hub.user_of(ids[0]), "");
}

TEST_F(hub_fixture, close_reaches_the_subscriber) {
  recording_subscriber s;
  const auto id = join(s, {});
  EXPECT_TRUE(hub.close(id, 4000, "kicked"));
  EXPECT_FALSE(hub.close(id + 1000, 4000, "nobody"));
  EXPECT_EQ(s.closes(), (std::vector<std::pair<std::uint16_t, std::string>>{{4000, "kicked"}}));
}

TEST_F(hub_fixture, for_each_visits_every_subscriber_once) {
  std::vector<std::unique_ptr<recording_subscriber>> subs;
  for (int i = 0; i < 40; ++i) {
    subs.push_back(std::make_unique<recording_subscriber>());
    join(*subs.back(), i % 3 ? std::vector<std::string>{"a"} : std::vector<std::string>{});
  }
  std::map<wshub::hub::subscriber*, int> visits;
  hub.for_each([&](wshub::hub::subscriber& s) { ++visits[&s]; });
  ASSERT_EQ(visits.size(), subs.size());
  for (const auto& s : subs) EXPECT_EQ(visits[s.get()], 1);
}

// A group of frames that reports each frame's recipients, summed over the registries.
class counted_delivery final : public wshub::hub::delivery {
 public:
  counted_delivery(std::vector<frame_ptr> frames, std::function<void(std::vector<std::size_t>)> done)
      : frames_(std::move(frames)), recipients_(frames_.size()), done_(std::move(done)) {}
  void fan_out(wshub::util::function_ref<std::size_t(const frame_ptr&)> fan_out) override {
    for (std::size_t k = 0; k < frames_.size(); ++k) recipients_[k] += fan_out(frames_[k]);
  }
  void abandoned() override {}
  void delivered() override {
    std::vector<std::size_t> counts;
    for (const auto& n : recipients_) counts.push_back(n.load());
    done_(std::move(counts));
  }

 private:
  std::vector<frame_ptr> frames_;
  std::vector<std::atomic<std::size_t>> recipients_;
  std::function<void(std::vector<std::size_t>)> done_;
};

// The node's hub over three real workers; meant for ThreadSanitizer too. Publishers hand
// groups from their own threads while sockets join and leave on the workers: each subscriber,
// whatever its worker, gets each publisher's frames in order, and every group reports the
// recipients of all workers once.
TEST(node_hub, groups_reach_every_worker_in_order_and_report_recipients_once) {
  constexpr std::size_t workers = 3;
  constexpr int publishers = 2;
  constexpr std::uint64_t groups_each = 300, frames_per_group = 4;
  wshub::engine::workers io(workers);
  wshub::hub::hub node(workers);
  start_owners(io, node);
  // Joins run on the owner, like a session's; two subscribers per worker.
  std::vector<std::unique_ptr<recording_subscriber>> subs;
  for (std::size_t i = 0; i < 2 * workers; ++i) subs.push_back(std::make_unique<recording_subscriber>());
  std::latch joined(static_cast<std::ptrdiff_t>(subs.size()));
  std::vector<conn_id> ids(subs.size());
  for (std::size_t i = 0; i < subs.size(); ++i)
    boost::asio::post(io.at(i % workers).ioc, [&, i] {
      ids[i] = node.shard(i % workers).join(*subs[i], {"c"}, as_user("u"));
      joined.count_down();
    });
  joined.wait();
  EXPECT_EQ(node.connection_count(), subs.size());

  std::atomic<std::uint64_t> reported{0};
  std::atomic<std::uint64_t> reports{0};
  std::vector<std::thread> threads;
  for (int p = 0; p < publishers; ++p)
    threads.emplace_back([&, p] {
      for (std::uint64_t g = 0; g < groups_each; ++g) {
        std::vector<frame_ptr> frames;
        for (std::uint64_t k = 0; k < frames_per_group; ++k)
          frames.push_back(frame_on("c", p * 1'000'000ull + g * frames_per_group + k));
        node.deliver(std::make_unique<counted_delivery>(std::move(frames), [&](std::vector<std::size_t> recipients) {
          for (const auto n : recipients) reported += n;
          ++reports;
        }));
      }
    });
  // A transient socket joins and leaves on worker 0 meanwhile.
  recording_subscriber transient;
  for (int n = 0; n < 200; ++n)
    boost::asio::post(io.at(0).ioc, [&] {
      const auto id = node.shard(0).join(transient, {"c", "other"}, as_user("t"));
      node.shard(0).leave(id);
    });
  for (auto& t : threads) t.join();
  const auto total = publishers * groups_each * frames_per_group;
  ASSERT_TRUE([&] {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    while (reports.load() < publishers * groups_each && std::chrono::steady_clock::now() < deadline)
      std::this_thread::yield();
    return reports.load() == publishers * groups_each;
  }()) << "some groups were never reported";
  io.stop();
  io.join();

  EXPECT_EQ(reported.load(), total * subs.size() + transient.count());
  EXPECT_EQ(node.deliveries(), reported.load());
  for (const auto& s : subs) {
    const auto frames = s->frames();
    ASSERT_EQ(frames.size(), total);
    std::vector<std::uint64_t> next(publishers, 0);
    for (const auto& f : frames) {
      const auto p = f->id / 1'000'000;
      ASSERT_LT(p, static_cast<std::uint64_t>(publishers));
      ASSERT_EQ(f->id % 1'000'000, next[p]) << "publisher " << p << " out of order";
      ++next[p];
    }
  }
  // Ids are handed out by the worker that owns them: registry i's are first_id + i + k * workers.
  for (std::size_t i = 0; i < subs.size(); ++i) EXPECT_EQ((ids[i] - 1) % workers, i % workers);
}

TEST(node_hub, close_and_list_reach_the_owning_registry) {
  wshub::hub::hub node(3);  // jobs run inline: one thread plays every owner
  recording_subscriber a, b, c;
  const auto ida = node.shard(0).join(a, {}, as_user("a"));
  const auto idb = node.shard(1).join(b, {}, as_user("b"));
  const auto idc = node.shard(2).join(c, {}, as_user("c"));
  std::vector<conn_id> listed;
  node.list(0, 10, [&](std::vector<wshub::hub::connection_view> v) {
    for (const auto& x : v) listed.push_back(x.id);
  });
  EXPECT_EQ(listed, (std::vector<conn_id>{ida, idb, idc}));
  std::vector<bool> found;
  node.close(idb, 4001, "bye", [&](bool f) { found.push_back(f); });
  node.close(idb + 3, 4001, "bye", [&](bool f) { found.push_back(f); });
  node.close(0, 4001, "bye", [&](bool f) { found.push_back(f); });
  EXPECT_EQ(found, (std::vector<bool>{true, false, false}));
  EXPECT_EQ(b.closes().size(), 1u);
  EXPECT_TRUE(a.closes().empty());
  node.close_all(1001, "stop");
  EXPECT_EQ(a.closes().size(), 1u);
  EXPECT_EQ(c.closes().size(), 1u);
}

}  // namespace

namespace {

using wshub::hub::channel_count;

TEST_F(hub_fixture, channel_counts_are_in_name_order_from_after) {
  recording_subscriber s;
  std::vector<conn_id> ids;
  for (int i = 0; i < 40; ++i) ids.push_back(join(s, {i % 2 ? "odd" : "even", "all"}));  // spread over the shards
  join(s, {"zebra"});
  EXPECT_EQ(hub.channel_counts("", 10),
            (std::vector<channel_count>{{"all", 40}, {"even", 20}, {"odd", 20}, {"zebra", 1}}));
  EXPECT_EQ(hub.channel_counts("all", 2), (std::vector<channel_count>{{"even", 20}, {"odd", 20}}));
  EXPECT_EQ(hub.channel_counts("zebra", 10), std::vector<channel_count>{});
  hub.unsubscribe(ids[0], "all");
  hub.leave(ids[1]);
  EXPECT_EQ(hub.channel_counts("", 1), (std::vector<channel_count>{{"all", 38}}));
}

TEST_F(hub_fixture, channel_members_are_the_subscribers_in_id_order) {
  recording_subscriber s;
  const auto ann = hub.join(s, {"news"}, as_user("ann"));
  join(s, {"sport"});
  const auto bob = hub.join(s, {"sport"}, as_user("bob"));
  hub.subscribe(bob, "news");
  const auto members = hub.channel_members("news");
  ASSERT_EQ(members.size(), 2u);
  EXPECT_EQ(members[0].id, ann);
  EXPECT_EQ(members[0].info.user, "ann");
  EXPECT_EQ(members[1].id, bob);
  EXPECT_EQ(members[1].channels, (std::vector<std::string>{"sport", "news"}));
  EXPECT_TRUE(hub.channel_members("nobody").empty());
}

TEST_F(hub_fixture, presence_watchers_hear_joins_and_leaves_of_others_on_their_channel) {
  recording_subscriber watcher, others;
  const auto w = join(watcher, {"news"});
  EXPECT_FALSE(hub.watch_presence(w, "sport")) << "a watch needs the subscription";
  ASSERT_TRUE(hub.watch_presence(w, "news"));
  const auto ann = hub.join(others, {"news", "sport"}, as_user("ann"));
  join(others, {"sport"});
  hub.subscribe(ann, "extra");
  hub.unsubscribe(ann, "news");
  const auto frames = watcher.frames();
  ASSERT_EQ(frames.size(), 2u);
  const auto id = std::to_string(ann);
  EXPECT_EQ(frames[0]->text(), R"({"channel":"news","conn_id":)" + id + R"(,"type":"join","user":"ann"})");
  EXPECT_EQ(frames[1]->text(), R"({"channel":"news","conn_id":)" + id + R"(,"type":"leave","user":"ann"})");
  EXPECT_EQ(frames[0]->text_v1(), frames[0]->text());
  EXPECT_EQ(others.count(), 0u) << "only watchers get presence frames";

  hub.unwatch_presence(w, "news");
  hub.subscribe(ann, "news");
  EXPECT_EQ(watcher.count(), 2u);
  hub.watch_presence(w, "news");
  hub.leave(w);  // ends its watch
  hub.leave(ann);
  EXPECT_EQ(watcher.count(), 2u);
}

}  // namespace

namespace {

// Registries on three real workers: a watcher on one hears the joins and leaves of connections on
// the others; counts and members are summed over every registry.
TEST(node_hub, presence_counts_and_members_cover_every_registry) {
  constexpr std::size_t workers = 3;
  wshub::engine::workers io(workers);
  wshub::hub::hub node(workers);
  start_owners(io, node);
  // Runs fn on registry i's owner thread and waits for it.
  const auto on = [&](std::size_t i, auto fn) {
    std::latch done(1);
    boost::asio::post(io.at(i).ioc, [&] {
      fn(node.shard(i));
      done.count_down();
    });
    done.wait();
  };
  recording_subscriber watcher, a, b, quiet;
  conn_id w = 0, ida = 0, idb = 0;
  on(0, [&](auto& r) {
    w = r.join(watcher, {"news"}, as_user("w"));
    EXPECT_TRUE(r.watch_presence(w, "news"));
  });
  EXPECT_EQ(node.watch_count(), 1u);
  on(1, [&](auto& r) { ida = r.join(a, {"news", "sport"}, as_user("ann")); });
  on(2, [&](auto& r) { idb = r.join(b, {"sport"}, as_user("bob")); });
  on(2, [&](auto& r) { r.subscribe(idb, "news"); });
  on(2, [&](auto& r) { r.join(quiet, {"other"}, as_user("q")); });
  on(1, [&](auto& r) { r.leave(ida); });
  const auto text = [](const char* type, conn_id id, const char* user) {
    return std::string(R"({"channel":"news","conn_id":)") + std::to_string(id) + R"(,"type":")" + type +
           R"(","user":")" + user + R"("})";
  };
  const std::vector<std::string> expected{text("join", ida, "ann"), text("join", idb, "bob"),
                                          text("leave", ida, "ann")};
  std::vector<std::string> heard;
  ASSERT_TRUE([&] {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (watcher.count() < expected.size() && std::chrono::steady_clock::now() < deadline)
      std::this_thread::yield();
    on(0, [](auto&) {});  // anything posted to the watcher's worker before now has run
    for (const auto& f : watcher.frames()) heard.emplace_back(f->text());
    return heard.size() == expected.size();
  }()) << heard.size() << " presence frames";
  EXPECT_EQ(heard, expected) << "one subject's frames keep their order";
  EXPECT_EQ(a.count() + b.count() + quiet.count(), 0u);

  std::promise<std::vector<wshub::hub::channel_count>> counts;
  node.channel_counts("", 10, [&](auto v) { counts.set_value(std::move(v)); });
  EXPECT_EQ(counts.get_future().get(),
            (std::vector<wshub::hub::channel_count>{{"news", 2}, {"other", 1}, {"sport", 1}}));
  std::promise<std::vector<wshub::hub::channel_count>> first;
  node.channel_counts("news", 1, [&](auto v) { first.set_value(std::move(v)); });
  EXPECT_EQ(first.get_future().get(), (std::vector<wshub::hub::channel_count>{{"other", 1}}));
  std::promise<std::vector<wshub::hub::connection_view>> members;
  node.channel_members("news", [&](auto v) { members.set_value(std::move(v)); });
  const auto m = members.get_future().get();
  ASSERT_EQ(m.size(), 2u);
  EXPECT_EQ(m[0].id, std::min(w, idb));
  EXPECT_EQ(m[1].id, std::max(w, idb));

  on(0, [&](auto& r) { r.leave(w); });
  EXPECT_EQ(node.watch_count(), 0u) << "a leave ends the watch";
  io.stop();
  io.join();
}

}  // namespace
