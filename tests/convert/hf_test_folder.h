// HuggingFace model folders written by the tests: safetensors and tokenizer.model bytes assembled here (independently
// of the readers), and a folder holding a TinyModel's weights the way transformers saves them (Q/K rows of llama in
// rotate-half order), so that the folder, its conversion and the TinyModel's own GGUF can be compared.
#pragma once

#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "model/tiny_model.h"
#include "ternion/core/fp16.h"
#include "ternion/io/gguf.h"

namespace ternion::test {

namespace fs = std::filesystem;

struct StTensor {
  std::string name;
  std::string dtype;            // "F32", "F16", "BF16", ...
  std::vector<uint64_t> shape;  // HF order
  std::vector<uint8_t> data;
};

// u64 header size, the JSON header (padded with spaces to 8 bytes, as writers do; `pad_to` 1 with `odd` makes the
// data area start at an odd offset), then the data in order.
inline std::vector<uint8_t> safetensors_bytes(const std::vector<StTensor>& tensors,
                                              const std::map<std::string, std::string>& metadata = {{"format", "pt"}},
                                              bool odd = false) {
  nlohmann::json header = nlohmann::json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  uint64_t offset = 0;
  for (const StTensor& t : tensors) {
    header[t.name] = {{"dtype", t.dtype}, {"shape", t.shape}, {"data_offsets", {offset, offset + t.data.size()}}};
    offset += t.data.size();
  }
  std::string text = header.dump();
  text.resize((text.size() + 7) / 8 * 8, ' ');
  if (odd) text += ' ';
  std::vector<uint8_t> out;
  for (size_t i = 0; i < 8; ++i) out.push_back(static_cast<uint8_t>(static_cast<uint64_t>(text.size()) >> (8 * i)));
  out.insert(out.end(), text.begin(), text.end());
  for (const StTensor& t : tensors) out.insert(out.end(), t.data.begin(), t.data.end());
  return out;
}

// Protobuf wire format, just enough for a ModelProto.
inline void pb_varint(std::string& out, uint64_t v) {
  do {
    const auto byte = static_cast<uint8_t>(v & 0x7F);
    v >>= 7;
    out.push_back(static_cast<char>(v != 0 ? byte | 0x80 : byte));
  } while (v != 0);
}
inline void pb_len(std::string& out, uint32_t field, const std::string& payload) {
  pb_varint(out, (uint64_t{field} << 3) | 2);
  pb_varint(out, payload.size());
  out += payload;
}

struct SpmPiece {
  std::string text;
  float score;
  int type;  // 1 normal, 2 unknown, 3 control, 4 user-defined, 5 unused, 6 byte
};

// tokenizer.model bytes: the pieces, then a trainer_spec with model_type (2: BPE).
inline std::string spm_model_bytes(const std::vector<SpmPiece>& pieces, int model_type = 2) {
  std::string out;
  for (const SpmPiece& p : pieces) {
    std::string m;
    pb_len(m, 1, p.text);
    m.push_back(static_cast<char>((2 << 3) | 5));
    uint32_t bits = 0;
    std::memcpy(&bits, &p.score, 4);
    for (int i = 0; i < 4; ++i) m.push_back(static_cast<char>(bits >> (8 * i)));
    if (p.type != 1) {
      pb_varint(m, (3 << 3) | 0);
      pb_varint(m, static_cast<uint64_t>(p.type));
    }
    pb_len(out, 1, m);
  }
  std::string trainer;
  pb_varint(trainer, (3 << 3) | 0);
  pb_varint(trainer, static_cast<uint64_t>(model_type));
  pb_len(out, 2, trainer);
  return out;
}

// <unk>, <s>, </s>, then "▁a", "▁b", ... up to n pieces.
inline std::vector<SpmPiece> tiny_pieces(int64_t n) {
  std::vector<SpmPiece> p = {{"<unk>", 0, 2}, {"<s>", 0, 3}, {"</s>", 0, 3}};
  for (int64_t i = 3; i < n; ++i) {
    const char c = static_cast<char>('a' + (i - 3) % 26);
    p.push_back({(i - 3 < 26 ? "\xE2\x96\x81" : "") + std::string(1, c), -static_cast<float>(i), 1});
  }
  return p;
}

inline void write_bytes(const fs::path& path, const void* data, size_t n) {
  std::ofstream out(path, std::ios::binary);
  out.write(static_cast<const char*>(data), static_cast<std::streamsize>(n));
}
inline void write_text(const fs::path& path, const std::string& text) { write_bytes(path, text.data(), text.size()); }
inline std::string slurp_text(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// GGUF tensor name -> HF name (llama / qwen2).
inline std::string hf_name(const std::string& gguf) {
  static const std::map<std::string, std::string> global = {{"token_embd.weight", "model.embed_tokens.weight"},
                                                            {"output.weight", "lm_head.weight"},
                                                            {"output_norm.weight", "model.norm.weight"}};
  static const std::map<std::string, std::string> layer = {{"attn_norm.weight", "input_layernorm.weight"},
                                                           {"attn_q.weight", "self_attn.q_proj.weight"},
                                                           {"attn_k.weight", "self_attn.k_proj.weight"},
                                                           {"attn_v.weight", "self_attn.v_proj.weight"},
                                                           {"attn_q.bias", "self_attn.q_proj.bias"},
                                                           {"attn_k.bias", "self_attn.k_proj.bias"},
                                                           {"attn_v.bias", "self_attn.v_proj.bias"},
                                                           {"attn_output.weight", "self_attn.o_proj.weight"},
                                                           {"ffn_norm.weight", "post_attention_layernorm.weight"},
                                                           {"ffn_gate.weight", "mlp.gate_proj.weight"},
                                                           {"ffn_up.weight", "mlp.up_proj.weight"},
                                                           {"ffn_down.weight", "mlp.down_proj.weight"}};
  if (const auto it = global.find(gguf); it != global.end()) return it->second;
  const size_t dot = gguf.find('.', 4);
  return "model.layers." + gguf.substr(4, dot - 4) + "." + layer.at(gguf.substr(dot + 1));
}

// F32 values as `dtype` bytes (F16 and BF16 rounded to nearest even).
inline std::vector<uint8_t> encode(const float* v, size_t n, const std::string& dtype) {
  std::vector<uint8_t> out;
  if (dtype == "F32") {
    out.resize(n * 4);
    std::memcpy(out.data(), v, n * 4);
    return out;
  }
  out.resize(n * 2);
  for (size_t i = 0; i < n; ++i) {
    const uint16_t h = dtype == "F16" ? fp32_to_fp16(v[i]) : fp32_to_bf16(v[i]);
    std::memcpy(out.data() + 2 * i, &h, 2);
  }
  return out;
}

// A HF folder with the weights of `gguf` (a TinyModel's file, F32), the tokenizer of tiny_pieces and a config.json.
// Q/K rows of a llama GGUF (adjacent-pair RoPE) are put back in HF's rotate-half order: HF row h·d + j·d/2 + i is
// GGUF row h·d + 2i + j of each head of d rows.
inline void write_hf_folder(const fs::path& dir, const GgufFile& gguf, const TinySpec& s,
                            const std::string& dtype = "F32") {
  fs::remove_all(dir);
  fs::create_directories(dir);
  std::vector<StTensor> tensors;
  const auto hd = static_cast<uint64_t>(s.head_dim());
  for (const GgufTensorInfo& t : gguf.tensors()) {
    std::vector<float> v(static_cast<size_t>(t.n_elements));
    std::memcpy(v.data(), t.data, v.size() * 4);
    const bool q = t.name.find("attn_q.") != std::string::npos, k = t.name.find("attn_k.") != std::string::npos;
    if (s.arch == "llama" && (q || k)) {
      const uint64_t cols = t.shape.size() == 2 ? t.shape[0] : 1;
      const uint64_t rows = t.n_elements / cols;
      std::vector<float> hf(v.size());
      for (uint64_t r = 0; r < rows; ++r) {
        const uint64_t head = r / hd, within = r % hd;
        const uint64_t src = head * hd + (within % 2) * (hd / 2) + within / 2;
        std::memcpy(&hf[src * cols], &v[r * cols], cols * 4);
      }
      v = hf;
    }
    StTensor st;
    st.name = hf_name(t.name);
    st.dtype = t.shape.size() == 1 ? "F32" : dtype;
    st.shape.assign(t.shape.rbegin(), t.shape.rend());
    st.data = encode(v.data(), v.size(), st.dtype);
    tensors.push_back(std::move(st));
  }
  const auto bytes = safetensors_bytes(tensors);
  write_bytes(dir / "model.safetensors", bytes.data(), bytes.size());
  nlohmann::json config = {{"architectures", {s.arch == "qwen2" ? "Qwen2ForCausalLM" : "LlamaForCausalLM"}},
                           {"hidden_act", "silu"},
                           {"hidden_size", s.n_embd},
                           {"intermediate_size", s.n_ff},
                           {"num_attention_heads", s.n_head},
                           {"num_hidden_layers", s.n_layer},
                           {"num_key_value_heads", s.n_head_kv},
                           {"max_position_embeddings", s.n_ctx},
                           {"rms_norm_eps", s.rms_eps},
                           {"rope_theta", s.rope_base},
                           {"tie_word_embeddings", s.tied},
                           {"vocab_size", s.n_vocab},
                           {"bos_token_id", 1},
                           {"eos_token_id", 2}};
  write_text(dir / "config.json", config.dump(2));
  write_text(dir / "tokenizer.model", spm_model_bytes(tiny_pieces(s.n_vocab)));
}

// A scratch folder for this process and test.
inline fs::path scratch(const std::string& name) {
  return fs::temp_directory_path() / ("ternion_hf_" + std::to_string(::getpid()) + "_" + name);
}

}  // namespace ternion::test
