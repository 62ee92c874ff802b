// Karpathy's llama2.c checkpoints as a ModelSource, for `ternion convert --from llama2c`.
//
// MODEL.bin (run.c's format, export.py --version 0): seven int32 (dim, hidden_dim, n_layers, n_heads, n_kv_heads,
// vocab_size, seq_len; a negative vocab_size means the classifier is not shared with the embedding), then float32
// weights in this order: token embedding [vocab][dim], attention norms [layers][dim], wq [layers][dim][dim],
// wk and wv [layers][kv_dim][dim], wo [layers][dim][dim], ffn norms [layers][dim], w1 [layers][hidden][dim],
// w2 [layers][dim][hidden], w3 [layers][hidden][dim], final norm [dim], two unused RoPE tables [seq_len][head/2],
// then the classifier [vocab][dim] when not shared. Q/K rows are already in the adjacent-pair RoPE order of GGUF.
//
// TOKENIZER.bin: int32 max_token_length, then per token: float32 score, int32 length, the bytes (spaces as ' ').
// Token 0 is <unk>, 1 <s> (BOS, added), 2 </s>; "<0xHH>" tokens are bytes, as llama.cpp's importer reads them.
#pragma once

#include <string>

#include "ternion/model/model_source.h"

namespace ternion {

// Maps and checks both files. Throws Error naming the file for a missing or truncated file, an unsupported export
// version, or hyper-parameters that do not fit together.
ModelSource load_llama2c_checkpoint(const std::string& model_path, const std::string& tokenizer_path);

}  // namespace ternion
