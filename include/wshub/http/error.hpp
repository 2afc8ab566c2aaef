#pragma once
// The JSON error responses: {"code": N, "message": "..."} with the matching HTTP status.
#include <string>
#include <string_view>

#include <boost/beast/http/message.hpp>
#include <boost/beast/http/status.hpp>
#include <boost/beast/http/fields.hpp>
#include <boost/beast/http/string_body.hpp>

#include "wshub/util/recycling_allocator.hpp"

namespace wshub::http {

// Header fields in blocks recycled per thread (util::recycling_allocator): a keep-alive
// connection's requests and answers allocate no header after the first ones.
using fields = boost::beast::http::basic_fields<util::recycling_allocator<char>>;
using request = boost::beast::http::request<boost::beast::http::string_body, fields>;
using response = boost::beast::http::response<boost::beast::http::string_body, fields>;
using status = boost::beast::http::status;

// Numeric error codes; 101xx are go-gin-api's, 102xx are wshub's own (docs/API.md lists them).
namespace codes {
inline constexpr int server_error = 10101;        // 500, 503
inline constexpr int too_many_requests = 10102;   // 429
inline constexpr int bad_parameter = 10103;       // 400
inline constexpr int authorization = 10104;       // 401, 403
inline constexpr int socket_connect = 10120;      // a refused WebSocket upgrade
inline constexpr int not_found = 10201;           // 404
inline constexpr int method_not_allowed = 10202;  // 405
inline constexpr int payload_too_large = 10203;   // 413
inline constexpr int unsupported_media = 10204;   // 415
inline constexpr int header_too_large = 10205;    // 431
inline constexpr int upgrade_required = 10206;    // 426
inline constexpr int bad_request = 10207;         // 400: malformed HTTP
inline constexpr int misdirected_request = 10212; // 421: a Host this server does not serve
}  // namespace codes

struct error {
  status http_status;
  int code;
  std::string message;
};

// A JSON error response; `keep_alive` and `version` follow the request when there is one.
response make_error(const error& e, unsigned version = 11, bool keep_alive = false);
response make_json(status s, std::string body, unsigned version, bool keep_alive);

}  // namespace wshub::http
