#pragma once
// recycling_allocator: small blocks kept per thread for reuse instead of going back to the heap.
// For the HTTP header fields of requests and responses: Beast allocates each field on its own,
// and a keep-alive connection parses and answers the same few fields again and again, so after
// warm-up a request's header costs no heap allocation. A block freed on another thread than the
// one that allocated it joins the freeing thread's blocks. Each thread keeps at most
// max_recycled_blocks of each size (in steps of recycled_block_step bytes up to
// max_recycled_size); other blocks come from and go to operator new and delete.
#include <cstddef>
#include <new>

namespace wshub::util {

inline constexpr std::size_t recycled_block_step = 32;
inline constexpr std::size_t max_recycled_size = 512;
inline constexpr std::size_t max_recycled_blocks = 64;

void* recycled_allocate(std::size_t bytes);
void recycled_deallocate(void* p, std::size_t bytes) noexcept;

template <class T>
class recycling_allocator {
 public:
  using value_type = T;

  recycling_allocator() noexcept = default;
  template <class U>
  recycling_allocator(const recycling_allocator<U>&) noexcept {}  // NOLINT: rebinding converts

  T* allocate(std::size_t n) { return static_cast<T*>(recycled_allocate(n * sizeof(T))); }
  void deallocate(T* p, std::size_t n) noexcept { recycled_deallocate(p, n * sizeof(T)); }

  template <class U>
  bool operator==(const recycling_allocator<U>&) const noexcept {
    return true;
  }
};

}  // namespace wshub::util
