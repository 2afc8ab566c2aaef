#pragma once
// The body of every published message: "wsb:<publisher>:<seq>:<send_ns>:" padded with 'x' to
// the requested size. wshub wraps it in JSON, the peers send it as is; either way the receiver
// finds it by its prefix, so latency and order are measured the same way for every server.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace wshub::bench {

struct body_stamp {
  std::uint32_t publisher = 0;
  std::uint64_t seq = 0;      // per publisher, from 0, in send order
  std::int64_t send_ns = 0;   // now_ns() just before the request was written
};

// Appends the body to `out`; it is longer than `size` only when the stamp itself is.
void append_body(std::string& out, const body_stamp& stamp, std::size_t size, bool words = false);

// Finds the stamp anywhere in a received message (a JSON frame or the raw body).
std::optional<body_stamp> find_stamp(std::string_view message);

// application/x-www-form-urlencoded encoding of `in`, appended to `out`.
void append_form_encoded(std::string& out, std::string_view in);

}  // namespace wshub::bench
