#pragma once
// The frames of one gather write as a buffer sequence: each frame's prebuilt header, then its
// text, shared with every other recipient. Nothing is copied or allocated.
#include <cstddef>
#include <iterator>
#include <memory>
#include <vector>

#include <boost/asio/buffer.hpp>

#include "wshub/hub/frame.hpp"

namespace wshub::ws {

class frame_buffers {
 public:
  // `frames` must outlive the write and stay unchanged during it.
  frame_buffers(const std::vector<hub::frame_ptr>& frames, bool v1) : frames_(&frames), v1_(v1) {}

  class const_iterator {
   public:
    using value_type = boost::asio::const_buffer;
    using difference_type = std::ptrdiff_t;
    using pointer = const value_type*;
    using reference = value_type;
    using iterator_category = std::bidirectional_iterator_tag;

    const_iterator() = default;
    const_iterator(const std::vector<hub::frame_ptr>* frames, bool v1, std::size_t pos)
        : frames_(frames), v1_(v1), pos_(pos) {}

    value_type operator*() const {
      const auto& f = *(*frames_)[pos_ / 2];
      if (pos_ % 2 == 0) {
        const auto& h = v1_ ? f.header_v1 : f.header;
        return {h.bytes.data(), h.size};
      }
      const auto text = v1_ ? f.text_v1() : f.text();
      return {text.data(), text.size()};
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
    std::size_t pos_ = 0;  // 2 buffers per frame: header, text
  };
  using value_type = boost::asio::const_buffer;

  const_iterator begin() const { return {frames_, v1_, 0}; }
  const_iterator end() const { return {frames_, v1_, 2 * frames_->size()}; }

 private:
  const std::vector<hub::frame_ptr>* frames_;
  bool v1_;
};

}  // namespace wshub::ws
