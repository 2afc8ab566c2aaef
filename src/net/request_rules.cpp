#include "wshub/net/request_rules.hpp"

#include <iterator>

#include <boost/beast/core/string.hpp>
#include <boost/beast/http/field.hpp>

namespace wshub::net {

namespace bhttp = boost::beast::http;

namespace {

// A line of the header block that starts with a space or a tab continues the previous one
// (obs-fold, RFC 9112 5.2); after the request line it is whitespace before the first field,
// refused by the same rule (RFC 9112 2.2).
bool has_folded_line(std::string_view raw) {
  for (auto at = raw.find("\r\n"); at != std::string_view::npos && at + 2 < raw.size(); at = raw.find("\r\n", at + 2))
    if (raw[at + 2] == ' ' || raw[at + 2] == '\t') return true;
  return false;
}

std::string_view trimmed(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

}  // namespace

std::string request_problem(const http::request::header_type& header, std::string_view raw) {
  if (has_folded_line(raw)) return "obsolete line folding (obs-fold) in the request header";
  const auto te = header.equal_range(bhttp::field::transfer_encoding);
  if (te.first != te.second) {
    if (header.version() < 11) return "Transfer-Encoding is not allowed in an HTTP/1.0 request";
    if (std::next(te.first) != te.second || !boost::beast::iequals(trimmed(te.first->value()), "chunked"))
      return "Transfer-Encoding must be exactly \"chunked\"";
  }
  if (header.version() >= 11 && header.count(bhttp::field::host) != 1)
    return "an HTTP/1.1 request needs exactly one Host header";
  return {};
}

}  // namespace wshub::net
