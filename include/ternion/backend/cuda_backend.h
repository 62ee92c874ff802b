// The CUDA implementation of the backend interface (ternion/backend/backend.h), and the choice of a backend by
// device name. No CUDA header is included here: everything but src/backend/cuda compiles with the host compiler
// alone, and a build without CUDA (the default; -DTERNION_CUDA=ON builds it) has these functions too, which then
// say clearly that the build has no CUDA.
//
// The CUDA backend keeps activations, scratch and the KV cache (F16 or F32) in device memory and queues all work on
// one stream; read() and synchronize() wait for it. Weights are the model's host views: each is copied to the
// device once (reserve_matmul, or its first use), found again by its host address, as are norm weights, biases,
// ALiBi slopes and RoPE tables. Weight types the matmul kernels do not take are converted to F16 at upload.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "ternion/backend/backend.h"
#include "ternion/core/thread_pool.h"

namespace ternion {

// Whether this build has the CUDA backend (configured with -DTERNION_CUDA=ON).
bool cuda_built();

// A backend on CUDA device `device`. Throws Error when the build has no CUDA, when no GPU is present or the driver
// cannot be reached, or when `device` is not one of the GPUs.
std::unique_ptr<Backend> make_cuda_backend(int device = 0);

// A backend by device name: "cpu" (on `pool`), "cuda" (device 0) or "cuda:N". Throws Error for another name, and as
// make_cuda_backend does.
std::unique_ptr<Backend> make_backend(std::string_view device, ThreadPool& pool);

// Checks a device name (as make_backend reads it) without opening the device; throws Error for a bad one.
void check_device_name(std::string_view device);

}  // namespace ternion
