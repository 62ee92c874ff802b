// Token ids -> bytes: the per-token pieces (llama.cpp's llama_token_to_piece), decode, and the streaming decoder.
#include <cstdio>

#include "ternion/core/error.h"
#include "ternion/tokenizer/tokenizer.h"
#include "tokenizer/tokenizer_state.h"
#include "tokenizer/unicode.h"

namespace ternion {

namespace detail {

namespace {

constexpr std::string_view kSpmSpace = "\xE2\x96\x81";  // U+2581, SentencePiece's visible space

std::string spm_normal_piece(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size();) {
    if (text.substr(i, kSpmSpace.size()) == kSpmSpace) {
      out += ' ';
      i += kSpmSpace.size();
    } else {
      out += text[i++];
    }
  }
  return out;
}

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

// "<0xNN>" -> that byte. llama.cpp reads the two characters after "<0x" with strtol; anything else gives nothing.
std::string spm_byte_piece(std::string_view text) {
  if (text.size() != 6 || text.substr(0, 3) != "<0x" || text[5] != '>') return {};
  const int hi = hex_digit(text[3]);
  const int lo = hex_digit(text[4]);
  if (hi < 0 || lo < 0) return {};
  return std::string(1, static_cast<char>(hi * 16 + lo));
}

// Byte-level alphabet -> bytes (llama.cpp's llama_decode_text, including its marker for characters outside the
// alphabet, which only a malformed vocabulary contains).
std::string bpe_normal_piece(std::string_view text) {
  const std::string valid = sanitize_utf8(text);
  std::string out;
  for (size_t pos = 0; pos < valid.size();) {
    uint32_t cpt = 0;
    const size_t n = decode_utf8(valid, pos, cpt);
    const int byte = gpt2_codepoint_to_byte(cpt);
    if (byte >= 0) {
      out += static_cast<char>(byte);
    } else {
      out += "[UNK_BYTE_0x";
      for (size_t i = 0; i < n; ++i) {
        char hex[4];
        std::snprintf(hex, sizeof hex, "%02x", static_cast<uint8_t>(valid[pos + i]));
        out += hex;
      }
      out += text;
      out += ']';
    }
    pos += n;
  }
  return out;
}

}  // namespace

std::vector<std::string> build_pieces(const Vocab& vocab) {
  std::vector<std::string> pieces(vocab.tokens.size());
  for (size_t id = 0; id < vocab.tokens.size(); ++id) {
    const std::string& text = vocab.tokens[id];
    switch (vocab.types[id]) {
      case TokenType::Unknown:
      case TokenType::Control:
      case TokenType::UserDefined:
        pieces[id] = text;
        break;
      case TokenType::Normal:
        pieces[id] = vocab.kind == VocabKind::Bpe ? bpe_normal_piece(text) : spm_normal_piece(text);  // WPM as SPM
        break;
      case TokenType::Byte:  // llama.cpp has no byte tokens in byte-level BPE: their piece is empty there
        if (vocab.kind != VocabKind::Bpe) pieces[id] = spm_byte_piece(text);
        break;
      case TokenType::Undefined:
      case TokenType::Unused:
        break;  // llama.cpp treats every other type like a control token whose text is never shown
    }
  }
  return pieces;
}

}  // namespace detail

std::string Tokenizer::token_to_piece(int32_t id, bool special) const {
  if (id < 0 || id >= n_vocab()) {
    throw Error("tokenizer: token id " + std::to_string(id) + " is outside the vocabulary [0, " +
                std::to_string(n_vocab()) + ")");
  }
  const TokenType type = state_->vocab.types[static_cast<size_t>(id)];
  if (!special && (type == TokenType::Control || type == TokenType::Unknown)) return {};
  return state_->pieces[static_cast<size_t>(id)];
}

std::string Tokenizer::decode(std::span<const int32_t> ids, bool skip_special) const {
  std::string out;
  bool strip_space = state_->vocab.add_space_prefix;
  for (int32_t id : ids) {
    std::string piece = token_to_piece(id, !skip_special);
    if (strip_space && !piece.empty()) {
      if (piece.front() == ' ') piece.erase(0, 1);
      strip_space = false;
    }
    out += piece;
  }
  return out;
}

StreamDecoder::StreamDecoder(const Tokenizer& tokenizer, bool strip_leading_space, bool special)
    : tokenizer_(&tokenizer), strip_leading_space_(strip_leading_space), special_(special) {}

std::string StreamDecoder::push(int32_t id) {
  std::string piece = tokenizer_->token_to_piece(id, special_);
  if (strip_leading_space_ && !piece.empty()) {
    if (piece.front() == ' ') piece.erase(0, 1);
    strip_leading_space_ = false;
  }
  pending_ += piece;
  std::string out;
  const size_t held = detail::append_valid_utf8(pending_, out);
  pending_.erase(0, pending_.size() - held);
  return out;
}

std::string StreamDecoder::flush() {
  std::string out;
  if (!pending_.empty()) detail::append_utf8(out, detail::kReplacementChar);  // one incomplete character
  pending_.clear();
  return out;
}

}  // namespace ternion
