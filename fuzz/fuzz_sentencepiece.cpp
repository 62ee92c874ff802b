// libFuzzer target for the tokenizer.model (SentencePiece ModelProto) reader. Any input must either parse or throw
// ternion::Error with a one-line message; on success every piece is touched and must be a valid, non-empty piece.
#include <cstdint>
#include <cstring>
#include <span>

#include "ternion/core/error.h"
#include "ternion/tokenizer/sentencepiece_model.h"

namespace {

volatile uint64_t g_sink = 0;  // keeps the reads below from being optimised away

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    const ternion::SentencePieceModel m =
        ternion::parse_sentencepiece_model(std::span<const uint8_t>(data, size), "fuzz.model");
    uint64_t sum = static_cast<uint64_t>(m.model_type) + static_cast<uint64_t>(m.unk_id);
    for (const auto& p : m.pieces) {
      if (p.text.empty() || p.text.size() > size) __builtin_trap();
      const auto type = static_cast<int32_t>(p.type);
      if (type < 1 || type > 6) __builtin_trap();
      sum += p.text.size() + static_cast<uint64_t>(p.score != 0.0f);
    }
    g_sink = g_sink + sum;
  } catch (const ternion::Error& e) {
    if (std::strchr(e.what(), '\n') != nullptr || std::strchr(e.what(), '\r') != nullptr) __builtin_trap();
  }
  return 0;
}
