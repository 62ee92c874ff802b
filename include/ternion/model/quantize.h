// Quantizing a GGUF model into another file type: plain types (Q8_0, Q4_0, TQ2_0, ...) and the mixes users know
// (Q4_K_M, Q3_K_M, ...), which keep sensitive tensors (output, token embedding, some attn_v / ffn_down layers) at
// higher precision by the same rules as llama.cpp's llama-quantize, so files and quality compare one to one.
// The output keeps every metadata key, sets general.file_type and general.quantization_version, and lists
// tensors in llama-quantize's order (non-layer tensors, then layer by layer, by name within each).
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "ternion/core/dtype.h"

namespace ternion {

// A target file type: its name ("Q4_K_M"), the llama_ftype number stored as general.file_type, and the type
// most tensors get.
struct QuantFileType {
  std::string_view name;
  uint32_t ftype;
  DType base;
  std::string_view description;
};

// Every file type we can write, in the order they are listed to users.
const std::vector<QuantFileType>& quant_file_types();

// Looks up a name (case-insensitive; "Q4_K" is an alias of "Q4_K_M" as in llama-quantize). Throws Error
// listing the valid names for an unknown one.
const QuantFileType& quant_file_type(std::string_view name);

// A weight type as convert, quantize and synth all take it: a file type name (Q4_K_M: its base type, Q4_K) or a
// tensor type name (Q4_K, Q8_0, F16), case-insensitive; nullopt for any other name.
std::optional<DType> weight_type_from_name(std::string_view name);

// The type llama-quantize writes instead of `type` for a tensor whose row length (`row`) its blocks do not divide:
// K-quants fall back to the 32-wide types (Q4_K -> Q5_0, Q6_K -> Q8_0, ...), or to F16 where those do not fit
// either. Throws Error naming the tensor for a type without a fallback.
DType quantize_fallback_type(DType type, uint64_t row, const std::string& name);

struct TensorTypeRule {
  std::string pattern;  // ECMAScript regular expression, searched in the tensor name
  DType type;
};

struct QuantizeOptions {
  std::string file_type = "Q4_K_M";
  int n_threads = 1;
  bool allow_requantize = false;  // accept already-quantized input tensors (dequantized first)
  bool pure = false;              // every quantizable tensor gets the base type, no mix rules
  // Tensors going to TQ1_0/TQ2_0 are first ternarized as a whole, as BitNet b1.58 does (s = mean |W|, codes
  // round(W / s) in [-1, 1]; a tensor already ternary keeps its magnitude), instead of block by block. I2_S
  // (one scale per tensor) always is.
  bool ternary_absmean = false;
  std::vector<TensorTypeRule> tensor_types;  // user overrides, first match wins, applied after the mix rules
  // An importance matrix (llama.cpp's GGUF or legacy .dat form; empty: none). Used as llama-quantize uses it:
  // each tensor's rows are quantized against its entry (per expert for 3-D tensors); a tensor without an entry
  // is quantized plainly; an entry whose size is not the tensor's row length (times its experts) is an error
  // (except for token_embd.weight, which is then quantized plainly); the mix rules change a little (Q4_0/Q5_0
  // keep the first eighth of ffn_down at Q4_1/Q5_1, IQ4_NL/IQ4_XS stop raising it to Q5_K); and the output
  // records quantize.imatrix.file, .dataset, .entries_count and .chunks_count.
  std::string imatrix_file;
  std::vector<std::string> imatrix_include;  // keep only entries whose name contains one of these
  std::vector<std::string> imatrix_exclude;  // drop entries whose name contains one of these
};

struct QuantizeProgress {
  size_t index = 0;  // 1-based
  size_t count = 0;
  std::string name;
  DType from = DType::F32;
  DType to = DType::F32;
};

struct QuantizeReport {
  size_t n_tensors = 0;
  size_t n_imatrix = 0;            // tensors quantized with importance weights
  size_t n_quantized = 0;          // tensors whose type changed
  size_t n_fallback = 0;           // tensors whose row length forced another type
  std::vector<std::string> notes;  // one line per fallback (what and why)
  uint64_t bytes_in = 0;           // tensor data of the input
  uint64_t bytes_out = 0;          // tensor data of the output
};

// The type each tensor of `input` will get, in output order (name, type), without writing anything.
std::vector<std::pair<std::string, DType>> plan_quantization(const std::string& input, const QuantizeOptions& options);

// Writes `output` from `input`. Throws Error (and leaves no output file) for an unknown file type, a quantized
// input tensor without allow_requantize, a tensor type without kernels, non-finite weights, an imatrix that
// does not fit the model, or a type that needs an imatrix (IQ1_S, IQ1_M, IQ2_XXS, IQ2_XS, IQ2_S) without one.
// `on_tensor` is called as each tensor is about to be written.
QuantizeReport quantize_model(const std::string& input, const std::string& output, const QuantizeOptions& options,
                              const std::function<void(const QuantizeProgress&)>& on_tensor = {});

}  // namespace ternion
