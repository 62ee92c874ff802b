// libFuzzer target for the GGUF reader. Any input must either parse or throw ternion::Error with a one-line
// message; anything else (a sanitizer report, another exception, a trap below) is a bug. On success every
// tensor byte and every metadata value is touched, and the file is written back with GgufWriter and re-read:
// the copy must hold the same values.
#include <cstdint>
#include <cstring>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "ternion/core/error.h"
#include "ternion/io/gguf.h"

namespace {

using ternion::GgufArray;
using ternion::GgufFile;
using ternion::GgufValue;

volatile uint64_t g_sink = 0;  // keeps the reads below from being optimised away

bool same_value(const GgufValue& a, const GgufValue& b);

bool same_array(const GgufArray& a, const GgufArray& b) {
  if (a.elem_type != b.elem_type || a.count != b.count || a.raw != b.raw || a.strings != b.strings ||
      a.arrays.size() != b.arrays.size()) {
    return false;
  }
  for (size_t i = 0; i < a.arrays.size(); ++i) {
    if (!same_value(a.arrays[i], b.arrays[i])) return false;
  }
  return true;
}

bool same_value(const GgufValue& a, const GgufValue& b) {
  if (a.type != b.type || a.data.index() != b.data.index()) return false;
  if (const auto* d = std::get_if<double>(&a.data)) {  // bitwise, so NaN equals itself
    const double e = std::get<double>(b.data);
    return std::memcmp(d, &e, sizeof e) == 0;
  }
  if (const auto* arr = std::get_if<GgufArray>(&a.data)) return same_array(*arr, std::get<GgufArray>(b.data));
  if (const auto* u = std::get_if<uint64_t>(&a.data)) return *u == std::get<uint64_t>(b.data);
  if (const auto* i = std::get_if<int64_t>(&a.data)) return *i == std::get<int64_t>(b.data);
  if (const auto* flag = std::get_if<bool>(&a.data)) return *flag == std::get<bool>(b.data);
  return std::get<std::string>(a.data) == std::get<std::string>(b.data);
}

void check_message(const ternion::Error& e) {
  if (std::strchr(e.what(), '\n') != nullptr || std::strchr(e.what(), '\r') != nullptr) __builtin_trap();
}

void touch(const GgufFile& f) {
  uint64_t sum = f.version() + f.alignment() + f.data_offset();
  for (const auto& t : f.tensors()) {
    for (uint64_t i = 0; i < t.n_bytes; ++i) sum += t.data[i];  // ASan flags any byte outside the input
    if (f.find_tensor(t.name) != &t) __builtin_trap();
  }
  for (const auto& entry : f.metadata()) {
    const std::string& key = entry.first;  // not a structured binding: clang 14 cannot capture those
    const GgufValue& value = entry.second;
    sum += value.to_display_string().size();
    if (f.find(key) != &value) __builtin_trap();
    // The typed getters either convert or throw an Error naming the key.
    const auto guarded = [](auto get) {
      try {
        return static_cast<uint64_t>(get());
      } catch (const ternion::Error& e) {
        check_message(e);
        return uint64_t{0};
      }
    };
    sum += guarded([&] { return f.get_int(key).value_or(0); });
    sum += guarded([&] { return f.get_float(key).value_or(0) != 0; });
    sum += guarded([&] { return f.get_bool(key).value_or(false); });
    sum += guarded([&] { return f.get_string(key).value_or("").size(); });
    sum += guarded([&] { return f.get_array(key) != nullptr; });
  }
  g_sink = g_sink + sum;
}

// Writes `f` back out and re-reads it; the values must survive unchanged.
void round_trip(const GgufFile& f) {
  if (f.alignment() > 4096) return;  // the writer would pad to it: gigabytes for a hostile 2^31
  ternion::GgufWriter w;
  std::vector<uint8_t> bytes;
  try {
    for (const auto& [key, value] : f.metadata()) w.set(key, value);
    for (const auto& t : f.tensors()) {
      w.add_tensor(t.name, t.shape, t.type, std::span<const uint8_t>(t.data, static_cast<size_t>(t.n_bytes)));
    }
    bytes = w.to_bytes(f.alignment());
  } catch (const ternion::Error& e) {
    // The writer is stricter than the reader (tensor names must suit llama.cpp: 1..63 bytes).
    check_message(e);
    return;
  }
  const GgufFile g = GgufFile::parse(bytes, "round-trip");  // must not throw: an Error here aborts the fuzzer
  if (g.metadata().size() != f.metadata().size()) __builtin_trap();
  for (const auto& [key, value] : f.metadata()) {
    const GgufValue* copy = g.find(key);
    if (copy == nullptr) __builtin_trap();
    if (key != "general.alignment" && !same_value(value, *copy)) __builtin_trap();
  }
  if (g.tensors().size() != f.tensors().size()) __builtin_trap();
  for (size_t i = 0; i < f.tensors().size(); ++i) {
    const auto& a = f.tensors()[i];
    const auto& b = g.tensors()[i];
    if (a.name != b.name || a.shape != b.shape || a.type != b.type || a.n_bytes != b.n_bytes ||
        (a.n_bytes > 0 && std::memcmp(a.data, b.data, static_cast<size_t>(a.n_bytes)) != 0)) {
      __builtin_trap();
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::optional<GgufFile> f;
  try {
    f.emplace(GgufFile::parse(std::span<const uint8_t>(data, size), "fuzz.gguf"));
  } catch (const ternion::Error& e) {
    check_message(e);
    return 0;
  }
  touch(*f);
  round_trip(*f);
  return 0;
}
