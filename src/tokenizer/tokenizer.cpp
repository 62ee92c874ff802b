// Tokenizer: validation of the vocab, the tables, and encode (llama.cpp's llama_vocab::impl::tokenize).
#include "ternion/tokenizer/tokenizer.h"

#include <algorithm>
#include <cstdint>

#include "ternion/core/error.h"
#include "tokenizer/tokenizer_state.h"
#include "tokenizer/unicode.h"
#include "tokenizer/wordpiece.h"

namespace ternion {

namespace detail {

namespace {

constexpr size_t kMaxCachedWords = size_t{1} << 16;  // bounds the memory of one call on huge, varied text

}  // namespace

bool WordCache::lookup(std::string_view word, std::vector<int32_t>& out) const {
  const auto it = words.find(word);
  if (it == words.end()) return false;
  const auto [offset, count] = it->second;
  out.insert(out.end(), ids.begin() + offset, ids.begin() + offset + count);
  return true;
}

void WordCache::store(std::string_view word, const std::vector<int32_t>& out, size_t start) {
  if (words.size() >= kMaxCachedWords) return;
  const auto offset = static_cast<uint32_t>(ids.size());
  ids.insert(ids.end(), out.begin() + static_cast<ptrdiff_t>(start), out.end());
  words.emplace(std::string(word), std::pair(offset, static_cast<uint32_t>(out.size() - start)));
}

TokenizerState::~TokenizerState() = default;

}  // namespace detail

namespace {

void check_id(const Vocab& vocab, int32_t id, const char* what) {
  if (id < -1 || id >= static_cast<int32_t>(vocab.tokens.size())) {
    throw Error(std::string("tokenizer: ") + what + " id " + std::to_string(id) + " is outside the vocabulary [0, " +
                std::to_string(vocab.tokens.size()) + ")");
  }
}

void validate(Vocab& vocab) {
  const size_t n = vocab.tokens.size();
  if (n == 0) throw Error("tokenizer: the vocabulary is empty");
  if (n > static_cast<size_t>(INT32_MAX / 2)) throw Error("tokenizer: the vocabulary has too many tokens");
  if (vocab.scores.empty()) vocab.scores.assign(n, 0.0f);
  if (vocab.types.empty()) vocab.types.assign(n, TokenType::Normal);
  if (vocab.scores.size() != n || vocab.types.size() != n) {
    throw Error("tokenizer: " + std::to_string(n) + " tokens but " + std::to_string(vocab.scores.size()) +
                " scores and " + std::to_string(vocab.types.size()) + " token types");
  }
  check_id(vocab, vocab.bos, "BOS");
  check_id(vocab, vocab.eos, "EOS");
  check_id(vocab, vocab.unk, "UNK");
  check_id(vocab, vocab.pad, "PAD");
  check_id(vocab, vocab.eot, "EOT");
  // As llama.cpp: EOS and EOT always end generation, whatever the list says.
  for (int32_t id : {vocab.eos, vocab.eot}) {
    if (id >= 0) vocab.eog.push_back(id);
  }
  for (auto* list : {&vocab.eog, &vocab.lstrip, &vocab.rstrip}) {
    std::sort(list->begin(), list->end());
    list->erase(std::unique(list->begin(), list->end()), list->end());
    for (int32_t id : *list) {
      if (id < 0) throw Error("tokenizer: special token id " + std::to_string(id) + " is negative");
      check_id(vocab, id, "special token");
    }
  }
  if (vocab.add_bos && vocab.bos < 0) throw Error("tokenizer: the vocab adds BOS but has no BOS token");
  if (vocab.add_eos && vocab.eos < 0) throw Error("tokenizer: the vocab adds EOS but has no EOS token");
}

}  // namespace

Tokenizer::Tokenizer(Vocab vocab) {
  validate(vocab);
  // The state is built in place: the models keep references to its vocab and index.
  auto state = std::make_shared<detail::TokenizerState>();
  state->vocab = std::move(vocab);
  const Vocab& v = state->vocab;
  state->index.reserve(v.tokens.size());
  for (size_t id = 0; id < v.tokens.size(); ++id) state->index[v.tokens[id]] = static_cast<int32_t>(id);
  state->pieces = detail::build_pieces(v);
  state->eog.assign(v.tokens.size(), 0);
  for (int32_t id : v.eog) state->eog[static_cast<size_t>(id)] = 1;
  state->special = std::make_unique<detail::SpecialSplitter>(v);
  if (v.kind == VocabKind::Spm) {
    state->spm = std::make_unique<detail::SpmModel>(v, state->index);
  } else if (v.kind == VocabKind::WordPiece) {
    state->wpm = std::make_unique<detail::WordPieceModel>(v, state->index);
  } else {
    state->pre = std::make_unique<detail::PreTokenizer>(v.pre, v.pre_regexes);
    state->bpe =
        std::make_unique<detail::BpeModel>(v, state->index, state->pre->info().ignore_merges || v.ignore_merges);
  }
  state_ = std::move(state);
}

namespace {

constexpr std::string_view kSpace = "\xE2\x96\x81";  // U+2581, SentencePiece's visible space

// Metaspace split: true: a word starts at every "▁", so "a▁▁b" is encoded as "a", "▁", "▁b".
void encode_spm_split(const detail::TokenizerState& s, std::string_view escaped, detail::WordCache& cache,
                      std::vector<int32_t>& out) {
  size_t start = 0;
  for (size_t at = escaped.find(kSpace, 1); at != std::string_view::npos; at = escaped.find(kSpace, at + 1)) {
    s.spm->encode(escaped.substr(start, at - start), cache, out);
    start = at;
  }
  s.spm->encode(escaped.substr(start), cache, out);
}

void encode_spm(const detail::TokenizerState& s, std::string_view text, const std::vector<detail::Fragment>& fragments,
                std::vector<int32_t>& out) {
  // SentencePiece's dummy prefix: a space before the text and again after every special token.
  bool prev_special = true;
  std::string escaped;
  detail::WordCache cache;
  for (const detail::Fragment& fragment : fragments) {
    if (fragment.token >= 0) {
      out.push_back(fragment.token);
      prev_special = true;
      continue;
    }
    escaped.clear();
    const std::string_view raw = text.substr(fragment.offset, fragment.length);
    // tokenizer.json's Metaspace adds the prefix only where no space is already there (and maybe only at the start).
    const bool hf_skip = (s.vocab.space_prefix_unless_space && (raw.front() == ' ' || raw.starts_with(kSpace))) ||
                         (s.vocab.space_prefix_first_only && fragment.offset != 0);
    if (s.vocab.add_space_prefix && prev_special && !hf_skip) escaped += kSpace;
    for (char c : raw) {
      if (c == ' ') {
        escaped += kSpace;
      } else {
        escaped += c;
      }
    }
    if (s.vocab.split_at_space) {
      encode_spm_split(s, escaped, cache, out);
    } else {
      s.spm->encode(escaped, cache, out);
    }
    prev_special = false;
  }
}

void encode_bpe(const detail::TokenizerState& s, std::string_view text, const std::vector<detail::Fragment>& fragments,
                std::vector<int32_t>& out) {
  detail::WordCache cache;
  std::vector<detail::TextSpan> words;
  for (const detail::Fragment& fragment : fragments) {
    if (fragment.token >= 0) {
      out.push_back(fragment.token);
      continue;
    }
    // llama.cpp turns invalid UTF-8 into U+FFFD before the regexes, so the replacement's bytes are what gets encoded.
    const std::string valid = detail::sanitize_utf8(text.substr(fragment.offset, fragment.length));
    s.pre->split(valid, words);
    for (const detail::TextSpan& word : words) {
      s.bpe->encode_word(std::string_view(valid).substr(word.offset, word.length), cache, out);
    }
  }
}

}  // namespace

std::vector<int32_t> Tokenizer::encode(std::string_view text, bool add_special, bool parse_special) const {
  // Offsets inside one call are 32-bit; nobody tokenizes gigabytes in one piece on purpose.
  if (text.size() > static_cast<size_t>(INT32_MAX)) {
    throw Error("tokenizer: a text of " + std::to_string(text.size()) + " bytes is too long to encode at once");
  }
  const detail::TokenizerState& s = *state_;
  std::vector<detail::Fragment> fragments;
  s.special->split(text, parse_special, fragments);

  std::vector<int32_t> out;
  out.reserve(text.size() / 3 + 2);
  if (add_special && s.vocab.add_bos) out.push_back(s.vocab.bos);
  if (s.vocab.kind == VocabKind::Spm) {
    encode_spm(s, text, fragments, out);
  } else if (s.vocab.kind == VocabKind::WordPiece) {
    for (const detail::Fragment& fragment : fragments) {
      if (fragment.token >= 0) {
        out.push_back(fragment.token);
      } else {
        s.wpm->encode(text.substr(fragment.offset, fragment.length), out);
      }
    }
  } else {
    encode_bpe(s, text, fragments, out);
  }
  if (add_special && s.vocab.add_eos) out.push_back(s.vocab.eos);
  return out;
}

const Vocab& Tokenizer::vocab() const { return state_->vocab; }

int32_t Tokenizer::n_vocab() const { return static_cast<int32_t>(state_->vocab.tokens.size()); }

bool Tokenizer::is_eog(int32_t id) const {
  return id >= 0 && id < n_vocab() && state_->eog[static_cast<size_t>(id)] != 0;
}

}  // namespace ternion
