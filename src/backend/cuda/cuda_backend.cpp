// The CUDA backend's memory: device buffers, the KV cache, the weights' device copies, scratch, host transfers and
// the matmuls (cuda_ops.cpp has the other ops).
#include <cuda_runtime_api.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <string>

#include "backend/cuda/cuda_backend_impl.h"
#include "backend/cuda/cuda_matmul.h"
#include "ternion/backend/cuda_backend.h"
#include "ternion/core/error.h"
#include "ternion/core/fp16.h"
#include "ternion/quant/quant.h"

namespace ternion {

namespace cuda {

namespace {

size_t sz(int64_t n) { return static_cast<size_t>(n); }
cudaStream_t st(Stream s) { return static_cast<cudaStream_t>(s); }

class DeviceBuffer final : public Buffer {
 public:
  DeviceBuffer(size_t n, Stream stream) : memory_(std::max<size_t>(n, 1) * sizeof(float), "a buffer"), n_(n) {
    check(cudaMemsetAsync(memory_.get(), 0, memory_.bytes(), st(stream)), "clearing a buffer");
  }
  float* data() override { return memory_.as<float>(); }
  size_t bytes() const override { return n_ * sizeof(float); }

 private:
  DeviceMemory memory_;
  size_t n_;
};

}  // namespace

void check(int status, const char* what) {
  const auto e = static_cast<cudaError_t>(status);
  if (e != cudaSuccess) throw Error(std::string("cuda: ") + what + ": " + cudaGetErrorString(e));
}

DeviceMemory::DeviceMemory(size_t bytes, const char* what) : bytes_(bytes) {
  if (bytes == 0) return;
  const cudaError_t e = cudaMalloc(&ptr_, bytes);
  if (e != cudaSuccess) {
    ptr_ = nullptr;
    throw Error(std::string("cuda: cannot allocate ") + std::to_string(bytes >> 20) + " MiB of GPU memory for " + what +
                ": " + cudaGetErrorString(e));
  }
}

DeviceMemory& DeviceMemory::operator=(DeviceMemory&& o) noexcept {
  if (this != &o) {
    if (ptr_ != nullptr) cudaFree(ptr_);
    ptr_ = o.ptr_, bytes_ = o.bytes_;
    o.ptr_ = nullptr, o.bytes_ = 0;
  }
  return *this;
}

DeviceMemory::~DeviceMemory() {
  if (ptr_ != nullptr) cudaFree(ptr_);  // nothing to report from a destructor
}

const int32_t* IntMirror::get(std::span<const int32_t> host, Stream stream) {
  // Inside the last upload with the same values: no copy.
  const auto at = reinterpret_cast<uintptr_t>(host.data()), base = reinterpret_cast<uintptr_t>(src_);
  if (src_ != nullptr && at >= base && at + host.size_bytes() <= base + host_.size() * 4) {
    const size_t off = (at - base) / 4;
    if (std::memcmp(host.data(), host_.data() + off, host.size_bytes()) == 0) return device_.as<int32_t>() + off;
  }
  if (host.size_bytes() > device_.bytes()) {
    check(cudaStreamSynchronize(st(stream)), "waiting to grow an index buffer");
    device_ = DeviceMemory(std::max<size_t>(host.size_bytes(), 4096), "indices");
  }
  host_.assign(host.begin(), host.end());
  src_ = host.data();
  // From pageable memory: the copy is staged before the call returns, so host_ may change afterwards.
  if (!host.empty()) {
    check(cudaMemcpyAsync(device_.get(), host_.data(), host.size_bytes(), cudaMemcpyHostToDevice, st(stream)),
          "uploading indices");
  }
  return device_.as<int32_t>();
}

CudaKvCache::CudaKvCache(const KvCacheSpec& spec) : KvCache(spec) {
  if (spec.type != DType::F16 && spec.type != DType::F32) {
    throw Error("the KV cache type must be f16 or f32, got " + std::string(dtype_info(spec.type).name));
  }
  es_ = spec.type == DType::F32 ? 4 : 2;
  const auto n_layer = static_cast<int64_t>(spec.layer_window.size());
  const size_t kv_dim = sz(spec.n_head_kv * spec.head_dim);
  size_t per_slot = 0, most_sliding = 0;
  for (int64_t il = 0; il < n_layer; ++il) {
    layer_offset_.push_back(per_slot);
    per_slot += sz(capacity(il)) * kv_dim;
    if (spec.layer_window[sz(il)] > 0) most_sliding = std::max(most_sliding, sz(capacity(il)) * kv_dim);
  }
  slot_elems_ = per_slot;
  elems_ = sz(spec.n_seq) * per_slot;
  memory_ = DeviceMemory(2 * elems_ * es_, "the KV cache");
  shift_ = DeviceMemory(most_sliding * es_, "moving a sliding window");
  start_.assign(sz(spec.n_seq * n_layer), 0);
}

// Rows [from, from + n) of every head of K and V to [0, n), through a scratch copy (the ranges may overlap).
void CudaKvCache::shift_rows(const KvLayer& l, int64_t from, int64_t n, Stream stream) {
  if (n <= 0 || from == 0) return;
  const size_t row = sz(l.head_dim) * es_;
  const size_t pitch = sz(l.capacity) * row;
  for (void* base : {l.k, l.v}) {
    auto* b = static_cast<uint8_t*>(base);
    check(cudaMemcpy2DAsync(shift_.get(), sz(n) * row, b + sz(from) * row, pitch, sz(n) * row, sz(l.n_head_kv),
                            cudaMemcpyDeviceToDevice, st(stream)),
          "moving a sliding window");
    check(cudaMemcpy2DAsync(b, pitch, shift_.get(), sz(n) * row, sz(n) * row, sz(l.n_head_kv), cudaMemcpyDeviceToDevice,
                            st(stream)),
          "moving a sliding window");
  }
}

CudaKvCache& cuda_cache(KvCache& cache) {
  auto* c = dynamic_cast<CudaKvCache*>(&cache);
  if (c == nullptr) throw Error("the CUDA backend was given another backend's KV cache");
  return *c;
}

CudaBackend::CudaBackend(int device) : device_(device) {
  int count = 0;
  const cudaError_t e = cudaGetDeviceCount(&count);
  if (e != cudaSuccess || count == 0) {
    throw Error(std::string("no CUDA GPU is available (") +
                (e != cudaSuccess ? cudaGetErrorString(e) : "the driver reports none") + ")");
  }
  if (device < 0 || device >= count) {
    throw Error("CUDA device " + std::to_string(device) + " does not exist (" + std::to_string(count) + " found)");
  }
  use_device();
  cudaStream_t s = nullptr;
  // Every copy and kernel of this backend goes to this one stream, in order. A blocking stream: it also waits for
  // work on the legacy default stream, should anything put some there.
  check(cudaStreamCreate(&s), "creating a stream");
  stream_ = s;
}

CudaBackend::~CudaBackend() {
  cudaStreamSynchronize(st(stream_));  // device memory is freed below: nothing may still use it
  cudaStreamDestroy(st(stream_));
}

void CudaBackend::use_device() const { check(cudaSetDevice(device_), "selecting the GPU"); }

std::unique_ptr<Buffer> CudaBackend::alloc(size_t n_floats) {
  use_device();
  return std::make_unique<DeviceBuffer>(n_floats, stream_);
}

std::unique_ptr<KvCache> CudaBackend::make_kv_cache(const KvCacheSpec& spec) {
  use_device();
  return std::make_unique<CudaKvCache>(spec);
}

void* CudaBackend::scratch(DeviceMemory& m, size_t bytes, const char* what) {
  if (bytes > m.bytes()) {
    synchronize();  // the old scratch may still be in use
    m = DeviceMemory(bytes, what);
  }
  return m.get();
}

const DeviceWeight& CudaBackend::weight(const WeightMatrix& w) {
  const auto it = weights_.find(w.data);
  if (it != weights_.end()) {
    if (it->second.same_view(w)) return it->second;
    // Another matrix now lives at this host address (the old one was freed): its copy may still be read.
    synchronize();
    weights_.erase(it);
  }
  use_device();
  const size_t dense = ternion::row_bytes(dtype_info(w.type), static_cast<uint64_t>(w.cols));
  if (w.rows < 0 || w.cols <= 0 || w.row_bytes < dense) {
    throw Error("matmul: a weight matrix's rows (" + std::to_string(w.row_bytes) + " bytes apart) are shorter than " +
                std::to_string(w.cols) + " columns of " + std::string(dtype_info(w.type).name));
  }
  // BF16 rows the library cannot take (cols not a multiple of 8) go the F16 way, to the generic kernel.
  if (matmul_supports(w.type) && (w.type != DType::BF16 || w.cols % 8 == 0)) {
    // Rows packed densely: a view whose rows are further apart (an expert of a 3-D tensor, a padded table) is
    // uploaded as a plain matrix, which the library's row_bytes checks accept.
    DeviceWeight d{w.type, dense,      DeviceMemory(dense * sz(w.rows), "a weight matrix"), w.type, w.rows,
                   w.cols, w.row_bytes};
    if (w.rows > 0 && w.row_bytes == dense) {
      check(cudaMemcpyAsync(d.memory.get(), w.data, d.memory.bytes(), cudaMemcpyHostToDevice, st(stream_)),
            "uploading a weight matrix");
    } else if (w.rows > 0) {
      check(cudaMemcpy2DAsync(d.memory.get(), dense, w.data, w.row_bytes, dense, sz(w.rows), cudaMemcpyHostToDevice,
                              st(stream_)),
            "uploading a weight matrix");
    }
    return weights_.emplace(w.data, std::move(d)).first->second;
  }
  // No kernel for this type: F16 rows, converted on the host a block of rows at a time.
  const QuantTraits& traits = quant_traits(w.type);
  DeviceWeight d{DType::F16, sz(w.cols) * 2, DeviceMemory(sz(w.cols) * 2 * sz(w.rows), "a weight matrix"),
                 w.type,     w.rows,         w.cols,
                 w.row_bytes};
  constexpr int64_t kRowsPerCopy = 256;
  std::vector<float> f(sz(w.cols));
  std::vector<uint16_t> h(sz(w.cols * kRowsPerCopy));
  for (int64_t r0 = 0; r0 < w.rows; r0 += kRowsPerCopy) {
    const int64_t n = std::min(kRowsPerCopy, w.rows - r0);
    for (int64_t r = 0; r < n; ++r) {
      traits.to_float(w.data + sz(r0 + r) * w.row_bytes, f.data(), w.cols);
      fp32_to_fp16_row(f.data(), h.data() + sz(r * w.cols), w.cols);
    }
    // From pageable memory: staged before the call returns, so `h` may be refilled at once.
    check(cudaMemcpyAsync(d.memory.as<uint8_t>() + sz(r0) * d.row_bytes, h.data(), sz(n) * d.row_bytes,
                          cudaMemcpyHostToDevice, st(stream_)),
          "uploading a weight matrix");
  }
  return weights_.emplace(w.data, std::move(d)).first->second;
}

const float* CudaBackend::vector(const float* host, int64_t n) {
  if (host == nullptr) return nullptr;
  const auto it = vectors_.find(host);
  if (it != vectors_.end() && it->second.bytes() >= sz(n) * 4) return it->second.as<float>();
  use_device();
  DeviceMemory m(sz(n) * 4, "a weight vector");
  check(cudaMemcpyAsync(m.get(), host, sz(n) * 4, cudaMemcpyHostToDevice, st(stream_)), "uploading a weight vector");
  if (it != vectors_.end()) synchronize();  // the shorter copy it replaces may still be read
  return (vectors_[host] = std::move(m)).as<float>();
}

void CudaBackend::reserve_matmul(std::span<const WeightMatrix* const> ws, int64_t n_tokens) {
  size_t most = 0;
  for (const WeightMatrix* w : ws) {
    const DeviceWeight& d = weight(*w);
    most = std::max(most, matmul_scratch_bytes(d.type, w->rows, w->cols, n_tokens));
  }
  if (most > 0) scratch(mm_scratch_, most, "matmul scratch");
}

void CudaBackend::reserve_attention(int64_t n_head, int64_t max_capacity, int64_t head_dim, DType /*kv_type*/) {
  const size_t per_token = attention_partial_floats_per_token(n_head, max_capacity, head_dim);
  if (per_token == 0) return;
  // Up to 64 query tokens per launch, within 64 MiB of partial results.
  const size_t tokens = std::clamp<size_t>((size_t{64} << 20) / (per_token * 4), 1, 64);
  scratch(att_partials_, tokens * per_token * 4, "attention scratch");
}

void CudaBackend::read(Tensor t, float* host) {
  use_device();
  if (t.rows > 0) {
    check(cudaMemcpy2DAsync(host, sz(t.cols) * 4, t.data, sz(t.stride) * 4, sz(t.cols) * 4, sz(t.rows),
                            cudaMemcpyDeviceToHost, st(stream_)),
          "reading a tensor");
  }
  synchronize();
}

void CudaBackend::write(Tensor t, const float* host) {
  use_device();
  if (t.rows == 0) return;
  check(cudaMemcpy2DAsync(t.data, sz(t.stride) * 4, host, sz(t.cols) * 4, sz(t.cols) * 4, sz(t.rows),
                          cudaMemcpyHostToDevice, st(stream_)),
        "writing a tensor");
  synchronize();  // the caller's host array may change as soon as we return
}

void CudaBackend::synchronize() { check(cudaStreamSynchronize(st(stream_)), "running the queued GPU work"); }

// Rows are dequantized on the host (exactly the CPU's floats) and copied up: a step needs only its tokens' rows,
// and the table never takes GPU memory.
void CudaBackend::get_rows(const WeightMatrix& table, std::span<const int32_t> ids, Tensor out) {
  use_device();
  const QuantTraits& traits = quant_traits(table.type);
  host_rows_.resize(std::max(host_rows_.size(), ids.size() * sz(table.cols)));
  for (size_t i = 0; i < ids.size(); ++i) {
    if (ids[i] < 0 || ids[i] >= table.rows) throw Error("get_rows: row " + std::to_string(ids[i]) + " out of range");
    traits.to_float(table.data + sz(ids[i]) * table.row_bytes, host_rows_.data() + i * sz(table.cols), table.cols);
  }
  if (ids.empty()) return;
  check(cudaMemcpy2DAsync(out.data, sz(out.stride) * 4, host_rows_.data(), sz(table.cols) * 4, sz(table.cols) * 4,
                          ids.size(), cudaMemcpyHostToDevice, st(stream_)),
        "copying embedding rows");
}

void CudaBackend::run_matmul(const WeightMatrix& w, const float* x, int64_t x_stride, float* y, int64_t y_stride,
                             int64_t n) {
  const DeviceWeight& d = weight(w);
  // F32 and F16 shapes the library refuses (a LoRA rank of 4, activations at an odd stride) take the generic kernel.
  const bool plain = d.type == DType::F32 || d.type == DType::F16;
  const bool library_takes = w.cols % 8 == 0 && reinterpret_cast<uintptr_t>(x) % 16 == 0 && x_stride % 4 == 0;
  if (plain && !library_takes) {
    generic_matmul(d.type == DType::F16, d.memory.get(), d.row_bytes, w.rows, w.cols, x, x_stride, y, y_stride, n,
                   stream_);
    return;
  }
  // Grown here when the shape was not reserved (growing waits for the stream).
  void* s = scratch(mm_scratch_, matmul_scratch_bytes(d.type, w.rows, w.cols, n), "matmul scratch");
  cuda::matmul(d.type, d.memory.get(), d.row_bytes, w.rows, w.cols, x, x_stride, y, y_stride, n, s, stream_);
}

void CudaBackend::matmul(const WeightMatrix& w, Tensor x, Tensor y, const WeightMatrix* /*next*/) {
  use_device();
  if (x.cols != w.cols || y.rows < x.rows || y.cols < w.rows) {
    throw Error("matmul: the input must have " + std::to_string(w.cols) + " columns and the output " +
                std::to_string(w.rows));
  }
  if (observer_ != nullptr) observer_->observe(w, x);
  run_matmul(w, x.data, x.stride, y.data, y.stride, x.rows);
}

void CudaBackend::matmul_many(std::span<const MatmulTarget> outputs, Tensor x, const WeightMatrix* next) {
  for (const MatmulTarget& o : outputs) matmul(*o.w, x, o.y, next);
}

void CudaBackend::reserve_low_rank(int64_t max_rank, int64_t max_rows, int64_t n_tokens) {
  use_device();
  scratch(low_rank_mid_, sz(max_rank * n_tokens) * 4, "low-rank scratch");
  scratch(low_rank_out_, sz(max_rows * n_tokens) * 4, "low-rank scratch");
}

// As the CPU: A x, then B (A x), then y += scale · that, each element in a fixed order.
void CudaBackend::add_low_rank(std::span<const LowRankTerm> terms, Tensor x, Tensor y) {
  use_device();
  for (const LowRankTerm& t : terms) {
    const WeightMatrix& a = *t.a;
    const WeightMatrix& b = *t.b;
    if (a.type != DType::F32 || b.type != DType::F32 || a.cols != x.cols || b.cols != a.rows || b.rows != y.cols) {
      throw Error("add_low_rank: A and B must be F32, A rank × " + std::to_string(x.cols) + " and B " +
                  std::to_string(y.cols) + " × rank");
    }
    if (sz(a.rows * x.rows) * 4 > low_rank_mid_.bytes() || sz(b.rows * x.rows) * 4 > low_rank_out_.bytes()) {
      throw Error("add_low_rank: more rows or a larger rank than reserve_low_rank allowed");
    }
    float* mid = low_rank_mid_.as<float>();
    float* out = low_rank_out_.as<float>();
    run_matmul(a, x.data, x.stride, mid, a.rows, x.rows);
    run_matmul(b, mid, a.rows, out, b.rows, x.rows);
    cuda::add_scaled({y.data, y.rows, y.cols, y.stride}, {out, y.rows, y.cols, b.rows}, t.scale, stream_);
  }
}

}  // namespace cuda

bool cuda_built() { return true; }

std::unique_ptr<Backend> make_cuda_backend(int device) { return std::make_unique<cuda::CudaBackend>(device); }

}  // namespace ternion
