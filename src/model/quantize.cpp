#include "ternion/model/quantize.h"

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <initializer_list>
#include <regex>
#include <string>

#include "ternion/core/error.h"
#include "ternion/core/thread_pool.h"
#include "ternion/io/gguf.h"
#include "ternion/io/output_file.h"
#include "ternion/model/imatrix.h"
#include "ternion/quant/quant.h"

namespace ternion {

namespace {

// clang-format off
const std::vector<QuantFileType> kFileTypes = {
    {"F32",    0,  DType::F32,    "32-bit float, no quantization"},
    {"F16",    1,  DType::F16,    "16-bit float"},
    {"BF16",   32, DType::BF16,   "bfloat16"},
    {"Q8_0",   7,  DType::Q8_0,   "8.50 bpw"},
    {"Q6_K",   18, DType::Q6_K,   "6.56 bpw"},
    {"Q5_K_M", 17, DType::Q5_K,   "Q5_K, some tensors Q6_K"},
    {"Q5_K_S", 16, DType::Q5_K,   "Q5_K"},
    {"Q5_1",   9,  DType::Q5_1,   "6.00 bpw"},
    {"Q5_0",   8,  DType::Q5_0,   "5.50 bpw"},
    {"Q4_K_M", 15, DType::Q4_K,   "Q4_K, some tensors Q6_K"},
    {"Q4_K_S", 14, DType::Q4_K,   "Q4_K, some tensors Q5_K"},
    {"Q4_1",   3,  DType::Q4_1,   "5.00 bpw"},
    {"Q4_0",   2,  DType::Q4_0,   "4.50 bpw"},
    {"IQ4_NL", 25, DType::IQ4_NL, "4.50 bpw non-linear"},
    {"IQ4_XS", 30, DType::IQ4_XS, "4.25 bpw non-linear"},
    {"Q3_K_L", 13, DType::Q3_K,   "Q3_K, attn_v/ffn_down/attn_output Q5_K"},
    {"Q3_K_M", 12, DType::Q3_K,   "Q3_K, some tensors Q4_K/Q5_K"},
    {"Q3_K_S", 11, DType::Q3_K,   "Q3_K"},
    {"IQ3_M",  27, DType::IQ3_S,  "3.66 bpw IQ3_S mix"},
    {"IQ3_S",  26, DType::IQ3_S,  "3.44 bpw"},
    {"IQ3_XS", 22, DType::IQ3_S,  "3.3 bpw IQ3_S, some tensors IQ3_XXS"},
    {"IQ3_XXS", 23, DType::IQ3_XXS, "3.06 bpw"},
    {"Q2_K",   10, DType::Q2_K,   "Q2_K, attn_v/ffn_down/attn_output Q3_K or Q4_K"},
    {"Q2_K_S", 21, DType::Q2_K,   "Q2_K, needs an imatrix"},
    {"IQ2_M",  29, DType::IQ2_S,  "2.7 bpw, needs an imatrix"},
    {"IQ2_S",  28, DType::IQ2_XS, "2.5 bpw IQ2_XS mix, needs an imatrix"},
    {"IQ2_XS", 20, DType::IQ2_XS, "2.31 bpw, needs an imatrix"},
    {"IQ2_XXS", 19, DType::IQ2_XXS, "2.06 bpw, needs an imatrix"},
    {"IQ1_M",  31, DType::IQ1_M,  "1.75 bpw, needs an imatrix"},
    {"IQ1_S",  24, DType::IQ1_S,  "1.56 bpw, needs an imatrix"},
    {"TQ2_0",  37, DType::TQ2_0,  "2.06 bpw ternary"},
    {"TQ1_0",  36, DType::TQ1_0,  "1.69 bpw ternary"},
    {"I2_S",   40, DType::I2_S,   "2.00 bpw ternary, one scale per tensor (bitnet.cpp)"},
};
// clang-format on

std::string upper(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return out;
}

bool is_block_quantized(DType t) { return t != DType::F32 && t != DType::F16 && t != DType::BF16; }

bool contains(const std::string& s, std::string_view part) { return s.find(part) != std::string::npos; }

bool ends_with(const std::string& s, std::string_view tail) {
  return s.size() >= tail.size() && s.compare(s.size() - tail.size(), tail.size(), tail) == 0;
}

int layer_of(const std::string& name) {
  int layer = -1;
  if (std::sscanf(name.c_str(), "blk.%d.", &layer) != 1) layer = -1;
  return layer;
}

// llama-quantize's tensor order: non-layer tensors first, then by layer number, by name within a layer.
bool output_order(const GgufTensorInfo* a, const GgufTensorInfo* b) {
  const int la = layer_of(a->name), lb = layer_of(b->name);
  if (la != lb) return la < lb;
  return a->name < b->name;
}

// Counters and facts the mix rules depend on, in the spirit of llama-quantize.
struct MixState {
  int64_t n_layer = 0;
  int64_t n_gqa = 1;
  bool has_output = false;
  bool is_70b = false;
  int n_attention_wv = 0;
  int i_attention_wv = 0;
  int n_ffn_down = 0;  // tensors whose name has ffn_down (a MoE layer's experts and shared expert count apart)
  int i_ffn_down = 0;
  int i_ffn_gate = 0;
  int i_ffn_up = 0;
  int64_t n_expert = 0;  // <arch>.expert_count
  bool has_imatrix = false;
};

// The layer of a block tensor's name ("blk.12.ffn_down_exps.weight" -> 12); `fallback` for any other name.
int layer_of(const std::string& name, int fallback) {
  int layer = 0;
  return std::sscanf(name.c_str(), "blk.%d.", &layer) == 1 ? layer : fallback;
}

bool use_more_bits(int i_layer, int n_layers) {
  return i_layer < n_layers / 8 || i_layer >= 7 * n_layers / 8 || (i_layer - n_layers / 8) % 3 == 2;
}

// llama.cpp's file type numbers (general.file_type), as the mix rules name them.
// clang-format off
enum FileTypeId : uint32_t {
  kQ4_0 = 2, kQ5_0 = 8, kQ2_K = 10, kQ3_K_S = 11, kQ3_K_M = 12, kQ3_K_L = 13, kQ4_K_S = 14, kQ4_K_M = 15,
  kQ5_K_M = 17, kIQ2_XXS = 19, kIQ2_XS = 20, kQ2_K_S = 21, kIQ3_XS = 22, kIQ3_XXS = 23, kIQ1_S = 24, kIQ4_NL = 25,
  kIQ3_S = 26, kIQ3_M = 27, kIQ2_S = 28, kIQ2_M = 29, kIQ4_XS = 30, kIQ1_M = 31, kTQ1_0 = 36, kTQ2_0 = 37,
  kI2_S = 40,
};
// clang-format on

bool one_of(uint32_t f, std::initializer_list<uint32_t> set) {
  return std::find(set.begin(), set.end(), f) != set.end();
}

// The file types of 2 bits or fewer, whose attention and ffn_down rules llama-quantize takes apart.
bool very_low_bit(uint32_t f) { return one_of(f, {kIQ2_XXS, kIQ2_XS, kIQ1_S, kIQ2_S, kIQ2_M, kIQ1_M}); }

// output.weight (or the token embedding standing in for it).
DType output_type(uint32_t f, DType type, const GgufTensorInfo& t) {
  if (t.shape[0] % dtype_info(type).block_size != 0) return DType::Q8_0;
  if (one_of(f, {kIQ2_XXS, kIQ2_XS, kIQ3_XXS, kIQ1_S, kIQ2_S, kIQ2_M, kIQ1_M})) return DType::Q5_K;
  return type != DType::Q8_0 ? DType::Q6_K : type;
}

DType token_embd_type(uint32_t f, DType type) {
  if (one_of(f, {kIQ2_XXS, kIQ2_XS, kIQ1_S, kIQ1_M})) return DType::Q2_K;
  if (one_of(f, {kIQ2_S, kIQ2_M, kIQ3_XXS})) return DType::IQ3_S;
  if (one_of(f, {kTQ1_0, kTQ2_0, kI2_S})) return DType::Q4_K;
  return type;
}

// The attention and ffn_down tensors of the very low-bit types (the other tensors keep the base type).
DType very_low_bit_type(MixState& s, uint32_t f, DType type, const std::string& name) {
  const bool iq2_s_or_m = f == kIQ2_S || f == kIQ2_M;
  if (contains(name, "attn_v.weight")) {
    if (s.n_gqa >= 4 || s.n_expert >= 4) {
      type = DType::Q4_K;
    } else {
      type = iq2_s_or_m ? DType::IQ3_S : DType::Q2_K;
    }
    ++s.i_attention_wv;
  } else if (s.n_expert == 8 && contains(name, "attn_k.weight")) {
    type = DType::Q4_K;
  } else if (contains(name, "ffn_down")) {
    if (s.i_ffn_down < s.n_ffn_down / 8) type = iq2_s_or_m ? DType::IQ3_S : DType::Q2_K;
    ++s.i_ffn_down;
  } else if (contains(name, "attn_output.weight")) {
    if (s.n_expert == 8) {
      type = DType::Q5_K;
    } else if (f == kIQ1_S || f == kIQ1_M) {
      type = DType::IQ2_XXS;
    } else if (iq2_s_or_m) {
      type = DType::IQ3_S;
    }
  }
  return type;
}

DType attn_v_type(MixState& s, uint32_t f, DType type) {
  if (f == kQ2_K) {
    type = s.n_gqa >= 4 ? DType::Q4_K : DType::Q3_K;
  } else if (f == kQ2_K_S && s.n_gqa >= 4) {
    type = DType::Q4_K;
  } else if (f == kIQ3_XXS) {
    type = s.n_gqa >= 4 ? DType::Q4_K : !s.has_imatrix ? DType::IQ3_S : DType::IQ3_XXS;
  } else if ((f == kIQ3_XS || f == kIQ3_S) && s.n_gqa >= 4) {
    type = DType::Q4_K;
  } else if (f == kIQ3_M) {
    type = DType::Q4_K;
  } else if (f == kQ3_K_M) {
    type = s.i_attention_wv < 2 ? DType::Q5_K : DType::Q4_K;
  } else if (f == kQ3_K_L) {
    type = DType::Q5_K;
  } else if ((f == kIQ4_NL || f == kIQ4_XS) && s.n_gqa >= 4) {
    type = DType::Q5_K;
  } else if ((f == kQ4_K_M || f == kQ5_K_M) && use_more_bits(s.i_attention_wv, s.n_attention_wv)) {
    type = DType::Q6_K;
  } else if (f == kQ4_K_S && s.i_attention_wv < 4) {
    type = DType::Q5_K;
  }
  if (s.is_70b && (type == DType::Q3_K || type == DType::Q4_K)) type = DType::Q5_K;
  if (s.n_expert == 8) type = DType::Q8_0;  // llama-quantize: for 8 experts, a small price for quality
  ++s.i_attention_wv;
  return type;
}

DType ffn_down_type(MixState& s, uint32_t f, DType type, const std::string& name) {
  // llama-quantize counts ffn_down tensors; with experts it reads the layer from the name instead.
  const int i = s.n_expert > 1 ? layer_of(name, s.i_ffn_down) : s.i_ffn_down;
  const int nd = s.n_ffn_down;
  if (f == kQ2_K) {
    type = DType::Q3_K;
  } else if (f == kQ2_K_S) {
    if (i < nd / 8) type = DType::Q4_K;
  } else if (f == kIQ3_XXS && !s.has_imatrix) {
    type = i < nd / 8 ? DType::Q4_K : DType::Q3_K;
  } else if (f == kQ3_K_M) {
    type = i < nd / 16 ? DType::Q5_K : DType::Q4_K;
  } else if (f == kIQ3_M && (i < nd / 8 || (s.n_expert == 8 && use_more_bits(i, nd)))) {
    type = DType::Q4_K;
  } else if (f == kQ3_K_L) {
    type = DType::Q5_K;
  } else if (f == kQ4_K_M) {
    if (use_more_bits(i, nd)) type = DType::Q6_K;
  } else if (i < nd / 8 && (f == kIQ4_NL || f == kIQ4_XS) && !s.has_imatrix) {
    type = DType::Q5_K;
  } else if (f == kQ5_K_M && use_more_bits(i, nd)) {
    type = DType::Q6_K;
  } else if (f == kQ4_K_S && i < nd / 8) {
    type = DType::Q5_K;
  } else if ((f == kQ4_0 || f == kQ5_0) && s.has_imatrix && i < nd / 8) {
    // llama-quantize guards the first ffn_down layers of Q4_0/Q5_0 only with an imatrix, so that files made
    // without one stay as they were.
    type = f == kQ4_0 ? DType::Q4_1 : DType::Q5_1;
  }
  ++s.i_ffn_down;
  return type;
}

// ffn_gate and ffn_up: IQ3_XS keeps its middle layers at IQ3_XXS. `counter` is the tensor count so far.
DType ffn_gate_up_type(const MixState& s, uint32_t f, DType type, const std::string& name, int& counter) {
  const int i = s.n_expert > 1 ? layer_of(name, counter) : counter;
  const auto n = static_cast<int>(s.n_layer);
  if (f == kIQ3_XS && i >= n / 8 && i < 7 * n / 8) type = DType::IQ3_XXS;
  ++counter;
  return type;
}

// The mix rules for one quantizable tensor (called in output order: the counters advance as they go).
DType mix_type(MixState& s, const QuantFileType& ft, const GgufTensorInfo& t) {
  const std::string& name = t.name;
  const uint32_t f = ft.ftype;
  const DType type = ft.base;
  if (name == "output.weight" || (!s.has_output && name == "token_embd.weight")) return output_type(f, type, t);
  if (name == "token_embd.weight") return token_embd_type(f, type);
  if (very_low_bit(f)) return very_low_bit_type(s, f, type, name);
  if (contains(name, "attn_v.weight")) return attn_v_type(s, f, type);
  if (contains(name, "attn_k.weight") || contains(name, "attn_q.weight")) {
    if (s.n_expert == 8 && contains(name, "attn_k.weight")) return DType::Q8_0;
    if (f == kIQ3_XS) return DType::IQ3_XXS;
    if (f == kIQ3_XXS) return DType::IQ2_S;
    return type;
  }
  if (contains(name, "ffn_down")) return ffn_down_type(s, f, type, name);
  if (contains(name, "attn_output.weight")) {
    static constexpr uint32_t kMoeQ5K[] = {kQ2_K,    kQ3_K_S, kQ3_K_M, kQ4_K_S, kQ4_K_M, kIQ3_XS,
                                           kIQ3_XXS, kIQ4_NL, kIQ3_S,  kIQ3_M,  kIQ4_XS};
    if (s.n_expert == 8) {
      // llama-quantize's rule for 8 experts (Mixtral)
      return std::find(std::begin(kMoeQ5K), std::end(kMoeQ5K), f) != std::end(kMoeQ5K) ? DType::Q5_K : type;
    }
    if (f == kQ2_K) return DType::Q3_K;
    if (f == kIQ3_XXS) return DType::IQ3_S;
    if (f == kQ3_K_M || f == kIQ3_M) return DType::Q4_K;
    if (f == kQ3_K_L) return DType::Q5_K;
    return type;
  }
  if (contains(name, "attn_qkv.weight")) {
    if (f == kQ3_K_M || f == kQ3_K_L || f == kIQ3_M) return DType::Q4_K;
    if (f == kQ4_K_M) return DType::Q5_K;
    if (f == kQ5_K_M) return DType::Q6_K;
    return type;
  }
  if (contains(name, "ffn_gate")) return ffn_gate_up_type(s, f, type, name, s.i_ffn_gate);
  if (contains(name, "ffn_up")) return ffn_gate_up_type(s, f, type, name, s.i_ffn_up);
  return type;
}

bool quantizable(const GgufTensorInfo& t) {
  const std::string& n = t.name;
  return ends_with(n, "weight") && t.shape.size() >= 2 && !contains(n, "_norm.weight") &&
         !contains(n, "ffn_gate_inp.weight") && n != "position_embd.weight" && n != "token_types.weight";
}

struct Plan {
  std::vector<const GgufTensorInfo*> order;
  std::vector<DType> types;
  std::vector<std::string> notes;
  size_t n_fallback = 0;
};

Plan make_plan(const GgufFile& in, const QuantizeOptions& o, bool has_imatrix) {
  const QuantFileType& ft = quant_file_type(o.file_type);
  std::vector<std::pair<std::regex, DType>> rules;
  for (const auto& r : o.tensor_types) {
    try {
      rules.emplace_back(std::regex(r.pattern), r.type);
    } catch (const std::regex_error& e) {
      throw Error("tensor type pattern '" + r.pattern + "' is not a valid regular expression: " + e.what());
    }
  }
  Plan p;
  for (const auto& t : in.tensors()) p.order.push_back(&t);
  std::stable_sort(p.order.begin(), p.order.end(), output_order);

  MixState s;
  s.has_imatrix = has_imatrix;
  const std::string arch = in.get_string("general.architecture").value_or("");
  s.n_layer = in.get_int(arch + ".block_count").value_or(0);
  const int64_t n_head = in.get_int(arch + ".attention.head_count").value_or(1);
  const int64_t n_head_kv = in.get_int(arch + ".attention.head_count_kv").value_or(n_head);
  s.n_gqa = n_head_kv > 0 ? n_head / n_head_kv : 1;
  s.is_70b = s.n_layer == 80;
  s.n_expert = in.get_int(arch + ".expert_count").value_or(0);  // llama.cpp's 70B size class (Llama 2/3 70B, Qwen2 72B)
  for (const auto* t : p.order) {
    if (contains(t->name, "attn_v.weight") || contains(t->name, "attn_qkv.weight")) ++s.n_attention_wv;
    if (contains(t->name, "ffn_down")) ++s.n_ffn_down;
    if (t->name == "output.weight") s.has_output = true;
  }

  const bool mix = !o.pure && is_block_quantized(ft.base);
  for (const auto* t : p.order) {
    DType type = t->type;
    if (quantizable(*t)) {
      type = mix ? mix_type(s, ft, *t) : ft.base;
      for (const auto& [re, forced] : rules) {
        if (std::regex_search(t->name, re)) {
          type = forced;
          break;
        }
      }
      // I2_S has one scale per tensor: an embedding (read row by row) or a stack of experts keeps another type.
      if (type == DType::I2_S && (t->name == "token_embd.weight" || t->shape.size() > 2)) {
        const DType alt = t->shape.size() > 2 ? DType::TQ2_0 : DType::F16;
        p.notes.push_back(t->name + ": I2_S is for single projections, using " + std::string(dtype_info(alt).name));
        type = alt;
      }
      if (t->shape[0] % dtype_info(type).block_size != 0) {
        const DType alt = quantize_fallback_type(type, t->shape[0], t->name);
        p.notes.push_back(t->name + ": row length " + std::to_string(t->shape[0]) + " is not a multiple of the " +
                          std::string(dtype_info(type).name) + " block size, using " +
                          std::string(dtype_info(alt).name));
        ++p.n_fallback;
        type = alt;
      }
    }
    if (type != t->type) {
      if (is_block_quantized(t->type) && !o.allow_requantize) {
        throw Error("tensor " + t->name + " is already " + std::string(dtype_info(t->type).name) +
                    "; requantizing loses quality, pass --allow-requantize to do it anyway");
      }
    }
    p.types.push_back(type);
  }
  return p;
}

// The scale a type keeps after a tensor's rows (I2_S), else 1.
float tail_scale(const GgufTensorInfo& t) {
  const DTypeInfo& info = dtype_info(t.type);
  if (info.tail_bytes == 0) return 1.0f;
  float s = 0;
  std::memcpy(&s, t.data + (t.n_bytes - info.tail_bytes), sizeof(float));
  return s;
}

// Whether a tensor is written through ternarize_tensor: I2_S always (one scale per tensor), the TQ types with
// `absmean`.
bool whole_tensor_ternary(DType to, bool absmean) {
  return to == DType::I2_S || (absmean && (to == DType::TQ1_0 || to == DType::TQ2_0));
}

// One tensor as ternary codes and one scale (in place: w becomes the codes). A tensor that is already ternary
// ({-a, 0, +a}) keeps a as its scale, exactly; any other is ternarized as BitNet b1.58 does: s = mean |w| (at least
// 1e-5), codes round(w / s) clamped to [-1, 1].
float ternarize_tensor(std::vector<float>& w) {
  float a = 0;
  bool ternary = true;
  double sum = 0;
  for (const float v : w) {
    const float m = std::fabs(v);
    sum += m;
    if (m != 0 && a == 0) a = m;
    ternary = ternary && (m == 0 || m == a);
  }
  const float s = ternary && a > 0 ? a : std::max(static_cast<float>(sum / static_cast<double>(w.size())), 1e-5f);
  for (float& v : w) v = std::clamp(std::nearbyint(v / s), -1.0f, 1.0f);
  return s;
}

// A whole tensor ternarized (ternarize_tensor), then written as `to`: I2_S codes with the scale after them, or
// TQ1_0/TQ2_0 blocks of codes times the scale.
void convert_ternary(const GgufTensorInfo& t, DType to, std::span<uint8_t> out) {
  const int64_t row = static_cast<int64_t>(t.shape[0]);
  const int64_t n_rows = static_cast<int64_t>(t.n_elements) / std::max<int64_t>(row, 1);
  const size_t in_row = row_bytes(dtype_info(t.type), static_cast<uint64_t>(row));
  const size_t out_row = row_bytes(dtype_info(to), static_cast<uint64_t>(row));
  std::vector<float> w(static_cast<size_t>(t.n_elements));
  const float in_scale = tail_scale(t);
  for (int64_t r = 0; r < n_rows; ++r) {
    quant_traits(t.type).to_float(t.data + static_cast<size_t>(r) * in_row, w.data() + r * row, row);
  }
  for (float& v : w) {
    v *= in_scale;
    if (!std::isfinite(v)) throw Error("tensor " + t.name + " holds a NaN or infinite value");
  }
  const float s = ternarize_tensor(w);
  if (to != DType::I2_S) {
    for (float& v : w) v *= s;
  }
  for (int64_t r = 0; r < n_rows; ++r) {
    quantize_weights(to, w.data() + r * row, out.data() + static_cast<size_t>(r) * out_row, row);
  }
  if (to == DType::I2_S) {
    uint8_t* tail = out.data() + static_cast<size_t>(n_rows) * out_row;
    std::fill(tail, out.data() + out.size(), uint8_t{0});
    std::memcpy(tail, &s, sizeof(float));
  }
}

// Converts one tensor: rows dequantized to floats and quantized again, in chunks of rows spread over the pool.
// The chunks are llama-quantize's (about 16 Ki values, restarting at each matrix of a 3-D tensor), since IQ1_S and
// IQ1_M carry state from row to row within one; the bytes do not depend on the thread count.
// `importance`: null, or n_mat × row values (matrix m's columns at m * row) for a tensor of n_mat matrices.
void convert_tensor(const GgufTensorInfo& t, DType to, const float* importance, ThreadPool& pool,
                    std::span<uint8_t> out) {
  const int64_t row = static_cast<int64_t>(t.shape[0]);
  const int64_t n_rows = static_cast<int64_t>(t.n_elements) / std::max<int64_t>(row, 1);
  const size_t in_row = row_bytes(dtype_info(t.type), static_cast<uint64_t>(row));
  const size_t out_row = row_bytes(dtype_info(to), static_cast<uint64_t>(row));
  const QuantTraits& from = quant_traits(t.type);
  const auto rows_per_matrix = std::max<int64_t>(1, static_cast<int64_t>(t.shape.size() > 1 ? t.shape[1] : 1));
  const float in_scale = tail_scale(t);
  const int64_t rows_per_chunk = std::max<int64_t>(1, (32 * 512 + row - 1) / std::max<int64_t>(row, 1));
  const int64_t chunks_per_matrix = (rows_per_matrix + rows_per_chunk - 1) / rows_per_chunk;
  const int64_t n_mat = (n_rows + rows_per_matrix - 1) / rows_per_matrix;
  std::atomic<int64_t> bad_row{-1};
  pool.parallel_for(static_cast<size_t>(n_mat * chunks_per_matrix), [&](size_t c) {
    const int64_t m = static_cast<int64_t>(c) / chunks_per_matrix;
    const int64_t r0 = m * rows_per_matrix + (static_cast<int64_t>(c) % chunks_per_matrix) * rows_per_chunk;
    const int64_t r1 = std::min({n_rows, r0 + rows_per_chunk, (m + 1) * rows_per_matrix});
    std::vector<float> buf(static_cast<size_t>((r1 - r0) * row));
    for (int64_t r = r0; r < r1; ++r) {
      float* x = buf.data() + (r - r0) * row;
      from.to_float(t.data + static_cast<size_t>(r) * in_row, x, row);
      for (float* v = x; v != x + row; ++v) *v *= in_scale;
      if (!std::all_of(x, x + row, [](float v) { return std::isfinite(v); })) {
        bad_row = r;
        return;
      }
    }
    const float* qw = importance != nullptr ? importance + m * row : nullptr;
    quantize_weights_rows(to, buf.data(), out.data() + static_cast<size_t>(r0) * out_row, r1 - r0, row, qw);
  });
  if (bad_row >= 0) {
    throw Error("tensor " + t.name + " holds a NaN or infinite value in row " + std::to_string(bad_row.load()));
  }
}

// The importance matrix as llama-quantize takes it: read, then filtered by the include/exclude lists (an
// imatrix left without entries counts as none).
std::optional<Imatrix> load_importance(const QuantizeOptions& o) {
  if (o.imatrix_file.empty()) {
    if (!o.imatrix_include.empty() || !o.imatrix_exclude.empty()) {
      throw Error("quantize: --include-weights and --exclude-weights need --imatrix");
    }
    return std::nullopt;
  }
  if (!o.imatrix_include.empty() && !o.imatrix_exclude.empty()) {
    throw Error("quantize: give --include-weights or --exclude-weights, not both");
  }
  Imatrix im = read_imatrix(o.imatrix_file);
  auto matches = [](const std::string& name, const std::vector<std::string>& parts) {
    return std::any_of(parts.begin(), parts.end(), [&](const std::string& p) { return contains(name, p); });
  };
  for (auto it = im.entries.begin(); it != im.entries.end();) {
    const bool drop = (!o.imatrix_exclude.empty() && matches(it->first, o.imatrix_exclude)) ||
                      (!o.imatrix_include.empty() && !matches(it->first, o.imatrix_include));
    it = drop ? im.entries.erase(it) : std::next(it);
  }
  if (im.entries.empty()) return std::nullopt;
  return im;
}

// An entry's importance weights, matrix after matrix: the mean square of each column. A matrix that saw no
// token keeps its raw values where it has any (what llama-quantize does with a legacy entry of call count 0)
// and otherwise gets weights of 1 (what llama.cpp does with such a GGUF entry), so that it is not zeroed.
std::vector<float> importance_of(const ImatrixEntry& e) {
  const int64_t cols = e.cols();
  std::vector<float> out(e.sums);
  for (int64_t m = 0; m < e.n_mat(); ++m) {
    const float n = e.counts[static_cast<size_t>(m)];
    float* v = out.data() + m * cols;
    if (n > 0) {
      for (int64_t j = 0; j < cols; ++j) v[j] /= n;
    } else if (std::all_of(v, v + cols, [](float x) { return x == 0.0f; })) {
      std::fill(v, v + cols, 1.0f);
    }
  }
  return out;
}

// Types whose quantizers give garbage without importance weights (llama-quantize refuses them too; IQ1_M is
// allowed for the token embedding and output, which it never gets from the mix rules without a user rule).
// Q2_K_S is Q2_K without the mix's larger types, which only an imatrix makes good enough.
bool needs_importance(DType type, uint32_t ftype, const std::string& name) {
  if (type == DType::IQ1_M) return name != "token_embd.weight" && name != "output.weight";
  if (type == DType::Q2_K && ftype == kQ2_K_S) return name != "token_embd.weight";
  return type == DType::IQ2_XXS || type == DType::IQ2_XS || type == DType::IQ2_S || type == DType::IQ1_S;
}

// Per tensor of the plan, its importance weights (empty: none), checked against the tensor's shape.
std::vector<std::vector<float>> match_importance(const Plan& plan, uint32_t ftype, const Imatrix* im,
                                                 std::vector<std::string>& notes) {
  std::vector<std::vector<float>> out(plan.order.size());
  for (size_t i = 0; i < plan.order.size(); ++i) {
    const GgufTensorInfo& t = *plan.order[i];
    if (plan.types[i] == t.type) continue;
    const ImatrixEntry* e = im != nullptr ? im->find(t.name) : nullptr;
    if (e != nullptr) {
      const uint64_t want = t.shape[0] * (t.shape.size() > 2 ? t.shape[2] : 1);
      if (e->sums.size() == want) {
        out[i] = importance_of(*e);
      } else if (t.name != "token_embd.weight") {
        throw Error("imatrix " + std::to_string(e->sums.size()) + " values for " + t.name + ", which needs " +
                    std::to_string(want) + " (one per column" + (t.shape.size() > 2 ? " of each expert" : "") +
                    "): the imatrix was made for another model");
      }
    } else if (im != nullptr) {
      notes.push_back(t.name + ": no imatrix entry, quantized without one");
    }
    if (out[i].empty() && needs_importance(plan.types[i], ftype, t.name)) {
      throw Error("tensor " + t.name + ": type " + std::string(dtype_info(plan.types[i]).name) +
                  " needs an importance matrix (--imatrix); without one the result is garbage");
    }
  }
  return out;
}

// The keys llama-quantize adds for an imatrix (strings cut to 127 bytes, as it does).
void record_imatrix(GgufWriter& w, const Imatrix& im, const std::string& path) {
  const auto put_string = [&w](const std::string& key, const std::string& v) {
    w.remove(key);
    w.set_string(key, v.substr(0, 127));
  };
  const auto put_i32 = [&w](const std::string& key, int64_t v) {
    w.remove(key);
    w.set_i32(key, static_cast<int32_t>(v));
  };
  put_string("quantize.imatrix.file", path);
  if (!im.datasets.empty() && !im.datasets.front().empty()) put_string("quantize.imatrix.dataset", im.datasets.front());
  put_i32("quantize.imatrix.entries_count", static_cast<int64_t>(im.entries.size()));
  if (im.chunk_count > 0) put_i32("quantize.imatrix.chunks_count", im.chunk_count);
}

}  // namespace

DType quantize_fallback_type(DType type, uint64_t row, const std::string& name) {
  DType alt;
  switch (type) {
    case DType::TQ1_0:
    case DType::TQ2_0:
    case DType::I2_S:
      alt = DType::Q4_0;
      break;
    case DType::IQ1_S:
    case DType::IQ1_M:
    case DType::IQ2_XXS:
    case DType::IQ2_XS:
    case DType::IQ2_S:
    case DType::IQ3_XXS:
    case DType::IQ3_S:
    case DType::Q2_K:
    case DType::Q3_K:
    case DType::IQ4_XS:
      alt = DType::IQ4_NL;
      break;
    case DType::Q4_K:
      alt = DType::Q5_0;
      break;
    case DType::Q5_K:
      alt = DType::Q5_1;
      break;
    case DType::Q6_K:
      alt = DType::Q8_0;
      break;
    default:
      throw Error("tensor " + name + ": row length " + std::to_string(row) + " is not a multiple of the " +
                  std::string(dtype_info(type).name) + " block size " + std::to_string(dtype_info(type).block_size));
  }
  return row % dtype_info(alt).block_size == 0 ? alt : DType::F16;
}

const std::vector<QuantFileType>& quant_file_types() { return kFileTypes; }

const QuantFileType& quant_file_type(std::string_view name) {
  std::string key = upper(name);
  if (key == "Q3_K") key = "Q3_K_M";
  if (key == "Q4_K") key = "Q4_K_M";
  if (key == "Q5_K") key = "Q5_K_M";
  for (const auto& ft : kFileTypes) {
    if (ft.name == key) return ft;
  }
  std::string known;
  for (const auto& ft : kFileTypes) known += (known.empty() ? "" : ", ") + std::string(ft.name);
  throw Error("unknown quantization type '" + std::string(name) + "'; known: " + known);
}

std::optional<DType> weight_type_from_name(std::string_view name) {
  // A type's own name first: the file type IQ2_S is mostly IQ2_XS, the type IQ2_S is not.
  if (const std::optional<DType> t = dtype_from_name(name)) return t;
  const std::string key = upper(name);
  for (const auto& ft : kFileTypes) {
    if (ft.name == key) return ft.base;
  }
  return std::nullopt;
}

std::vector<std::pair<std::string, DType>> plan_quantization(const std::string& input, const QuantizeOptions& options) {
  const GgufFile in = GgufFile::open(input);
  const Plan p = make_plan(in, options, load_importance(options).has_value());
  std::vector<std::pair<std::string, DType>> out;
  for (size_t i = 0; i < p.order.size(); ++i) out.emplace_back(p.order[i]->name, p.types[i]);
  return out;
}

QuantizeReport quantize_model(const std::string& input, const std::string& output, const QuantizeOptions& options,
                              const std::function<void(const QuantizeProgress&)>& on_tensor) {
  if (options.n_threads < 1) throw Error("quantize: thread count must be positive");
  const std::string inputs[] = {input};
  check_output_is_not_an_input(output, inputs);  // before the work, not only when the writing starts
  const GgufFile in = GgufFile::open(input);
  const std::optional<Imatrix> im = load_importance(options);
  const Plan plan = make_plan(in, options, im.has_value());
  const QuantFileType& ft = quant_file_type(options.file_type);
  std::vector<std::string> notes = plan.notes;
  const std::vector<std::vector<float>> importance = match_importance(plan, ft.ftype, im ? &*im : nullptr, notes);
  for (size_t i = 0; i < plan.order.size(); ++i) {
    const GgufTensorInfo& t = *plan.order[i];
    const DType to = plan.types[i];
    if (to != t.type && (!has_quant_traits(to) || !has_quant_traits(t.type))) {
      const DType missing = has_quant_traits(to) ? t.type : to;
      throw Error("tensor " + t.name + ": type " + std::string(dtype_info(missing).name) +
                  " is not supported for quantization yet");
    }
  }

  GgufWriter w;
  for (const auto& [key, value] : in.metadata()) w.set(key, value);
  // Set as llama-quantize sets them: each key moves to the end of the metadata.
  w.remove("general.quantization_version");
  w.set_u32("general.quantization_version", 2);
  w.remove("general.file_type");
  w.set_u32("general.file_type", ft.ftype);
  if (im) record_imatrix(w, *im, options.imatrix_file);

  QuantizeReport report;
  report.n_tensors = plan.order.size();
  report.n_fallback = plan.n_fallback;
  report.notes = notes;
  ThreadPool pool(options.n_threads);
  for (size_t i = 0; i < plan.order.size(); ++i) {
    const GgufTensorInfo& t = *plan.order[i];
    const DType to = plan.types[i];
    report.bytes_in += t.n_bytes;
    report.bytes_out += tensor_bytes(dtype_info(to), t.n_elements);
    if (to != t.type) ++report.n_quantized;
    const float* qw = importance[i].empty() ? nullptr : importance[i].data();
    if (qw != nullptr && quantize_takes_importance(to)) ++report.n_imatrix;
    QuantizeProgress progress{i + 1, plan.order.size(), t.name, t.type, to};
    const bool ternary = to != t.type && whole_tensor_ternary(to, options.ternary_absmean);
    w.add_streamed_tensor(t.name, t.shape, to,
                          [&t, to, qw, ternary, &pool, progress, &on_tensor](std::span<uint8_t> out) {
                            if (on_tensor) on_tensor(progress);
                            if (to == t.type) {
                              std::copy_n(t.data, t.n_bytes, out.begin());
                            } else if (ternary) {
                              convert_ternary(t, to, out);
                            } else {
                              convert_tensor(t, to, qw, pool, out);
                            }
                          });
  }
  w.write(output, in.alignment(), inputs);
  return report;
}

}  // namespace ternion
