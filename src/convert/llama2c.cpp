#include "ternion/convert/llama2c.h"

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <memory>

#include "ternion/core/error.h"
#include "ternion/io/mapped_file.h"

namespace ternion {

namespace {

constexpr uint32_t kExportMagic = 0x616b3432;  // "ak42": the versioned export formats (1: fp32, 2: int8)
constexpr size_t kHeaderBytes = 7 * 4;

int32_t read_i32(const uint8_t* p) {
  uint32_t v = 0;
  for (size_t i = 0; i < 4; ++i) v |= static_cast<uint32_t>(p[i]) << (8 * i);
  return static_cast<int32_t>(v);
}

float read_f32(const uint8_t* p) {
  uint32_t v = 0;
  for (size_t i = 0; i < 4; ++i) v |= static_cast<uint32_t>(p[i]) << (8 * i);
  float f = 0;
  std::memcpy(&f, &v, 4);
  return f;
}

struct Config {
  int64_t dim, hidden, n_layer, n_head, n_head_kv, n_vocab, seq_len;
  bool shared;
  int64_t head_size() const { return dim / n_head; }
  int64_t kv_dim() const { return n_head_kv * head_size(); }
};

Config read_config(const MappedFile& f) {
  const std::string& path = f.path();
  if (f.size() < kHeaderBytes) {
    throw Error(path + ": " + std::to_string(f.size()) + " bytes, too small for a llama2.c checkpoint header (28)");
  }
  if (static_cast<uint32_t>(read_i32(f.data())) == kExportMagic) {
    throw Error(path + ": llama2.c export version " + std::to_string(read_i32(f.data() + 4)) +
                " is not supported (only the legacy format run.c reads: export.py --version 0)");
  }
  int32_t h[7];
  for (size_t i = 0; i < 7; ++i) h[i] = read_i32(f.data() + 4 * i);
  Config c{h[0], h[1], h[2], h[3], h[4], h[5] < 0 ? -static_cast<int64_t>(h[5]) : h[5], h[6], h[5] > 0};
  const auto check = [&](const char* name, int64_t v, int64_t max) {
    if (v <= 0 || v > max) {
      throw Error(path + ": header field " + name + " = " + std::to_string(v) + " is outside [1, " +
                  std::to_string(max) + "]: not a llama2.c checkpoint?");
    }
  };
  check("dim", c.dim, 1 << 16);
  check("hidden_dim", c.hidden, 1 << 18);
  check("n_layers", c.n_layer, 1024);
  check("n_heads", c.n_head, 1024);
  check("n_kv_heads", c.n_head_kv, c.n_head);
  check("vocab_size", c.n_vocab, 1 << 22);
  check("seq_len", c.seq_len, 1 << 20);
  if (c.dim % c.n_head != 0 || c.head_size() % 2 != 0) {
    throw Error(path + ": dim " + std::to_string(c.dim) + " does not split into " + std::to_string(c.n_head) +
                " heads of an even size");
  }
  if (c.n_head % c.n_head_kv != 0) {
    throw Error(path + ": n_heads " + std::to_string(c.n_head) + " is not a multiple of n_kv_heads " +
                std::to_string(c.n_head_kv));
  }
  return c;
}

// Cuts the weights out of the map in run.c's order, as GGUF tensors.
class Slicer {
 public:
  Slicer(const MappedFile& f, ModelSource& src) : f_(f), src_(src), pos_(kHeaderBytes) {}

  // The next `count` floats, skipped.
  void skip(uint64_t count, const char* what) { take(count, what); }

  // The next rows × cols floats as tensor `name` (GGUF shape [cols, rows], or [cols] for a vector: rows == 0).
  void tensor(const std::string& name, uint64_t cols, uint64_t rows, const char* what) {
    SourceTensor t;
    t.name = name;
    t.origin = what;
    t.shape = rows == 0 ? std::vector<uint64_t>{cols} : std::vector<uint64_t>{cols, rows};
    rows = std::max<uint64_t>(rows, 1);
    t.type = DType::F32;
    t.data = take(cols * rows, what);
    t.n_bytes = cols * rows * 4;
    src_.tensors.push_back(std::move(t));
  }

