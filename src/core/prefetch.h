// Software prefetch of a byte range, shared by the quantized kernels, the attention and the thread pool.
//
// Internal linkage on purpose: the header is also included by *_avx512.cpp files, and an inline function with
// external linkage compiled there could be picked by the linker for baseline callers.
#pragma once

#include <cstddef>
#include <cstdint>

namespace ternion {
namespace {

// Asks for the cache lines of [p + ahead, p + ahead + n). The addresses are formed as integers: they may lie past
// the buffer's end, where a prefetch is a harmless hint but pointer arithmetic would not be defined.
inline void prefetch_bytes(const void* p, size_t ahead, size_t n) {
  const uintptr_t first = reinterpret_cast<uintptr_t>(p) + ahead;
  for (size_t off = 0; off < n; off += 64) __builtin_prefetch(reinterpret_cast<const void*>(first + off), 0, 3);
}

}  // namespace
}  // namespace ternion
