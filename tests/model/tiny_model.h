// A tiny Llama-family model with random weights, written as GGUF, and a plain double-precision forward
// pass over the same weights: the independent reference the engine's forward pass is checked against.
#pragma once

#include <unistd.h>
#include <cmath>

#include <filesystem>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "ternion/io/gguf.h"

namespace ternion::test {

struct TinySpec {
  std::string arch = "llama";
  int64_t n_vocab = 48, n_embd = 32, n_layer = 2, n_head = 4, n_head_kv = 2, n_ff = 40, n_ctx = 64;
  float rope_base = 10000.0f;
  float rms_eps = 1e-5f;
  bool biases = false;
  bool tied = false;
  bool neox = false;
  float linear_scale = 1.0f;      // rope.scaling.factor
  std::vector<float> rope_freqs;  // rope_freqs.weight when non-empty
  int64_t head_dim() const { return n_embd / n_head; }
};

class TinyModel {
 public:
  explicit TinyModel(TinySpec spec, uint32_t seed = 1) : s_(std::move(spec)), rng_(seed) {
    const int64_t d = s_.n_embd, hd = s_.head_dim(), kv = s_.n_head_kv * hd, q = s_.n_head * hd;
    add("token_embd.weight", {d, s_.n_vocab}, 1.0f);
    add("output_norm.weight", {d}, 0.2f, 1.0f);
    if (!s_.tied) add("output.weight", {d, s_.n_vocab}, 0.3f);
    for (int64_t l = 0; l < s_.n_layer; ++l) {
      const std::string p = "blk." + std::to_string(l) + ".";
      add(p + "attn_norm.weight", {d}, 0.2f, 1.0f);
      add(p + "attn_q.weight", {d, q}, 0.3f);
      add(p + "attn_k.weight", {d, kv}, 0.3f);
      add(p + "attn_v.weight", {d, kv}, 0.3f);
      add(p + "attn_output.weight", {q, d}, 0.3f);
      if (s_.biases) {
        add(p + "attn_q.bias", {q}, 0.1f);
        add(p + "attn_k.bias", {kv}, 0.1f);
        add(p + "attn_v.bias", {kv}, 0.1f);
      }
      add(p + "ffn_norm.weight", {d}, 0.2f, 1.0f);
      add(p + "ffn_gate.weight", {d, s_.n_ff}, 0.3f);
      add(p + "ffn_up.weight", {d, s_.n_ff}, 0.3f);
      add(p + "ffn_down.weight", {s_.n_ff, d}, 0.3f);
    }
  }

  // Writes the GGUF; `skip` leaves a tensor out, `override_shape` changes one's declared shape.
  std::filesystem::path write(const std::string& file, const std::string& skip = "",
                              const std::map<std::string, std::string>& override_meta = {}) const {
    GgufWriter w;
    const std::string a = s_.arch;
    w.set_string("general.architecture", a);
    w.set_u32(a + ".context_length", static_cast<uint32_t>(s_.n_ctx));
    w.set_u32(a + ".embedding_length", static_cast<uint32_t>(s_.n_embd));
    w.set_u32(a + ".block_count", static_cast<uint32_t>(s_.n_layer));
    w.set_u32(a + ".feed_forward_length", static_cast<uint32_t>(s_.n_ff));
    w.set_u32(a + ".attention.head_count", static_cast<uint32_t>(s_.n_head));
    w.set_u32(a + ".attention.head_count_kv", static_cast<uint32_t>(s_.n_head_kv));
    w.set_f32(a + ".attention.layer_norm_rms_epsilon", s_.rms_eps);
    w.set_f32(a + ".rope.freq_base", s_.rope_base);
    if (s_.linear_scale != 1.0f) {
      w.set_string(a + ".rope.scaling.type", "linear");
      w.set_f32(a + ".rope.scaling.factor", s_.linear_scale);
    }
    for (const auto& [k, v] : override_meta) w.set_string(k, v);
    for (const auto& [name, t] : tensors_) {
      if (name == skip) continue;
      std::vector<uint64_t> shape(t.shape.begin(), t.shape.end());
      w.add_tensor(name, shape, DType::F32,
                   {reinterpret_cast<const uint8_t*>(t.data.data()), t.data.size() * sizeof(float)});
    }
    if (!s_.rope_freqs.empty()) {
      w.add_tensor("rope_freqs.weight", {static_cast<uint64_t>(s_.rope_freqs.size())}, DType::F32,
                   {reinterpret_cast<const uint8_t*>(s_.rope_freqs.data()), s_.rope_freqs.size() * sizeof(float)});
    }
    // Unique per process: ctest runs tests in parallel processes.
    const auto path = std::filesystem::temp_directory_path() / (std::to_string(::getpid()) + "_" + file);
    w.write(path.string());
    return path;
  }

