// Float32 weights of the kjv-llama checkpoint (hf/kjv-llama/model.safetensors), read by a deliberately small
// reader of its own, so quantizer tests can compare our blocks with the fixture GGUFs made from the same
// weights. GGUF names map to checkpoint names; q/k projections are not offered (the GGUF permutes their rows).
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <cstring>
#include <fstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "support/test_support.h"

namespace ternion::test {

struct CheckpointTensor {
  int64_t rows = 0;  // outer dimension (GGUF ne[1])
  int64_t cols = 0;  // inner dimension (GGUF ne[0])
  std::vector<float> data;
};

inline std::string checkpoint_path() { return fixture("hf/kjv-llama/model.safetensors").string(); }

// GGUF tensor name ("blk.3.ffn_down.weight", "token_embd.weight", "output.weight") → checkpoint name.
inline std::string checkpoint_name(const std::string& gguf_name) {
  if (gguf_name == "token_embd.weight") return "model.embed_tokens.weight";
  if (gguf_name == "output.weight") return "lm_head.weight";
  const auto dot = gguf_name.find('.', 4);
  const std::string layer = gguf_name.substr(4, dot - 4);
  const std::string rest = gguf_name.substr(dot + 1);
  const std::string prefix = "model.layers." + layer + ".";
  if (rest == "attn_v.weight") return prefix + "self_attn.v_proj.weight";
  if (rest == "attn_output.weight") return prefix + "self_attn.o_proj.weight";
  if (rest == "ffn_gate.weight") return prefix + "mlp.gate_proj.weight";
  if (rest == "ffn_up.weight") return prefix + "mlp.up_proj.weight";
  if (rest == "ffn_down.weight") return prefix + "mlp.down_proj.weight";
  throw std::runtime_error("no unpermuted checkpoint tensor for " + gguf_name);
}

// Reads one float32 tensor by its GGUF name, from kjv-llama's checkpoint unless `path` names another
// checkpoint of the same architecture (hf/kjv-trilm/model.safetensors).
inline CheckpointTensor checkpoint_tensor(const std::string& gguf_name, const std::string& path = checkpoint_path()) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot open " + path);
  uint64_t header_len = 0;
  in.read(reinterpret_cast<char*>(&header_len), 8);
  std::string header(header_len, '\0');
  in.read(header.data(), static_cast<std::streamsize>(header_len));
  const auto h = nlohmann::json::parse(header);
  const auto& t = h.at(checkpoint_name(gguf_name));
  if (t.at("dtype") != "F32") throw std::runtime_error("checkpoint tensor is not F32");
  CheckpointTensor out;
  const auto& shape = t.at("shape");
  out.rows = shape.size() == 2 ? shape[0].get<int64_t>() : 1;
  out.cols = shape.back().get<int64_t>();
  const auto begin = t.at("data_offsets")[0].get<uint64_t>();
  const auto end = t.at("data_offsets")[1].get<uint64_t>();
  out.data.resize((end - begin) / 4);
  in.seekg(static_cast<std::streamoff>(8 + header_len + begin));
  in.read(reinterpret_cast<char*>(out.data.data()), static_cast<std::streamsize>(end - begin));
  if (!in) throw std::runtime_error("short read of checkpoint tensor " + gguf_name);
  return out;
}

}  // namespace ternion::test
