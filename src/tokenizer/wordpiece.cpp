// WordPiece (BERT) as llama.cpp runs it (llm_tokenizer_wpm_session).
#include "tokenizer/wordpiece.h"

#include <algorithm>

#include "tokenizer/unicode.h"

namespace ternion::detail {

namespace {

constexpr std::string_view kWordStart = "\xE2\x96\x81";  // U+2581: GGUF BERT vocabularies mark word starts with it

// llama.cpp's whitespace code points (unicode_set_whitespace).
bool is_whitespace(uint32_t cpt) {
  return (cpt >= 0x9 && cpt <= 0xD) || cpt == 0x20 || cpt == 0x85 || cpt == 0xA0 || cpt == 0x1680 ||
         (cpt >= 0x2000 && cpt <= 0x200A) || cpt == 0x2028 || cpt == 0x2029 || cpt == 0x202F || cpt == 0x205F ||
         cpt == 0x3000;
}

// BERT's CJK ranges, as llama.cpp (and HF's Rust code, whence 0x2B920) list them.
bool is_chinese_char(uint32_t cpt) {
  return (cpt >= 0x4E00 && cpt <= 0x9FFF) || (cpt >= 0x3400 && cpt <= 0x4DBF) || (cpt >= 0x20000 && cpt <= 0x2A6DF) ||
         (cpt >= 0x2A700 && cpt <= 0x2B73F) || (cpt >= 0x2B740 && cpt <= 0x2B81F) ||
         (cpt >= 0x2B920 && cpt <= 0x2CEAF) || (cpt >= 0xF900 && cpt <= 0xFAFF) || (cpt >= 0x2F800 && cpt <= 0x2FA1F);
}

}  // namespace

std::vector<std::string> wpm_words(std::string_view text) {
  // llama.cpp reads invalid UTF-8 as U+FFFD, which is then dropped like a control character.
  const std::string valid = sanitize_utf8(text);
  std::vector<std::string> words(1);
  for (size_t pos = 0; pos < valid.size();) {
    uint32_t raw = 0;
    const size_t n = decode_utf8(valid, pos, raw);
    pos += n == 0 ? 1 : n;
    const uint32_t cpt = wpm_nfd_first(raw);
    if (is_whitespace(cpt)) {
      if (!words.back().empty()) words.emplace_back();
      continue;
    }
    const uint8_t flags = wpm_flags(cpt);
    if (cpt == 0 || cpt == kReplacementChar || (flags & kWpmControl) != 0) continue;
    std::string s;
    append_utf8(s, wpm_lowercase(cpt));
    if ((flags & kWpmPunctuation) != 0 || (cpt < 0x7F && (flags & kWpmSymbol) != 0) || is_chinese_char(cpt)) {
      if (!words.back().empty()) words.emplace_back();
      words.back() = std::move(s);  // a word of its own
      words.emplace_back();
    } else {
      words.back() += s;
    }
  }
  if (words.back().empty()) words.pop_back();
  return words;
}

WordPieceModel::WordPieceModel(const Vocab& vocab, const TokenIndex& index) : index_(index), unk_(vocab.unk) {
  for (const std::string& token : vocab.tokens) max_token_length_ = std::max(max_token_length_, token.size());
}

void WordPieceModel::encode(std::string_view text, std::vector<int32_t>& out) const {
  std::string word;
  for (const std::string& w : wpm_words(text)) {
    word.assign(kWordStart);
    word += w;
    const size_t n = word.size();
    const size_t start = out.size();
    // Longest token from each position; a position where none fits discards the whole word.
    for (size_t i = 0; i < n; ++i) {
      bool match = false;
      for (size_t j = std::min(n, i + max_token_length_ + 1); j > i; --j) {
        const int32_t id = find_token(index_, std::string_view(word).substr(i, j - i));
        if (id >= 0) {
          out.push_back(id);
          match = true;
          i = j - 1;
          break;
        }
      }
      if (!match) {
        out.resize(start);
        break;
      }
    }
    if (out.size() == start && unk_ >= 0) out.push_back(unk_);  // llama.cpp pushes <unk> (null without one)
  }
}

}  // namespace ternion::detail
