#include "wshub/util/query_string.hpp"

#include <cctype>
#include <cstring>

#include <boost/url/parse_query.hpp>
#include <boost/url/params_view.hpp>

namespace wshub::util {

std::optional<query_params> parse_query_string(std::string_view text, std::size_t max_params) {
  query_params out;
  if (text.empty()) return out;
  // Boost.URL 1.81's parse_query reads its input up to a NUL (seen under AddressSanitizer with
  // Beast's unterminated buffers), so it only ever gets a terminated copy. The copy also
  // percent-encodes bytes a strict query may not hold (a raw space, as `curl -d "message=a b"`
  // sends, quotes, non-ASCII bytes), which form decoders have always accepted.
  std::string owned;
  owned.reserve(text.size());
  for (const unsigned char c : text) {
    if (std::isalnum(c) || (c != 0 && std::strchr("-._~!$&'()*+,;=:@/?%", c))) {
      owned += static_cast<char>(c);
    } else {
      constexpr char hex[] = "0123456789ABCDEF";
      owned += '%';
      owned += hex[c >> 4];
      owned += hex[c & 15];
    }
  }
  const boost::urls::string_view query(owned.c_str(), owned.size());
  if (!boost::urls::parse_query(query)) return std::nullopt;
  boost::urls::encoding_opts opts;
  opts.space_as_plus = true;
  for (const auto& p : boost::urls::params_view(query, opts)) {
    out.emplace_back(p.key, p.value);
    if (out.size() > max_params) break;
  }
  return out;
}

std::string_view query_of(std::string_view target) {
  const auto q = target.find('?');
  return q == std::string_view::npos ? std::string_view{} : target.substr(q + 1);
}

std::string_view path_of(std::string_view target) { return target.substr(0, target.find('?')); }

}  // namespace wshub::util
