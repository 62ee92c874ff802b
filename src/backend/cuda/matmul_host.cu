// The device decoders run on the host, for the tests: the element mapping of every block layout is then checked
// against the CPU's dequantisation on any machine, a GPU or not.
#include <cstring>

#include "backend/cuda/matmul_dispatch.cuh"
#include "backend/cuda/matmul_launch.h"

namespace ternion::cuda::detail {

bool decode_row_on_host(DType type, const void* row, int64_t cols, float* out) {
  return visit_weight_type(type, [&](auto t) {
    using T = decltype(t);
    const int units = static_cast<int>(cols / T::kUnitElems);
    for (int u = 0; u < units; ++u) {
      const typename T::Raw raw = T::load(static_cast<const uint8_t*>(row), u);
      for (int k = 0; k < T::kRuns; ++k) {
        float v[8];
        T::decode(raw, k, v);
        std::memcpy(out + T::run_start(u, k), v, sizeof v);
      }
    }
  });
}

}  // namespace ternion::cuda::detail
