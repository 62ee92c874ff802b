// The registry of tensor types that have kernels, and the choice of the best record for this CPU.
// Adding a type: its own files (header, reference + record, ISA kernels) and one line in kTypes.
#include "ternion/quant/quant.h"

#include <algorithm>
#include <array>
#include <string>

#include "quant/bf16.h"
#include "quant/f16.h"
#include "quant/f32.h"
#include "quant/i2_s.h"
#include "quant/iq1.h"
#include "quant/iq2.h"
#include "quant/iq3.h"
#include "quant/iq4_nl.h"
#include "quant/iq4_xs.h"
#include "quant/q2_k.h"
#include "quant/q3_k.h"
#include "quant/q4_0.h"
#include "quant/q4_1.h"
#include "quant/q4_k.h"
#include "quant/q5_0.h"
#include "quant/q5_1.h"
#include "quant/q5_k.h"
#include "quant/q6_k.h"
#include "quant/q8_0.h"
#include "quant/q8_k.h"
#include "quant/tq1_0.h"
#include "quant/tq2_0.h"
#include "quant/weighted_quant.h"
#include "ternion/core/cpu_features.h"
#include "ternion/core/error.h"

namespace ternion {

namespace {

struct TypeKernels {
  DType type;
  const QuantTraits* (*traits)(Isa isa);  // the record of exactly one level, or nullptr
};

// One line per type.
// clang-format off
constexpr TypeKernels kTypes[] = {
    {DType::F32, quant::f32_traits},
    {DType::F16, quant::f16_traits},
    {DType::BF16, quant::bf16_traits},
    {DType::Q8_0, quant::q8_0_traits},
    {DType::Q4_0, quant::q4_0_traits},
    {DType::Q4_1, quant::q4_1_traits},
    {DType::Q5_0, quant::q5_0_traits},
    {DType::Q5_1, quant::q5_1_traits},
    {DType::IQ4_NL, quant::iq4_nl_traits},
    {DType::IQ4_XS, quant::iq4_xs_traits},
    {DType::IQ2_XXS, quant::iq2_xxs_traits},
    {DType::IQ2_XS, quant::iq2_xs_traits},
    {DType::IQ2_S, quant::iq2_s_traits},
    {DType::IQ3_XXS, quant::iq3_xxs_traits},
    {DType::IQ3_S, quant::iq3_s_traits},
    {DType::IQ1_S, quant::iq1_s_traits},
    {DType::IQ1_M, quant::iq1_m_traits},
    {DType::Q2_K, quant::q2_k_traits},
    {DType::Q3_K, quant::q3_k_traits},
    {DType::Q4_K, quant::q4_k_traits},
    {DType::Q5_K, quant::q5_k_traits},
    {DType::Q6_K, quant::q6_k_traits},
    {DType::Q8_K, quant::q8_k_traits},
    {DType::TQ1_0, quant::tq1_0_traits},
    {DType::TQ2_0, quant::tq2_0_traits},
    {DType::I2_S, quant::i2_s_traits},
};
// clang-format on

constexpr size_t kMaxTypeId = 64;  // GGUF type ids are small; a table indexed by id keeps look-ups cheap

const TypeKernels* find_type(DType type) {
  for (const auto& t : kTypes) {
    if (t.type == type) return &t;
  }
  return nullptr;
}

constexpr int kIsaLevels = static_cast<int>(Isa::NeonI8mm) + 1;

// The widest record of a type at or below the given level that this CPU runs.
const QuantTraits* best_record(const TypeKernels& kernels, Isa level) {
  for (int l = static_cast<int>(level); l >= 0; --l) {
    if (!isa_runs(static_cast<Isa>(l))) continue;
    if (const QuantTraits* r = kernels.traits(static_cast<Isa>(l))) return r;
  }
  return nullptr;
}

using Table = std::array<const QuantTraits*, kMaxTypeId>;

Table build_table(Isa level) {
  Table table{};
  for (const auto& t : kTypes) {
    const auto id = static_cast<size_t>(t.type);
    if (id < kMaxTypeId) table[id] = best_record(t, level);
  }
  return table;
}

const QuantTraits* lookup(DType type, bool reference) {
  static const Table best = build_table(best_isa());
  static const Table ref = build_table(Isa::Scalar);
  const auto id = static_cast<size_t>(type);
  if (id >= kMaxTypeId) return nullptr;
  return reference ? ref[id] : best[id];
}

[[noreturn]] void throw_unsupported(DType type) {
  const auto info = dtype_info(static_cast<uint32_t>(type));
  const std::string name = info ? std::string(info->name) : "id " + std::to_string(static_cast<uint32_t>(type));
  throw Error("tensor type " + name + " is not supported yet");
}

}  // namespace

std::string_view isa_name(Isa isa) {
  switch (isa) {
    case Isa::Scalar:
      return "scalar";
    case Isa::Avx2:
      return "avx2";
    case Isa::AvxVnni:
      return "avxvnni";
    case Isa::Avx512:
      return "avx512";
    case Isa::Avx512Vnni:
      return "avx512vnni";
    case Isa::Neon:
      return "neon";
    case Isa::NeonDot:
      return "neon_dot";
    case Isa::NeonI8mm:
      return "neon_i8mm";
  }
  return "unknown";
}

bool isa_runs(Isa isa) {
  const CpuFeatures& f = cpu_features();
  (void)f;  // used on x86-64 and ARM64 only
  switch (isa) {
    case Isa::Scalar:
      return true;
#if defined(__x86_64__)
    case Isa::Avx2:
      return f.has_avx2();
    case Isa::AvxVnni:
      return f.has_avx2() && f.avx_vnni;
    case Isa::Avx512:
      return f.has_avx512();
    case Isa::Avx512Vnni:
      return f.has_avx512_kernels();
#elif defined(__aarch64__)
    case Isa::Neon:
      return f.neon;
    case Isa::NeonDot:
      return f.neon && f.neon_dotprod;
    case Isa::NeonI8mm:
      return f.neon && f.neon_dotprod && f.neon_i8mm;
#endif
    default:
      return false;
  }
}

Isa best_isa() {
  for (int l = kIsaLevels - 1; l > 0; --l) {
    if (isa_runs(static_cast<Isa>(l))) return static_cast<Isa>(l);
  }
  return Isa::Scalar;
}

const QuantTraits& quant_traits(DType type) {
  const QuantTraits* r = lookup(type, false);
  if (r == nullptr) throw_unsupported(type);
  return *r;
}

const QuantTraits& quant_traits_reference(DType type) {
  const QuantTraits* r = lookup(type, true);
  if (r == nullptr) throw_unsupported(type);
  return *r;
}

bool has_quant_traits(DType type) { return lookup(type, true) != nullptr; }

std::vector<const QuantTraits*> quant_traits_variants(DType type) {
  std::vector<const QuantTraits*> out;
  const TypeKernels* kernels = find_type(type);
  if (kernels == nullptr) throw_unsupported(type);
  for (int l = 0; l < kIsaLevels; ++l) {
    if (!isa_runs(static_cast<Isa>(l))) continue;
    if (const QuantTraits* r = kernels->traits(static_cast<Isa>(l))) out.push_back(r);
  }
  return out;
}

void dequantize_row(DType type, const void* src, float* dst, int64_t n) {
  const DTypeInfo& info = dtype_info(type);
  if (n < 0 || n % info.block_size != 0) {
    throw Error("dequantize_row: " + std::to_string(n) + " elements of " + std::string(info.name) +
                " is not a whole number of blocks of " + std::to_string(info.block_size));
  }
  quant_traits(type).to_float(src, dst, n);
}

void quantize_weights(DType type, const float* src, void* dst, int64_t n) {
  const DTypeInfo& info = dtype_info(type);
  if (n < 0 || n % info.block_size != 0) {
    throw Error("quantize_weights: " + std::to_string(n) + " elements of " + std::string(info.name) +
                " is not a whole number of blocks of " + std::to_string(info.block_size));
  }
  if (type == DType::Q8_0) {
    quant::q8_0_quantize_weights_ref(src, dst, n);
    return;
  }
  const QuantTraits& ref = quant_traits_reference(type);
  if (ref.from_float == nullptr) {
    throw Error("quantize_weights: quantizing to " + std::string(info.name) + " is not supported yet");
  }
  ref.from_float(src, dst, n);
}

void quantize_weights(DType type, const float* src, void* dst, int64_t n, const float* importance) {
  if (importance == nullptr || !quant::takes_importance(type)) return quantize_weights(type, src, dst, n);
  const DTypeInfo& info = dtype_info(type);
  if (n < 0 || n % info.block_size != 0) {
    throw Error("quantize_weights: " + std::to_string(n) + " elements of " + std::string(info.name) +
                " is not a whole number of blocks of " + std::to_string(info.block_size));
  }
  quant::quantize_row_weighted(type, src, dst, n, importance);
}

void quantize_weights_rows(DType type, const float* src, void* dst, int64_t n_rows, int64_t n,
                           const float* importance) {
  const size_t stride = row_bytes(dtype_info(type), static_cast<uint64_t>(std::max<int64_t>(n, 0)));
  if (n_rows > 0 && n % dtype_info(type).block_size == 0) {
    if (type == DType::IQ1_S && importance != nullptr) return quant::iq1_s_quantize(src, dst, n_rows, n, importance);
    // IQ1_M also runs without importance (weights x^2), as GGUF's does for a token embedding or output.
    if (type == DType::IQ1_M) return quant::iq1_m_quantize(src, dst, n_rows, n, importance);
  }
  for (int64_t r = 0; r < n_rows; ++r) {
    quantize_weights(type, src + r * n, static_cast<uint8_t*>(dst) + static_cast<size_t>(r) * stride, n, importance);
  }
}

bool quantize_takes_importance(DType type) { return quant::takes_importance(type); }

void fp16_to_fp32_row(const uint16_t* src, float* dst, int64_t n) { quant_traits(DType::F16).to_float(src, dst, n); }

void fp32_to_fp16_row(const float* src, uint16_t* dst, int64_t n) { quant_traits(DType::F16).from_float(src, dst, n); }

}  // namespace ternion
