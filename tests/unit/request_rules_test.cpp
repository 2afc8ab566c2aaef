// net::request_problem: the RFC 9112 rules checked on a request header that Beast 1.81 parsed.
#include <gtest/gtest.h>

#include <string>

#include <boost/asio/buffer.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>

#include "wshub/net/request_rules.hpp"

namespace wshub::net {
namespace {

namespace bhttp = boost::beast::http;

// What request_problem says of `header` (request line to the empty line), after Beast took it
// as the server's session does; "beast: ..." when Beast itself refused it.
std::string problem_of(const std::string& header) {
  bhttp::request_parser<bhttp::string_body, wshub::http::fields::allocator_type> parser;
  boost::beast::error_code ec;
  const auto used = parser.put(boost::asio::buffer(header), ec);
  if (ec) return "beast: " + ec.message();
  EXPECT_TRUE(parser.is_header_done());
  return request_problem(parser.get().base(), std::string_view(header).substr(0, used));
}

TEST(request_rules_test, accepts_what_rfc9112_allows) {
  EXPECT_EQ(problem_of("GET / HTTP/1.1\r\nHost: x\r\n\r\n"), "");
  EXPECT_EQ(problem_of("GET / HTTP/1.0\r\n\r\n"), "") << "HTTP/1.0 needs no Host";
  EXPECT_EQ(problem_of("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"), "");
  EXPECT_EQ(problem_of("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding:  Chunked \r\n\r\n"), "");
  EXPECT_EQ(problem_of("GET / HTTP/1.1\r\nHost: x\r\nX-Spaces: a  b\t c\r\n\r\n"), "") << "inner whitespace is no fold";
}

TEST(request_rules_test, refuses_transfer_encodings_other_than_one_chunked) {
  for (const std::string te : {"gzip", "identity", "gzip, chunked", "chunked, chunked", "chunked;q=1", ""}) {
    const auto problem = problem_of("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: " + te + "\r\n\r\n");
    EXPECT_EQ(problem, "Transfer-Encoding must be exactly \"chunked\"") << te;
  }
  EXPECT_EQ(problem_of("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\nContent-Length: 3\r\n\r\n"),
            "Transfer-Encoding must be exactly \"chunked\"");
  EXPECT_NE(problem_of("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: identity\r\nTransfer-Encoding: chunked\r\n\r\n"),
            "");
  EXPECT_EQ(problem_of("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n"),
            "Transfer-Encoding is not allowed in an HTTP/1.0 request");
}

TEST(request_rules_test, refuses_http11_without_exactly_one_host) {
  EXPECT_EQ(problem_of("GET / HTTP/1.1\r\n\r\n"), "an HTTP/1.1 request needs exactly one Host header");
  EXPECT_EQ(problem_of("GET / HTTP/1.1\r\nHost: x\r\nHost: y\r\n\r\n"),
            "an HTTP/1.1 request needs exactly one Host header");
}

TEST(request_rules_test, refuses_obsolete_line_folding) {
  const std::string folded = "obsolete line folding (obs-fold) in the request header";
  EXPECT_EQ(problem_of("GET / HTTP/1.1\r\nHost: x\r\nX-A: a\r\n b\r\n\r\n"), folded);
  EXPECT_EQ(problem_of("GET / HTTP/1.1\r\nHost: x\r\nX-A: a\r\n\tb\r\n\r\n"), folded);
  EXPECT_EQ(problem_of("GET / HTTP/1.1\r\nHost:\r\n x\r\n\r\n"), folded);
}

}  // namespace
}  // namespace wshub::net
