#include "ternion/core/page_memory.h"

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <utility>

#include "ternion/core/error.h"

namespace ternion {

namespace {

constexpr size_t kTransparentHugePage = size_t{2} << 20;

// A "Name:   value" line of /proc/meminfo; -1 when absent.
int64_t meminfo_value(const char* name) {
  std::ifstream in("/proc/meminfo");
  std::string line;
  const size_t n = std::strlen(name);
  while (std::getline(in, line)) {
    if (line.compare(0, n, name) == 0 && line.size() > n && line[n] == ':') {
      std::istringstream fields(line.substr(n + 1));
      int64_t v = -1;
      fields >> v;
      return v;
    }
  }
  return -1;
}

size_t round_up(size_t n, size_t unit) { return (n + unit - 1) / unit * unit; }

std::string mib(size_t bytes) { return std::to_string(bytes >> 20) + " MiB"; }

}  // namespace

size_t default_huge_page_bytes() {
  const int64_t kib = meminfo_value("Hugepagesize");
  return kib > 0 ? static_cast<size_t>(kib) * 1024 : 0;
}

int64_t free_huge_pages() {
  const int64_t n = meminfo_value("HugePages_Free") - std::max<int64_t>(meminfo_value("HugePages_Rsvd"), 0);
  return n > 0 ? n : 0;
}

PageMemory::PageMemory(size_t bytes, bool hugetlb, const std::string& what) : hugetlb_(hugetlb) {
  if (bytes == 0) return;
  if (hugetlb) {
#if defined(MAP_HUGETLB)
    const size_t page = default_huge_page_bytes();
    if (page == 0) throw Error(what + ": this system has no huge pages (hugetlb)");
    size_ = round_up(bytes, page);
    // Private hugetlb mappings reserve their pages here, so a pool too small fails now and not at first touch;
    // MAP_POPULATE takes them at once, so no decode step waits on a fault.
    void* p =
        ::mmap(nullptr, size_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB | MAP_POPULATE, -1, 0);
    if (p == MAP_FAILED) {
      const int err = errno;
      const size_t need = size_ / page;
      throw Error(what + ": " + std::to_string(need) + " huge pages of " + mib(page) + " are needed and " +
                  std::to_string(free_huge_pages()) + " are free (" + std::strerror(err) +
                  "); reserve more with sysctl vm.nr_hugepages");
    }
    data_ = static_cast<uint8_t*>(p);
    return;
#else
    throw Error(what + ": huge pages (hugetlb) are not available on this system");
#endif
  }
  // Anonymous memory, 2 MiB aligned (map 2 MiB more, trim both ends) and advised for transparent huge pages
  // before the first touch; every page is then touched so that no later step takes the fault.
  size_ = round_up(bytes, kTransparentHugePage);
  const size_t mapped = size_ + kTransparentHugePage;
  void* p = ::mmap(nullptr, mapped, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) {
    const int err = errno;
    size_ = 0;
    throw Error(what + ": cannot map " + mib(bytes) + " of memory (" + std::strerror(err) + ")");
  }
  const auto base = reinterpret_cast<uintptr_t>(p);
  const uintptr_t aligned = round_up(base, kTransparentHugePage);
  if (aligned > base) (void)::munmap(p, aligned - base);
  const uintptr_t end = base + mapped;
  if (end > aligned + size_) (void)::munmap(reinterpret_cast<void*>(aligned + size_), end - (aligned + size_));
  data_ = reinterpret_cast<uint8_t*>(aligned);
#if defined(MADV_HUGEPAGE)
  (void)::madvise(data_, size_, MADV_HUGEPAGE);  // advice only: 4 KiB pages work as well
#endif
  const auto small_page = static_cast<size_t>(::sysconf(_SC_PAGESIZE));
  for (size_t i = 0; i < size_; i += small_page) data_[i] = 0;
}

PageMemory::~PageMemory() { release(); }

PageMemory::PageMemory(PageMemory&& other) noexcept
    : data_(std::exchange(other.data_, nullptr)),
      size_(std::exchange(other.size_, 0)),
      hugetlb_(std::exchange(other.hugetlb_, false)) {}

PageMemory& PageMemory::operator=(PageMemory&& other) noexcept {
  if (this != &other) {
    release();
    data_ = std::exchange(other.data_, nullptr);
    size_ = std::exchange(other.size_, 0);
    hugetlb_ = std::exchange(other.hugetlb_, false);
  }
  return *this;
}

void PageMemory::release() noexcept {
  if (data_ != nullptr) (void)::munmap(data_, size_);
  data_ = nullptr;
  size_ = 0;
}

}  // namespace ternion
