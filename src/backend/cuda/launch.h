// What the CUDA kernel files share: the launch check and grid sizes. Included by .cu files only.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>
#include <string>

#include "ternion/core/error.h"

namespace ternion::cuda {

// Throws Error naming the kernel when its launch failed (a bad configuration; faults inside a kernel surface at the
// next synchronisation, which checks too).
inline void check_launch(const char* what) {
  const cudaError_t e = cudaGetLastError();
  if (e != cudaSuccess) throw Error(std::string("cuda: ") + what + ": " + cudaGetErrorString(e));
}

inline cudaStream_t as_stream(void* s) { return static_cast<cudaStream_t>(s); }

// Blocks for a grid-stride loop over n elements: enough to fill the GPU, bounded so the grid is always valid.
inline unsigned grid_for(int64_t n, int threads) {
  const int64_t blocks = (n + threads - 1) / threads;
  return static_cast<unsigned>(blocks < 1 ? 1 : (blocks > 65536 ? 65536 : blocks));
}

}  // namespace ternion::cuda
