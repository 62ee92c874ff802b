#include <gtest/gtest.h>

#include <cstdint>
#include <cstdio>
#include <string>
#include <utility>

#include "ternion/core/error.h"
#include "ternion/core/page_memory.h"

namespace ternion {
namespace {

bool all_zero(const PageMemory& m, size_t n) {
  for (size_t i = 0; i < n; ++i) {
    if (m.data()[i] != 0) return false;
  }
  return true;
}

TEST(PageMemory, TransparentHugePageBufferIsAlignedZeroedAndWritable) {
  for (size_t bytes : {size_t{1}, size_t{4096}, (size_t{2} << 20) + 1, size_t{5} << 20}) {
    PageMemory m(bytes, false, "a buffer");
    ASSERT_NE(m.data(), nullptr);
    EXPECT_FALSE(m.hugetlb());
    EXPECT_GE(m.size(), bytes);
    EXPECT_EQ(m.size() % (size_t{2} << 20), 0u);
    EXPECT_EQ(reinterpret_cast<uintptr_t>(m.data()) % (size_t{2} << 20), 0u);
    EXPECT_TRUE(all_zero(m, m.size())) << bytes;
    for (size_t i = 0; i < m.size(); i += 997) m.data()[i] = static_cast<uint8_t>(i);
    EXPECT_EQ(m.data()[997], static_cast<uint8_t>(997));
    EXPECT_EQ(m.data()[m.size() - 1], 0);
    m.data()[m.size() - 1] = 7;  // the last byte is ours too (ASan would catch a short map)
  }
}

TEST(PageMemory, EmptyRequestMapsNothing) {
  PageMemory m(0, false, "nothing");
  EXPECT_EQ(m.data(), nullptr);
  EXPECT_EQ(m.size(), 0u);
  PageMemory h(0, true, "nothing");
  EXPECT_EQ(h.data(), nullptr);
}

TEST(PageMemory, MovesOwnership) {
  PageMemory a(100, false, "a");
  uint8_t* p = a.data();
  a.data()[5] = 9;
  PageMemory b(std::move(a));
  EXPECT_EQ(b.data(), p);
  EXPECT_EQ(b.data()[5], 9);
  EXPECT_EQ(a.data(), nullptr);  // NOLINT(bugprone-use-after-move): moved-from state is specified
  EXPECT_EQ(a.size(), 0u);
  PageMemory c(10, false, "c");
  c = std::move(b);
  EXPECT_EQ(c.data(), p);
  EXPECT_EQ(b.data(), nullptr);  // NOLINT(bugprone-use-after-move)
  c = PageMemory();
  EXPECT_EQ(c.data(), nullptr);
}

// Reserved huge pages: a request the pool can meet is served from it, one it cannot is a one-line Error that
// names the buffer, the pages needed and free, and how to reserve more. Which branch runs depends on this
// machine's pool (`sysctl vm.nr_hugepages`); the second always runs where the system has huge pages.
TEST(PageMemory, HugetlbComesFromTheReservedPoolOrFailsClearly) {
  const size_t page = default_huge_page_bytes();
  if (page == 0) {
    EXPECT_THROW(PageMemory(1, true, "the weights"), Error);
    std::fprintf(stderr, "*** this system has no huge pages: only the refusal is checked ***\n");
    return;
  }
  const int64_t free_pages = free_huge_pages();
  if (free_pages >= 1) {
    PageMemory m(1, true, "a buffer");
    EXPECT_TRUE(m.hugetlb());
    EXPECT_EQ(m.size(), page);
    EXPECT_EQ(reinterpret_cast<uintptr_t>(m.data()) % page, 0u);
    EXPECT_TRUE(all_zero(m, m.size()));
    EXPECT_EQ(free_huge_pages(), free_pages - 1);  // taken at once, not at first touch
  } else {
    std::fprintf(stderr, "*** no huge pages reserved (sysctl vm.nr_hugepages): only the refusal is checked ***\n");
  }
  const auto too_many = static_cast<size_t>(free_huge_pages() + 1);
  try {
    PageMemory m(too_many * page, true, "the weights");
    FAIL() << "a request beyond the pool was served";
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("the weights: " + std::to_string(too_many) + " huge pages of"), std::string::npos) << msg;
    EXPECT_NE(msg.find("vm.nr_hugepages"), std::string::npos) << msg;
    EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
  }
}

}  // namespace
}  // namespace ternion
