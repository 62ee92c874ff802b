// libFuzzer target for the importance-matrix reader (both forms: llama.cpp's legacy .dat and GGUF). Any input
// must either parse or throw ternion::Error with a one-line message; on success every entry's means are computed
// (which reads every value) and must be finite and non-negative.
#include <cmath>
#include <cstdint>
#include <cstring>
#include <span>

#include "ternion/core/error.h"
#include "ternion/model/imatrix.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    const ternion::Imatrix im = ternion::parse_imatrix(std::span<const uint8_t>(data, size), "fuzz");
    for (const auto& [name, e] : im.entries) {
      for (int64_t m = 0; m < e.n_mat(); ++m) {
        for (float v : e.means(m)) {
          if (!std::isfinite(v) || v < 0) __builtin_trap();
        }
      }
    }
  } catch (const ternion::Error& e) {
    if (std::strchr(e.what(), '\n') != nullptr) __builtin_trap();
  }
  return 0;
}
