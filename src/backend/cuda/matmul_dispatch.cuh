// The DType -> decoder struct switch shared by the launchers.
#pragma once

#include <cuda_runtime.h>

#include "backend/cuda/matmul_types.cuh"
#include "ternion/core/dtype.h"

namespace ternion::cuda::detail {

// Calls f(TypeX{}) for the decoder of `type`; returns false when matmul has none.
template <class F>
bool visit_weight_type(DType type, F&& f) {
  switch (type) {
    case DType::F32:
      f(TypeF32{});
      return true;
    case DType::F16:
      f(TypeF16{});
      return true;
    case DType::BF16:
      f(TypeBF16{});
      return true;
    case DType::Q8_0:
      f(TypeQ8_0{});
      return true;
    case DType::Q4_0:
      f(TypeQ4_0{});
      return true;
    case DType::Q4_K:
      f(TypeQ4_K{});
      return true;
    case DType::Q5_K:
      f(TypeQ5_K{});
      return true;
    case DType::Q6_K:
      f(TypeQ6_K{});
      return true;
    case DType::TQ2_0:
      f(TypeTQ2_0{});
      return true;
    default:
      return false;
  }
}

inline const char* last_launch_error() {
  const cudaError_t e = cudaGetLastError();
  return e == cudaSuccess ? nullptr : cudaGetErrorString(e);
}

}  // namespace ternion::cuda::detail
