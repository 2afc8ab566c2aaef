#include "wshub/ws/frame_reader.hpp"

#include <algorithm>
#include <utility>

#include <boost/beast/zlib/error.hpp>
#include <boost/beast/zlib/inflate_stream.hpp>

#include "wshub/util/utf8.hpp"

namespace wshub::ws {

namespace {

constexpr std::uint8_t op_continuation = 0x0, op_text = 0x1, op_binary = 0x2, op_close = 0x8, op_ping = 0x9,
                       op_pong = 0xA;
constexpr std::uint16_t protocol_error = 1002, invalid_payload = 1007, too_big = 1009, no_status = 1005;

bool is_control(std::uint8_t opcode) { return (opcode & 0x8) != 0; }

// The codes a peer may send in a close frame (RFC 6455 section 7.4, and the IANA registry).
bool valid_close_code(std::uint16_t code) {
  if (code >= 3000 && code <= 4999) return true;
  return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014);
}

// Header bytes: 2, then 2 or 8 of extended length, then the 4 of the mask key.
std::size_t header_length(const std::array<std::uint8_t, 14>& h) {
  const auto length7 = h[1] & 0x7F;
  return 2 + (length7 == 126 ? 2 : length7 == 127 ? 8 : 0) + 4;
}

}  // namespace

frame_reader::event frame_reader::failure(std::uint16_t code, std::string reason) {
  done_ = true;
  held_.reset();
  return event{kind::fail, std::move(reason), code};
}

void frame_reader::release_if_idle() {
  if (!in_frame_ && !in_message_) held_.reset();
}

frame_reader::event frame_reader::next(std::string_view& in) {
  if (done_) return {};
  while (!in.empty() || (in_frame_ && remaining_ == 0)) {
    if (!in_frame_) {
      header_[header_size_++] = static_cast<std::uint8_t>(in.front());
      in.remove_prefix(1);
      if (header_size_ == 2) {  // what the first two bytes say is checked before waiting for more
        const auto b0 = header_[0], b1 = header_[1];
        const std::uint8_t opcode = b0 & 0x0F;
        const bool compressed_start = compressed_ok_ && (b0 & 0x40) != 0 && (opcode == op_text || opcode == op_binary);
        if ((b0 & (compressed_start ? 0x30 : 0x70)) != 0) return failure(protocol_error, "reserved bits set");
        if ((b1 & 0x80) == 0) return failure(protocol_error, "client frames must be masked");
        if (opcode != op_continuation && opcode != op_text && opcode != op_binary && opcode != op_close &&
            opcode != op_ping && opcode != op_pong)
          return failure(protocol_error, "unknown opcode");
        if (is_control(opcode) && ((b0 & 0x80) == 0 || (b1 & 0x7F) > 125))
          return failure(protocol_error, "control frames must be whole and at most 125 bytes");
      }
      if (header_size_ < 2 || header_size_ < header_length(header_)) continue;
      if (auto e = take_header(); e.what != kind::need_more) return e;
      if (remaining_ == 0) {
        if (auto e = finish_frame(); e.what != kind::need_more) return e;
      }
      continue;
    }
    const auto n = static_cast<std::size_t>(std::min<std::uint64_t>(remaining_, in.size()));
    if (!held_) held_ = std::make_unique<held_bytes>();
    auto& target = is_control(opcode_) ? held_->control : held_->message;
    const auto start = target.size();
    target.resize(start + n);
    for (std::size_t i = 0; i < n; ++i)
      target[start + i] = static_cast<char>(static_cast<std::uint8_t>(in[i]) ^ mask_[(mask_at_ + i) & 3]);
    in.remove_prefix(n);
    remaining_ -= n;
    mask_at_ = static_cast<std::uint8_t>((mask_at_ + n) & 3);
    if (remaining_ == 0) {
      if (auto e = finish_frame(); e.what != kind::need_more) return e;
    }
  }
  return {};
}

