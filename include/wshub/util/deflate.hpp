#pragma once
// Raw DEFLATE as permessage-deflate sends a message (RFC 7692 7.2.1): the whole text compressed
// alone (no context kept between messages), flushed, and without the final 00 00 FF FF.
#include <string>
#include <string_view>

namespace wshub::util {

// A 15-bit window and zlib's default level. Any thread; never throws on the input. "" when
// compression failed (it does not for valid buffers; the caller then sends the text as it is).
std::string deflate_message(std::string_view text);

}  // namespace wshub::util
