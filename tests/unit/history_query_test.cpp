// GET /api/tool/messages parameters: known ones once each, valid values, nothing else.
#include "wshub/http/history_query.hpp"

#include <gtest/gtest.h>

namespace wshub::http {
namespace {

std::optional<history_query> parse(std::string_view target, std::string* error_out = nullptr) {
  std::string error;
  auto q = parse_history_query(target, "system", error);
  if (error_out) *error_out = error;
  if (!q) {
    EXPECT_FALSE(error.empty()) << target;
  }
  return q;
}

TEST(history_query, defaults_and_every_parameter) {
  auto q = parse("/api/tool/messages");
  ASSERT_TRUE(q);
  EXPECT_EQ(q->channel, "system");
  EXPECT_EQ(q->after, 0u);
  EXPECT_FALSE(q->before);
  EXPECT_EQ(q->limit, 100u);
  EXPECT_FALSE(q->newest_first);
  q = parse("/api/tool/messages?channel=news&after=3&before=90&limit=50&order=desc");
  ASSERT_TRUE(q);
  EXPECT_EQ(q->channel, "news");
  EXPECT_EQ(q->after, 3u);
  EXPECT_EQ(q->before, 90u);
  EXPECT_EQ(q->limit, 50u);
  EXPECT_TRUE(q->newest_first);
  EXPECT_FALSE(parse("/api/tool/messages?order=asc")->newest_first);
  EXPECT_EQ(parse("/api/tool/messages?before=0")->before, 0u) << "an empty range, not an unbounded one";
}

TEST(history_query, unknown_repeated_or_bad_parameters_are_refused) {
  std::string error;
  EXPECT_FALSE(parse("/api/tool/messages?channel=a&sort=desc", &error));
  EXPECT_EQ(error, "unknown parameter 'sort' (known: channel, after, before, limit, order, token)");
  EXPECT_FALSE(parse("/api/tool/messages?after=1&after=2", &error));
  EXPECT_EQ(error, "parameter 'after' is given more than once");
  EXPECT_FALSE(parse("/api/tool/messages?order=newest", &error));
  EXPECT_EQ(error, "order must be asc or desc");
  EXPECT_FALSE(parse("/api/tool/messages?before=18446744073709551615", &error));
  EXPECT_EQ(error, "before must be a message id (0 to 2^63-1)");
  for (const char* bad : {"?before=-1", "?after=x", "?limit=0", "?limit=1001", "?channel=no%20way", "?order=",
                          "?a=1&b=2&c=3&d=4&e=5&f=6&g=7&h=8&i=9"})
    EXPECT_FALSE(parse(std::string("/api/tool/messages") + bad)) << bad;
}

}  // namespace
}  // namespace wshub::http
