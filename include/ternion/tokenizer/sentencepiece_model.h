// SentencePiece's tokenizer.model (a protobuf ModelProto) -> its pieces, read with a small protobuf wire-format
// reader: no protobuf library, and only the fields a converter needs.
//
//   ModelProto      1: repeated SentencePiece pieces   2: TrainerSpec   3: NormalizerSpec   (others skipped)
//   SentencePiece   1: piece (string)   2: score (float)   3: type (enum, default NORMAL = 1)
//   TrainerSpec     3: model_type (UNIGRAM 1, BPE 2, WORD 3, CHAR 4)   35: byte_fallback
//                   40/41/42/43: unk_id / bos_id / eos_id / pad_id
//   NormalizerSpec  3: add_dummy_prefix (default true)
//
// Piece types are numbered as GGUF's token types (NORMAL 1, UNKNOWN 2, CONTROL 3, USER_DEFINED 4, UNUSED 5, BYTE 6).
// The bytes are untrusted: every length is checked against what remains, counts and sizes are bounded, and every
// defect is one Error line naming the file and what was being read.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "ternion/tokenizer/vocab.h"

namespace ternion {

struct SentencePieceModel {
  enum class Type : int32_t { Unigram = 1, Bpe = 2, Word = 3, Char = 4 };

  struct Piece {
    std::string text;
    float score = 0.0f;
    TokenType type = TokenType::Normal;
  };

  std::vector<Piece> pieces;  // id -> piece
  Type model_type = Type::Unigram;
  bool byte_fallback = false;
  bool add_dummy_prefix = true;
  int32_t unk_id = 0, bos_id = 1, eos_id = 2, pad_id = -1;  // -1: none
};

// Largest tokenizer.model accepted (real ones are under 10 MB).
inline constexpr size_t kMaxSentencePieceModelBytes = size_t{64} << 20;

SentencePieceModel parse_sentencepiece_model(std::span<const uint8_t> bytes, const std::string& name);
SentencePieceModel load_sentencepiece_model(const std::string& path);

}  // namespace ternion
