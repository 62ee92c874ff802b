// Large, long-lived buffers (the resident weights, the KV cache) taken straight from the kernel in whole pages.
//
// By default a buffer is anonymous memory advised for transparent huge pages. On request it comes from the
// huge pages an administrator reserved (Linux hugetlb, `sysctl vm.nr_hugepages=N`): such pages are never
// reclaimed, migrated, compacted or scanned by the kernel's memory monitors, so a decode step never waits on
// the kernel's housekeeping of the memory it streams. A request the pool cannot meet is an Error that says how
// many pages are needed and how many are free; nothing falls back silently.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace ternion {

class PageMemory {
 public:
  PageMemory() = default;
  // `bytes` (rounded up to whole pages of the kind used), zero-filled. `what` names the buffer in errors
  // ("the weights", "the KV cache"). Throws Error when the memory cannot be had.
  PageMemory(size_t bytes, bool hugetlb, const std::string& what);
  ~PageMemory();
  PageMemory(PageMemory&& other) noexcept;
  PageMemory& operator=(PageMemory&& other) noexcept;
  PageMemory(const PageMemory&) = delete;
  PageMemory& operator=(const PageMemory&) = delete;

  uint8_t* data() const { return data_; }
  size_t size() const { return size_; }  // bytes mapped: the request rounded up to whole pages
  bool hugetlb() const { return hugetlb_; }

 private:
  void release() noexcept;

  uint8_t* data_ = nullptr;
  size_t size_ = 0;
  bool hugetlb_ = false;
};

// The size of the huge pages MAP_HUGETLB hands out (the kernel's default huge page size), 0 when this
// system has none.
size_t default_huge_page_bytes();
// Huge pages of the default size free in the reserved pool and not promised to a mapping (0 when there is no pool).
int64_t free_huge_pages();

}  // namespace ternion
