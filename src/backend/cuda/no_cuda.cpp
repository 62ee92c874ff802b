// The CUDA entry points of a build without CUDA (TERNION_CUDA off): they say so, clearly, instead of the linker.
#include "ternion/backend/cuda_backend.h"
#include "ternion/core/error.h"

namespace ternion {

bool cuda_built() { return false; }

std::unique_ptr<Backend> make_cuda_backend(int /*device*/) {
  throw Error("this build has no CUDA; configure with -DTERNION_CUDA=ON to run on a GPU");
}

}  // namespace ternion
