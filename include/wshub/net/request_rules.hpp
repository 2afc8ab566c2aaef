#pragma once
// RFC 9112 rules for a request header that Beast 1.81's parser does not enforce. Included only by
// the HTTP session and its tests (it names Beast types).
#include <string>
#include <string_view>

#include <boost/beast/http/message.hpp>

#include "wshub/http/error.hpp"

namespace wshub::net {

// Why a parsed request header must be refused with 400, or empty when it is acceptable.
// `raw` is the header block exactly as received (request line to the empty line), which Beast has
// already unfolded: obsolete line folding is only visible there.
// Refused: Transfer-Encoding other than a single `chunked` (whatever else is present, Content-Length
// included), Transfer-Encoding on HTTP/1.0, HTTP/1.1 without exactly one Host, obs-fold.
std::string request_problem(const http::request::header_type& header, std::string_view raw);

}  // namespace wshub::net
