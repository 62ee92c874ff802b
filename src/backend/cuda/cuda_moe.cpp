// Mixtures of experts on the CUDA backend. The routing is the CPU's own select_experts on the router's logits read
// back to the host (one synchronisation per MoE layer: the simple, exactly matching version); the (token, choice)
// rows are grouped by expert, each chosen expert runs its matmuls over its rows on the GPU, and the outputs are
// weighed and summed per token in choice order, so a token's result does not depend on the batch.
#include <cuda_runtime_api.h>

#include <algorithm>
#include <string>

#include "backend/cuda/cuda_backend_impl.h"
#include "ternion/core/error.h"

namespace ternion::cuda {

namespace {

size_t sz(int64_t n) { return static_cast<size_t>(n); }
cudaStream_t st(Stream s) { return static_cast<cudaStream_t>(s); }

void check_experts(const MoeExperts& e, int64_t n_embd) {
  const int64_t n = e.n_expert();
  if (n == 0 || static_cast<int64_t>(e.down.size()) != n ||
      (!e.gate.empty() && static_cast<int64_t>(e.gate.size()) != n)) {
    throw Error("moe: every expert needs its up and down matrices (and gate, when gated)");
  }
  const int64_t ff = e.up[0].rows;
  for (size_t i = 0; i < sz(n); ++i) {
    const bool ok = e.up[i].cols == n_embd && e.up[i].rows == ff && e.down[i].rows == n_embd && e.down[i].cols == ff &&
                    (e.gate.empty() || (e.gate[i].rows == ff && e.gate[i].cols == n_embd));
    if (!ok)
      throw Error("moe: expert " + std::to_string(i) + "'s matrices do not fit n_embd " + std::to_string(n_embd));
  }
}

template <typename T>
void upload(DeviceMemory& d, const std::vector<T>& host, size_t n, Stream stream) {
  if (n == 0) return;
  check(cudaMemcpyAsync(d.get(), host.data(), n * sizeof(T), cudaMemcpyHostToDevice, st(stream)), "moe: upload");
}

}  // namespace

void CudaBackend::reserve_moe(const MoeExperts& experts, int64_t n_used, int64_t n_tokens) {
  if (experts.n_expert() == 0) return;
  use_device();
  for (const auto* list : {&experts.gate, &experts.up, &experts.down}) {
    for (const WeightMatrix& w : *list) {
      const WeightMatrix* one[] = {&w};
      reserve_matmul(one, n_tokens);
    }
  }
  const size_t n_rows = sz(n_tokens * n_used);
  const size_t n_embd = sz(experts.down[0].rows), ff = sz(experts.up[0].rows);
  scratch(moe_.x, n_rows * n_embd * 4, "moe scratch");
  scratch(moe_.gate, n_rows * ff * 4, "moe scratch");
  scratch(moe_.up, n_rows * ff * 4, "moe scratch");
  scratch(moe_.out, n_rows * n_embd * 4, "moe scratch");
  scratch(moe_.src_row, n_rows * 4, "moe scratch");
  scratch(moe_.row_of, n_rows * 4, "moe scratch");
  scratch(moe_.weight, n_rows * 4, "moe scratch");
}

// Rows of the grouped buffers by expert: each (token, choice) gets the next row of its expert, tokens in order.
void CudaBackend::group_by_expert(int64_t n_rows, int64_t n_expert) {
  MoeScratch& s = moe_;
  s.begin.assign(sz(n_expert + 1), 0);
  for (int64_t i = 0; i < n_rows; ++i) ++s.begin[sz(s.ids[sz(i)]) + 1];
  for (int64_t e = 0; e < n_expert; ++e) s.begin[sz(e + 1)] += s.begin[sz(e)];
  std::vector<int64_t> next(s.begin.begin(), s.begin.end() - 1);
  s.rows.resize(sz(n_rows));
  s.src.resize(sz(n_rows));
  for (int64_t i = 0; i < n_rows; ++i) {
    const int64_t row = next[sz(s.ids[sz(i)])]++;
    s.rows[sz(i)] = static_cast<int32_t>(row);
    s.src[sz(row)] = static_cast<int32_t>(i);  // grouped row → its (token, choice); the token is i / k
  }
}

void CudaBackend::moe_ffn(const MoeExperts& experts, const MoeRouting& routing, Tensor x, Tensor router_logits,
                          Tensor y) {
  use_device();
  const int64_t n_embd = x.cols, n = x.rows, k = routing.n_used, n_expert = experts.n_expert();
  check_experts(experts, n_embd);
  if (router_logits.cols != n_expert || y.cols != n_embd || y.rows != n || router_logits.rows != n) {
    throw Error("moe_ffn: the router's logits need one row of n_expert values per token");
  }
  const int64_t n_rows = n * k, ff = experts.up[0].rows;
  reserve_moe(experts, k, n);  // grows only when the reservation was smaller
  // Routing on the host, with the CPU's rule.
  std::vector<float> logits(sz(n * n_expert));
  read(router_logits, logits.data());
  MoeScratch& s = moe_;
  s.ids.resize(sz(n_rows));
  s.weights.resize(sz(n_rows));
  for (int64_t t = 0; t < n; ++t) {
    select_experts(&logits[sz(t * n_expert)], n_expert, routing, &s.ids[sz(t * k)], &s.weights[sz(t * k)]);
  }
  group_by_expert(n_rows, n_expert);
  for (int32_t& v : s.src) v = static_cast<int32_t>(v / k);  // grouped row → token
  upload(s.src_row, s.src, sz(n_rows), stream_);
  upload(s.row_of, s.rows, sz(n_rows), stream_);
  upload(s.weight, s.weights, sz(n_rows), stream_);
  auto* gx = s.x.as<float>();
  cuda::gather_rows(x.data, x.stride, s.src_row.as<int32_t>(), n_rows, n_embd, gx, n_embd, stream_);
  for (int64_t e = 0; e < n_expert; ++e) {
    const int64_t r0 = s.begin[sz(e)], rows = s.begin[sz(e + 1)] - r0;
    if (rows == 0) continue;  // an expert nobody chose is never read
    const float* xe = gx + r0 * n_embd;
    float* g = s.gate.as<float>() + r0 * ff;
    const Rows gr{g, rows, ff, ff};
    if (experts.gate.empty()) {
      run_matmul(experts.up[sz(e)], xe, n_embd, g, ff, rows);
      cuda::activate(static_cast<Act>(experts.activation), gr, stream_);
    } else {
      float* u = s.up.as<float>() + r0 * ff;
      run_matmul(experts.gate[sz(e)], xe, n_embd, g, ff, rows);
      run_matmul(experts.up[sz(e)], xe, n_embd, u, ff, rows);
      cuda::gated_activation(static_cast<Act>(experts.activation), gr, {u, rows, ff, ff}, gr, stream_);
    }
    run_matmul(experts.down[sz(e)], g, ff, s.out.as<float>() + r0 * n_embd, n_embd, rows);
  }
  cuda::moe_combine(s.out.as<float>(), n_embd, s.row_of.as<int32_t>(), s.weight.as<float>(), n, k, y.data, y.stride,
                    stream_);
  // No wait here: uploads from pageable memory are staged before they return, so the host arrays may be reused.
}

}  // namespace ternion::cuda
