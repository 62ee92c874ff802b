// The backend a device name picks. Part of ternion_backend_cuda in every build (with the CUDA backend, or with
// no_cuda.cpp's make_cuda_backend that says the build has none), so callers never test for CUDA themselves.
#include <charconv>
#include <string>

#include "ternion/backend/cpu_backend.h"
#include "ternion/backend/cuda_backend.h"
#include "ternion/core/error.h"

namespace ternion {

namespace {

// -1 for "cpu", else the CUDA device index; throws for anything else.
int parse_device(std::string_view device) {
  if (device == "cpu") return -1;
  if (device == "cuda") return 0;
  if (device.starts_with("cuda:")) {
    const std::string_view index = device.substr(5);
    int n = -1;
    const auto [end, ec] = std::from_chars(index.data(), index.data() + index.size(), n);
    if (ec == std::errc() && end == index.data() + index.size() && n >= 0 && n < 1024) return n;
  }
  throw Error("unknown device '" + std::string(device) + "': expected cpu, cuda or cuda:N");
}

}  // namespace

void check_device_name(std::string_view device) { parse_device(device); }

std::unique_ptr<Backend> make_backend(std::string_view device, ThreadPool& pool) {
  const int index = parse_device(device);
  if (index < 0) return std::make_unique<CpuBackend>(pool);
  return make_cuda_backend(index);
}

}  // namespace ternion
