#pragma once
// The frames of one gather write as a buffer sequence: each frame's prebuilt header, then its
// text (or its deflated form), shared with every other recipient. Nothing is copied or allocated.
#include <cstddef>
#include <iterator>
#include <limits>
#include <memory>
#include <string_view>
#include <vector>

#include <boost/asio/buffer.hpp>

#include "wshub/hub/frame.hpp"

namespace wshub::ws {

// No message is deflated for a socket that did not negotiate permessage-deflate.
inline constexpr std::size_t never_deflate = std::numeric_limits<std::size_t>::max();

// What a socket writes for `f`: the frame header and payload of its protocol's text, or of the
// text deflated when it is at least `deflate_from` bytes long and deflating shrank it (the
// deflated form is made by the first socket that asks, then shared).
struct wire_frame {
  const hub::frame_header* header;
  std::string_view payload;
};
inline wire_frame wire_form(const hub::frame& f, bool v1, std::size_t deflate_from) {
  const auto text = v1 ? f.text_v1() : f.text();
  if (text.size() >= deflate_from)
    if (const auto* d = f.deflated(v1); d && d->smaller) return {&d->header, d->bytes};
  return {v1 ? &f.header_v1 : &f.header, text};
}

class frame_buffers {
 public:
  // `frames` must outlive the write and stay unchanged during it.
  frame_buffers(const std::vector<hub::frame_ptr>& frames, bool v1, std::size_t deflate_from = never_deflate)
      : frames_(&frames), v1_(v1), deflate_from_(deflate_from) {}

  class const_iterator {
   public:
    using value_type = boost::asio::const_buffer;
    using difference_type = std::ptrdiff_t;
    using pointer = const value_type*;
    using reference = value_type;
    using iterator_category = std::bidirectional_iterator_tag;

    const_iterator() = default;
    const_iterator(const std::vector<hub::frame_ptr>* frames, bool v1, std::size_t deflate_from, std::size_t pos)
        : frames_(frames), v1_(v1), deflate_from_(deflate_from), pos_(pos) {}

    value_type operator*() const {
      const auto w = wire_form(*(*frames_)[pos_ / 2], v1_, deflate_from_);
      if (pos_ % 2 == 0) return {w.header->bytes.data(), w.header->size};
      return {w.payload.data(), w.payload.size()};
    }
    const_iterator& operator++() { ++pos_; return *this; }
    const_iterator operator++(int) { auto old = *this; ++pos_; return old; }
    const_iterator& operator--() { --pos_; return *this; }
    const_iterator operator--(int) { auto old = *this; --pos_; return old; }
    bool operator==(const const_iterator& other) const { return pos_ == other.pos_; }
    bool operator!=(const const_iterator& other) const { return pos_ != other.pos_; }

   private:
    const std::vector<hub::frame_ptr>* frames_ = nullptr;
    bool v1_ = false;
    std::size_t deflate_from_ = never_deflate;
    std::size_t pos_ = 0;  // 2 buffers per frame: header, payload
  };
  using value_type = boost::asio::const_buffer;

  const_iterator begin() const { return {frames_, v1_, deflate_from_, 0}; }
  const_iterator end() const { return {frames_, v1_, deflate_from_, 2 * frames_->size()}; }

 private:
  const std::vector<hub::frame_ptr>* frames_;
  bool v1_;
  std::size_t deflate_from_;
};

}  // namespace wshub::ws