  // Logits of the last token of `tokens`, in double precision.
  std::vector<double> reference_logits(const std::vector<int32_t>& tokens) const {
    const int64_t d = s_.n_embd, hd = s_.head_dim(), nh = s_.n_head, nkv = s_.n_head_kv;
    const int64_t n = static_cast<int64_t>(tokens.size());
    std::vector<std::vector<double>> x(static_cast<size_t>(n));
    for (int64_t t = 0; t < n; ++t) x[t] = row("token_embd.weight", tokens[static_cast<size_t>(t)]);
    for (int64_t l = 0; l < s_.n_layer; ++l) {
      const std::string p = "blk." + std::to_string(l) + ".";
      std::vector<std::vector<double>> q(static_cast<size_t>(n)), k(q.size()), v(q.size());
      for (int64_t t = 0; t < n; ++t) {
        const auto h = norm(x[t], p + "attn_norm.weight");
        q[t] = matvec(p + "attn_q.weight", h, s_.biases ? p + "attn_q.bias" : "");
        k[t] = matvec(p + "attn_k.weight", h, s_.biases ? p + "attn_k.bias" : "");
        v[t] = matvec(p + "attn_v.weight", h, s_.biases ? p + "attn_v.bias" : "");
        rope(q[t], nh, t);
        rope(k[t], nkv, t);
      }
      for (int64_t t = 0; t < n; ++t) {
        std::vector<double> att(static_cast<size_t>(nh * hd), 0.0);
        for (int64_t h = 0; h < nh; ++h) {
          const int64_t g = h / (nh / nkv);
          std::vector<double> s(static_cast<size_t>(t + 1));
          double mx = -1e300;
          for (int64_t j = 0; j <= t; ++j) {
            double dot = 0;
            for (int64_t i = 0; i < hd; ++i) dot += q[t][h * hd + i] * k[j][g * hd + i];
            s[j] = dot / std::sqrt(static_cast<double>(hd));
            mx = std::max(mx, s[j]);
          }
          double sum = 0;
          for (auto& e : s) sum += (e = std::exp(e - mx));
          for (int64_t j = 0; j <= t; ++j) {
            for (int64_t i = 0; i < hd; ++i) att[h * hd + i] += s[j] / sum * v[j][g * hd + i];
          }
        }
        const auto o = matvec(p + "attn_output.weight", att, "");
        for (int64_t i = 0; i < d; ++i) x[t][i] += o[i];
        const auto h2 = norm(x[t], p + "ffn_norm.weight");
        auto gate = matvec(p + "ffn_gate.weight", h2, "");
        const auto up = matvec(p + "ffn_up.weight", h2, "");
        for (size_t i = 0; i < gate.size(); ++i) gate[i] = gate[i] / (1 + std::exp(-gate[i])) * up[i];
        const auto down = matvec(p + "ffn_down.weight", gate, "");
        for (int64_t i = 0; i < d; ++i) x[t][i] += down[i];
      }
    }
    const auto h = norm(x[static_cast<size_t>(n - 1)], "output_norm.weight");
    return matvec(s_.tied ? "token_embd.weight" : "output.weight", h, "");
  }

  const TinySpec& spec() const { return s_; }

 private:
  struct T {
    std::vector<int64_t> shape;
    std::vector<float> data;
  };

  void add(const std::string& name, std::vector<int64_t> shape, float scale, float offset = 0.0f) {
    int64_t count = 1;
    for (int64_t s : shape) count *= s;
    std::normal_distribution<float> dist(0.0f, scale);
    T t{shape, std::vector<float>(static_cast<size_t>(count))};
    for (auto& v : t.data) v = offset + dist(rng_);
    tensors_[name] = std::move(t);
  }
  std::vector<double> row(const std::string& name, int64_t r) const {
    const T& t = tensors_.at(name);
    const int64_t cols = t.shape[0];
    return {t.data.begin() + r * cols, t.data.begin() + (r + 1) * cols};
  }
  std::vector<double> norm(const std::vector<double>& x, const std::string& w) const {
    double ss = 0;
    for (double v : x) ss += v * v;
    const double scale = 1.0 / std::sqrt(ss / static_cast<double>(x.size()) + s_.rms_eps);
    const T& t = tensors_.at(w);
    std::vector<double> y(x.size());
    for (size_t i = 0; i < x.size(); ++i) y[i] = x[i] * scale * t.data[i];
    return y;
  }
  std::vector<double> matvec(const std::string& name, const std::vector<double>& x, const std::string& bias) const {
    const T& t = tensors_.at(name);
    const int64_t cols = t.shape[0], rows = t.shape[1];
    std::vector<double> y(static_cast<size_t>(rows));
    for (int64_t r = 0; r < rows; ++r) {
      double s = bias.empty() ? 0.0 : tensors_.at(bias).data[static_cast<size_t>(r)];
      for (int64_t c = 0; c < cols; ++c) s += t.data[static_cast<size_t>(r * cols + c)] * x[static_cast<size_t>(c)];
      y[static_cast<size_t>(r)] = s;
    }
    return y;
  }
  void rope(std::vector<double>& v, int64_t n_heads, int64_t pos) const {
    const int64_t hd = s_.head_dim(), half = hd / 2;
    for (int64_t h = 0; h < n_heads; ++h) {
      for (int64_t i = 0; i < half; ++i) {
        double theta = static_cast<double>(pos) * std::pow(static_cast<double>(s_.rope_base),
                                                           -2.0 * static_cast<double>(i) / static_cast<double>(hd));
        if (!s_.rope_freqs.empty()) theta /= s_.rope_freqs[static_cast<size_t>(i)];
        theta /= s_.linear_scale;
        const int64_t a = h * hd + (s_.neox ? i : 2 * i), b = h * hd + (s_.neox ? i + half : 2 * i + 1);
        const double x0 = v[a], x1 = v[b];
        v[a] = x0 * std::cos(theta) - x1 * std::sin(theta);
        v[b] = x0 * std::sin(theta) + x1 * std::cos(theta);
      }
    }
  }

  TinySpec s_;
  std::mt19937 rng_;
  std::map<std::string, T> tensors_;
};

}  // namespace ternion::test