  const uint8_t* take(uint64_t count, const char* what) {
    const uint64_t bytes = count * 4;
    if (bytes > f_.size() - pos_) {
      throw Error(f_.path() + ": truncated: " + what + " needs " + std::to_string(bytes) + " bytes at offset " +
                  std::to_string(pos_) + ", the file has " + std::to_string(f_.size()) + " bytes");
    }
    const uint8_t* p = f_.data() + pos_;
    pos_ += bytes;
    return p;
  }

  uint64_t pos() const { return pos_; }

 private:
  const MappedFile& f_;
  ModelSource& src_;
  uint64_t pos_;
};

// run.c's arrays stack the layers ([layers][rows][cols]); each layer's slice becomes a GGUF tensor.
void slice_weights(const MappedFile& f, const Config& c, ModelSource& src) {
  Slicer s(f, src);
  const auto u = [](int64_t v) { return static_cast<uint64_t>(v); };
  const uint64_t dim = u(c.dim), hidden = u(c.hidden), kv = u(c.kv_dim()), layers = u(c.n_layer);
  s.tensor("token_embd.weight", dim, u(c.n_vocab), "token_embedding_table");
  // Stacked per-layer arrays: record where each starts, then make one tensor per layer from it.
  struct Stack {
    const char* what;
    const char* name;
    uint64_t cols, rows;
    const uint8_t* base;
  };
  std::vector<Stack> stacks = {
      {"rms_att_weight", "attn_norm.weight", dim, 0, nullptr},
      {"wq", "attn_q.weight", dim, dim, nullptr},
      {"wk", "attn_k.weight", dim, kv, nullptr},
      {"wv", "attn_v.weight", dim, kv, nullptr},
      {"wo", "attn_output.weight", dim, dim, nullptr},
      {"rms_ffn_weight", "ffn_norm.weight", dim, 0, nullptr},
      {"w1", "ffn_gate.weight", dim, hidden, nullptr},
      {"w2", "ffn_down.weight", hidden, dim, nullptr},
      {"w3", "ffn_up.weight", dim, hidden, nullptr},
  };
  for (Stack& st : stacks) st.base = s.take(layers * st.cols * std::max<uint64_t>(st.rows, 1), st.what);
  s.tensor("output_norm.weight", dim, 0, "rms_final_weight");
  s.skip(u(c.seq_len) * u(c.head_size()), "freq_cis_real and freq_cis_imag");
  if (!c.shared) s.tensor("output.weight", dim, u(c.n_vocab), "wcls");
  if (s.pos() != f.size()) {
    throw Error(f.path() + ": " + std::to_string(f.size() - s.pos()) +
                " bytes after the last weight: the header (dim " + std::to_string(c.dim) + ", " +
                std::to_string(c.n_layer) + " layers) does not describe this file");
  }
  for (uint64_t l = 0; l < layers; ++l) {
    for (const Stack& st : stacks) {
      SourceTensor t;
      t.name = "blk." + std::to_string(l) + "." + st.name;
      t.origin = st.what;
      t.shape = st.rows == 0 ? std::vector<uint64_t>{st.cols} : std::vector<uint64_t>{st.cols, st.rows};
      t.type = DType::F32;
      t.n_bytes = st.cols * std::max<uint64_t>(st.rows, 1) * 4;
      t.data = st.base + l * t.n_bytes;
      src.tensors.push_back(std::move(t));
    }
  }
}

bool is_byte_token(const std::string& t) {
  const auto hex = [](char ch) {
    return (ch >= '0' && ch <= '9') || (ch >= 'A' && ch <= 'F') || (ch >= 'a' && ch <= 'f');
  };
  return t.size() == 6 && t.compare(0, 3, "<0x") == 0 && hex(t[3]) && hex(t[4]) && t[5] == '>';
}

void read_tokenizer(const std::string& path, int64_t n_vocab, ModelSource& src) {
  const MappedFile f(path);
  if (f.size() < 4) throw Error(path + ": too small for a llama2.c tokenizer");
  const int32_t max_len = read_i32(f.data());
  if (max_len <= 0) throw Error(path + ": max_token_length " + std::to_string(max_len) + " is not positive");
  std::vector<std::string> tokens;
  std::vector<float> scores;
  std::vector<int32_t> types;
  size_t pos = 4;
  for (int64_t id = 0; id < n_vocab; ++id) {
    if (f.size() - pos < 8) {
      throw Error(path + ": truncated at token " + std::to_string(id) + " (the checkpoint has " +
                  std::to_string(n_vocab) + ")");
    }
    const float score = read_f32(f.data() + pos);
    const int32_t len = read_i32(f.data() + pos + 4);
    pos += 8;
    if (len < 0 || len > max_len || static_cast<size_t>(len) > f.size() - pos) {
      throw Error(path + ": token " + std::to_string(id) + ": length " + std::to_string(len) +
                  " is negative, above max_token_length or past the end of the file");
    }
    std::string text(reinterpret_cast<const char*>(f.data() + pos), static_cast<size_t>(len));
    pos += static_cast<size_t>(len);
    TokenType type = TokenType::Normal;
    if (id == 0) {
      text = "<unk>";
      type = TokenType::Unknown;
    } else if (id == 1 || id == 2) {
      text = id == 1 ? "<s>" : "</s>";
      type = TokenType::Control;
    } else if (text.empty()) {
      type = TokenType::Control;
    } else if (is_byte_token(text)) {
      type = TokenType::Byte;
    }
    std::string escaped;  // SentencePiece's space marker, as the GGUF vocabulary spells it
    for (const char ch : text) escaped += ch == ' ' ? std::string("\xE2\x96\x81") : std::string(1, ch);
    tokens.push_back(std::move(escaped));
    scores.push_back(score);
    types.push_back(static_cast<int32_t>(type));
  }
  if (pos != f.size()) {
    throw Error(path + ": holds more than the checkpoint's " + std::to_string(n_vocab) + " tokens");
  }
  GgufMetadata& m = src.metadata;
  m.set_string("tokenizer.ggml.model", "llama");
  m.set_string("tokenizer.ggml.pre", "default");
  m.set_string_array("tokenizer.ggml.tokens", std::move(tokens));
  m.set_f32_array("tokenizer.ggml.scores", scores);
  m.set_i32_array("tokenizer.ggml.token_type", types);
  m.set_u32("tokenizer.ggml.bos_token_id", 1);
  m.set_u32("tokenizer.ggml.eos_token_id", 2);
  m.set_u32("tokenizer.ggml.unknown_token_id", 0);
  m.set_bool("tokenizer.ggml.add_bos_token", true);
  m.set_bool("tokenizer.ggml.add_eos_token", false);
}

}  // namespace

ModelSource load_llama2c_checkpoint(const std::string& model_path, const std::string& tokenizer_path) {
  ModelSource src;
  src.path = model_path;
  src.inputs = {model_path, tokenizer_path};
  auto map = std::make_shared<MappedFile>(model_path);
  src.keep_alive.push_back(map);
  const Config c = read_config(*map);
  slice_weights(*map, c, src);

  GgufMetadata& m = src.metadata;
  const auto u32 = [](int64_t v) { return static_cast<uint32_t>(v); };
  m.set_string("general.architecture", "llama");
  m.set_string("general.type", "model");
  m.set_string("general.name", std::filesystem::path(model_path).stem().string());
  m.set_u32("llama.block_count", u32(c.n_layer));
  m.set_u32("llama.context_length", u32(c.seq_len));
  m.set_u32("llama.embedding_length", u32(c.dim));
  m.set_u32("llama.feed_forward_length", u32(c.hidden));
  m.set_u32("llama.attention.head_count", u32(c.n_head));
  m.set_u32("llama.attention.head_count_kv", u32(c.n_head_kv));
  m.set_f32("llama.rope.freq_base", 10000.0f);
  m.set_f32("llama.attention.layer_norm_rms_epsilon", 1e-5f);
  m.set_u32("general.file_type", 0);
  m.set_u32("llama.vocab_size", u32(c.n_vocab));
  m.set_u32("llama.rope.dimension_count", u32(c.head_size()));
  read_tokenizer(tokenizer_path, c.n_vocab, src);
  m.set_u32("general.quantization_version", 2);
  return src;
}

}  // namespace ternion