// The whole header is in header_: checks the frame against the message it belongs to.
frame_reader::event frame_reader::take_header() {
  const auto length7 = header_[1] & 0x7F;
  std::uint64_t length = length7;
  std::size_t at = 2;
  if (length7 == 126) {
    length = (std::uint64_t{header_[2]} << 8) | header_[3];
    at = 4;
  } else if (length7 == 127) {
    length = 0;
    for (std::size_t i = 2; i < 10; ++i) length = (length << 8) | header_[i];
    if (length >> 63) return failure(protocol_error, "frame length out of range");
    at = 10;
  }
  std::copy_n(header_.begin() + static_cast<std::ptrdiff_t>(at), 4, mask_.begin());
  header_size_ = 0;
  fin_ = (header_[0] & 0x80) != 0;
  opcode_ = header_[0] & 0x0F;
  if (!is_control(opcode_)) {
    if (opcode_ == op_continuation && !in_message_) return failure(protocol_error, "continuation without a message");
    if (opcode_ != op_continuation && in_message_) return failure(protocol_error, "a new message inside a fragmented one");
    if (length > max_message_size_ - std::min(message_size(), max_message_size_))
      return failure(too_big, "message too big");
    if (opcode_ != op_continuation) {
      in_message_ = true;
      message_opcode_ = opcode_;
      message_compressed_ = (header_[0] & 0x40) != 0;
      if (held_) held_->message.clear();
    }
  } else if (held_) {
    held_->control.clear();
  }
  in_frame_ = true;
  remaining_ = length;
  mask_at_ = 0;
  return {};
}

// The current frame's payload is complete.
frame_reader::event frame_reader::finish_frame() {
  in_frame_ = false;
  if (!is_control(opcode_) && !fin_) return {};  // a fragment: the message goes on
  std::string payload;
  if (held_) payload = std::exchange(is_control(opcode_) ? held_->control : held_->message, {});
  switch (opcode_) {
    case op_ping:
      release_if_idle();
      return event{kind::ping, std::move(payload), 0};
    case op_pong:
      release_if_idle();
      return event{kind::pong, {}, 0};
    case op_close: {
      if (payload.empty()) {
        done_ = true;
        held_.reset();
        return event{kind::close, {}, no_status};
      }
      if (payload.size() == 1) return failure(protocol_error, "close payload of one byte");
      const auto code = static_cast<std::uint16_t>((static_cast<std::uint8_t>(payload[0]) << 8) |
                                                   static_cast<std::uint8_t>(payload[1]));
      if (!valid_close_code(code)) return failure(protocol_error, "invalid close code");
      auto reason = payload.substr(2);
      if (!util::valid_utf8(reason)) return failure(invalid_payload, "close reason is not UTF-8");
      done_ = true;
      held_.reset();
      return event{kind::close, std::move(reason), code};
    }
    default:
      break;
  }
  in_message_ = false;
  release_if_idle();
  const auto what = message_opcode_ == op_binary ? kind::binary : kind::text;
  if (what == kind::text && !message_compressed_ && !util::valid_utf8(payload))
    return failure(invalid_payload, "text is not valid UTF-8");
  return event{what, std::move(payload), 0, message_compressed_};
}

std::optional<std::string> inflate_message(std::string_view compressed, std::size_t max_size, std::uint16_t& fail_code) {
  namespace zlib = boost::beast::zlib;
  thread_local zlib::inflate_stream inflater;  // used within this call only
  inflater.reset(15);  // no context takeover: each message alone; any window the client chose
  std::string out;
  std::array<char, 16 * 1024> chunk;
  zlib::z_params zs{};
  bool ended = false;
  auto feed = [&](const char* data, std::size_t size) {
    zs.next_in = data;
    zs.avail_in = size;
    for (;;) {
      zs.next_out = chunk.data();
      zs.avail_out = chunk.size();
      boost::beast::error_code ec;
      inflater.write(zs, zlib::Flush::sync, ec);
      const auto produced = chunk.size() - zs.avail_out;
      out.append(chunk.data(), produced);
      if (out.size() > max_size) {
        fail_code = too_big;
        return false;
      }
      if (ec == zlib::error::end_of_stream) {
        ended = true;
        return true;
      }
      if (ec && ec != zlib::error::need_buffers) {
        fail_code = invalid_payload;
        return false;
      }
      if (zs.avail_in == 0 && zs.avail_out != 0) return true;  // all taken, all given out
      if (produced == 0 && ec == zlib::error::need_buffers) {  // no progress: broken input
        fail_code = invalid_payload;
        return false;
      }
    }
  };
  static constexpr char tail[4] = {0x00, 0x00, static_cast<char>(0xFF), static_cast<char>(0xFF)};  // RFC 7692 7.2.2
  if (!feed(compressed.data(), compressed.size())) return std::nullopt;
  if (!ended && !feed(tail, sizeof tail)) return std::nullopt;
  return out;
}

}  // namespace wshub::ws
