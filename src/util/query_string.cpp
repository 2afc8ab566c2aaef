#include "wshub/util/query_string.hpp"

#include <boost/url/parse_query.hpp>
#include <boost/url/params_view.hpp>

namespace wshub::util {

std::optional<query_params> parse_query_string(std::string_view text) {
  query_params out;
  if (text.empty()) return out;
  // Boost.URL 1.81's parse_query reads its input up to a NUL (seen under AddressSanitizer with
  // Beast's unterminated buffers), so it only ever gets a terminated copy.
  const std::string owned(text);
  const boost::urls::string_view query(owned.c_str(), owned.size());
  if (!boost::urls::parse_query(query)) return std::nullopt;
  boost::urls::encoding_opts opts;
  opts.space_as_plus = true;
  for (const auto& p : boost::urls::params_view(query, opts)) out.emplace_back(p.key, p.value);
  return out;
}

std::string_view query_of(std::string_view target) {
  const auto q = target.find('?');
  return q == std::string_view::npos ? std::string_view{} : target.substr(q + 1);
}

std::string_view path_of(std::string_view target) { return target.substr(0, target.find('?')); }

}  // namespace wshub::util
