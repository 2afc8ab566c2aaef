#pragma once
// UTF-8 as RFC 3629 defines it: no overlong forms, no surrogates, nothing past U+10FFFF.
#include <string_view>

namespace wshub::util {

bool valid_utf8(std::string_view text);

}  // namespace wshub::util
