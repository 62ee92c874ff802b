// libFuzzer target for the safetensors reader. Any input must either parse or throw ternion::Error with a one-line
// message; anything else (a sanitizer report, another exception, a trap below) is a bug. On success every tensor
// byte is touched and the reader's promises are checked: names sorted and unique, find() finds each tensor, every
// span inside the input, shape × element size equal to the span, spans disjoint.
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "ternion/core/error.h"
#include "ternion/io/safetensors.h"

namespace {

using ternion::SafetensorsFile;
using ternion::SafetensorsTensor;

volatile uint64_t g_sink = 0;  // keeps the reads below from being optimised away

void check_message(const ternion::Error& e) {
  if (std::strchr(e.what(), '\n') != nullptr || std::strchr(e.what(), '\r') != nullptr) __builtin_trap();
}

void check(const SafetensorsFile& f, const uint8_t* begin, size_t size) {
  uint64_t sum = f.data_offset() + f.metadata().size();
  const uint8_t* end = begin + size;
  std::vector<std::pair<uint64_t, uint64_t>> spans;
  for (size_t i = 0; i < f.tensors().size(); ++i) {
    const SafetensorsTensor& t = f.tensors()[i];
    if (i > 0 && !(f.tensors()[i - 1].name < t.name)) __builtin_trap();
    if (f.find(t.name) != &t) __builtin_trap();
    const std::optional<size_t> elem = ternion::safetensors_dtype_size(t.dtype);
    if (!elem) __builtin_trap();
    uint64_t n = 1;
    for (const uint64_t d : t.shape) n *= d;  // the reader checked that this cannot overflow
    if (n != t.n_elements || n * *elem != t.n_bytes) __builtin_trap();
    if (t.data < begin + f.data_offset() || t.n_bytes > static_cast<uint64_t>(end - t.data)) __builtin_trap();
    for (uint64_t k = 0; k < t.n_bytes; ++k) sum += t.data[k];  // ASan flags any byte outside the input
    if (t.n_bytes > 0) spans.emplace_back(t.offset, t.offset + t.n_bytes);
  }
  std::sort(spans.begin(), spans.end());
  for (size_t i = 1; i < spans.size(); ++i) {
    if (spans[i - 1].second > spans[i].first) __builtin_trap();
  }
  for (const auto& entry : f.metadata()) sum += entry.first.size() + entry.second.size();
  g_sink = g_sink + sum;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::optional<SafetensorsFile> f;
  try {
    f.emplace(SafetensorsFile::parse(std::span<const uint8_t>(data, size), "fuzz.safetensors"));
  } catch (const ternion::Error& e) {
    check_message(e);
    return 0;
  }
  check(*f, data, size);
  return 0;
}
