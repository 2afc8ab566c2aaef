#include "wshub/util/recycling_allocator.hpp"

#include <array>

namespace wshub::util {
namespace {

constexpr std::size_t size_classes = max_recycled_size / recycled_block_step;

// One thread's free blocks: a singly linked list per size class, threaded through the blocks.
class block_cache {
 public:
  block_cache() = default;
  block_cache(const block_cache&) = delete;
  block_cache& operator=(const block_cache&) = delete;
  // A block freed on this thread after this (by another thread_local's destructor) is not kept.
  ~block_cache() {
    closed_ = true;
    for (auto*& head : heads_)
      while (head) {
        auto* next = head->next;
        ::operator delete(head);
        head = next;
      }
  }

  void* take(std::size_t size_class) {
    if (closed_) return nullptr;
    auto* block = heads_[size_class];
    if (!block) return nullptr;
    heads_[size_class] = block->next;
    --counts_[size_class];
    return block;
  }

  bool keep(void* p, std::size_t size_class) {
    if (closed_ || counts_[size_class] == max_recycled_blocks) return false;
    auto* block = static_cast<free_block*>(p);
    block->next = heads_[size_class];
    heads_[size_class] = block;
    ++counts_[size_class];
    return true;
  }

 private:
  struct free_block {
    free_block* next;
  };
  std::array<free_block*, size_classes> heads_{};
  std::array<std::size_t, size_classes> counts_{};
  bool closed_ = false;
};

thread_local block_cache cache;

// The class of a block of `bytes` (its size rounded up to the step), or size_classes when it is
// not recycled.
std::size_t size_class_of(std::size_t bytes) {
  if (bytes == 0 || bytes > max_recycled_size) return size_classes;
  return (bytes - 1) / recycled_block_step;
}

}  // namespace

void* recycled_allocate(std::size_t bytes) {
  const auto c = size_class_of(bytes);
  if (c == size_classes) return ::operator new(bytes);
  if (auto* p = cache.take(c)) return p;
  return ::operator new((c + 1) * recycled_block_step);
}

void recycled_deallocate(void* p, std::size_t bytes) noexcept {
  const auto c = size_class_of(bytes);
  if (c == size_classes || !cache.keep(p, c)) ::operator delete(p);
}

}  // namespace wshub::util
