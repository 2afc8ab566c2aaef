// An LD_PRELOAD shim that counts the calls to malloc, calloc and realloc of the process it is
// loaded into (operator new goes through malloc), for bench/alloc_per_publish.py.
//
// The count lives in an 8-byte file named by ALLOC_COUNT_FILE, mapped shared, so another process
// reads it at any moment (as a little-endian unsigned 64-bit number) without asking the server.
// Without ALLOC_COUNT_FILE it counts into memory no one reads.
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <new>

extern "C" {
// glibc's own allocator entry points: calling them needs no dlsym, which would allocate.
void* __libc_malloc(std::size_t size);
void* __libc_calloc(std::size_t count, std::size_t size);
void* __libc_realloc(void* p, std::size_t size);
}

namespace {

using counter = std::atomic<std::uint64_t>;
static_assert(counter::is_always_lock_free && sizeof(counter) == sizeof(std::uint64_t));

counter unread_count{0};
std::atomic<counter*> count{&unread_count};

void add_one() { count.load(std::memory_order_relaxed)->fetch_add(1, std::memory_order_relaxed); }

// Runs when the shim is loaded, before the program's main; what was counted until then moves over.
__attribute__((constructor)) void map_count_file() {
  const char* path = std::getenv("ALLOC_COUNT_FILE");
  if (path == nullptr) return;
  const int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) return;
  void* mapped = nullptr;
  if (ftruncate(fd, sizeof(counter)) == 0)
    mapped = mmap(nullptr, sizeof(counter), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  close(fd);
  if (mapped == MAP_FAILED || mapped == nullptr) return;
  auto* shared = new (mapped) counter(unread_count.load());
  count.store(shared);
}

}  // namespace

extern "C" {

void* malloc(std::size_t size) {
  add_one();
  return __libc_malloc(size);
}

void* calloc(std::size_t n, std::size_t size) {
  add_one();
  return __libc_calloc(n, size);
}

void* realloc(void* p, std::size_t size) {
  add_one();
  return __libc_realloc(p, size);
}

}  // extern "C"
