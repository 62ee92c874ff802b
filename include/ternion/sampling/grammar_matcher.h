// Matching generated tokens against a grammar (grammar.h). The matcher keeps the set of parse stacks that agree
// with the output so far: each stack is a list of positions in the grammar's elements, its top a character element
// the next code point must match, the rest where to continue when a rule ends; an empty stack means the grammar is
// complete. Tokens are byte strings (possibly partial UTF-8), so the state also holds the bytes of a character
// a token left unfinished.
//
// Which tokens may come next is one walk over a byte trie of the vocabulary's token texts (GrammarVocab, built once
// per vocabulary): a subtree is left as soon as no stack accepts its prefix, so a constrained step visits only the
// prefixes the grammar allows. End-of-generation tokens are allowed only where the grammar can end; other tokens
// with no text never are. The stack count, stack depth and expansion work are bounded (GrammarMatcherLimits); an
// ambiguous grammar that needs more fails with an Error rather than running away.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "ternion/sampling/grammar.h"

namespace ternion {

// A vocabulary's token texts in a byte trie.
class GrammarVocab {
 public:
  // pieces[id]: the token's bytes as output text; is_eog[id]: whether it ends generation (same size).
  GrammarVocab(std::vector<std::string> pieces, std::vector<bool> is_eog);

  int32_t n_vocab() const { return static_cast<int32_t>(pieces_.size()); }
  const std::string& piece(int32_t id) const { return pieces_[static_cast<size_t>(id)]; }
  bool is_eog(int32_t id) const { return is_eog_[static_cast<size_t>(id)]; }
  size_t max_piece_bytes() const { return max_piece_; }  // the trie's depth

  struct Node {
    uint32_t edge_begin, edge_end;    // children: edge_byte/edge_child[edge_begin, edge_end)
    uint32_t token_begin, token_end;  // tokens whose text ends here: tokens_at[token_begin, token_end)
  };
  const std::vector<Node>& nodes() const { return nodes_; }  // nodes_[0] is the root (the empty prefix)
  const std::vector<uint8_t>& edge_byte() const { return edge_byte_; }
  const std::vector<uint32_t>& edge_child() const { return edge_child_; }
  const std::vector<int32_t>& tokens_at() const { return tokens_at_; }

 private:
  std::vector<std::string> pieces_;
  std::vector<bool> is_eog_;
  std::vector<Node> nodes_;
  std::vector<uint8_t> edge_byte_;
  std::vector<uint32_t> edge_child_;
  std::vector<int32_t> tokens_at_;
  size_t max_piece_ = 0;
};

struct GrammarMatcherLimits {
  size_t max_stacks = 1024;         // parse stacks alive at once
  size_t max_depth = 4096;          // positions in one stack (nesting of the output)
  size_t max_expansion = 1u << 16;  // rule expansions for one code point
};

class GrammarMatcher {
 public:
  GrammarMatcher(std::shared_ptr<const Grammar> grammar, std::shared_ptr<const GrammarVocab> vocab,
                 const GrammarMatcherLimits& limits = {});

  // Whether `token` may come next (cheap: walks that token's bytes only).
  bool allows(int32_t token);
  // Advances past `token`; throws Error when the grammar does not allow it.
  void accept(int32_t token);
  // Advances past raw text; false (and no change) when the grammar does not allow it.
  bool accept_text(std::string_view text);
  // allowed[id] = 1 for every token that may come next, else 0 (resized to the vocabulary).
  void allowed_tokens(std::vector<uint8_t>& allowed);

  const std::shared_ptr<const GrammarVocab>& vocab() const { return vocab_; }
  bool can_end() const;   // the output so far is a complete match
  bool finished() const;  // complete, and nothing more may follow

  // The parse state; public for the implementation's helpers.
  struct Partial {  // bytes of a character a token left unfinished
    uint32_t value = 0;
    uint8_t remaining = 0;  // continuation bytes still to come
    uint8_t length = 0;     // the whole sequence's length
  };
  struct StackSet {  // stacks stored one after another, without duplicates
    std::vector<uint32_t> data;
    std::vector<uint32_t> offsets{0};
    std::vector<uint64_t> hashes;
    size_t size() const { return offsets.size() - 1; }
    void clear() {
      data.clear();
      offsets.assign(1, 0);
      hashes.clear();
    }
  };

 private:
  struct Level {
    const StackSet* stacks = nullptr;
    StackSet own;
    Partial partial;
  };
  bool advance_text(std::string_view bytes, StackSet& stacks, Partial& partial);
  void advance(const StackSet& from, uint32_t cp, StackSet& out);
  // advance() through a small cache: the trie walk meets the same stacks and character many times (every token
  // that continues a string, say).
  void advance_cached(const StackSet& from, uint32_t cp, StackSet& out);
  void expand(std::vector<uint32_t>& stack, StackSet& out);
  void add_stack(StackSet& set, const std::vector<uint32_t>& stack) const;
  bool partial_possible(const StackSet& stacks, const Partial& p) const;
  void visit(uint32_t node, size_t depth, std::vector<uint8_t>& allowed);

  std::shared_ptr<const Grammar> grammar_;
  std::shared_ptr<const GrammarVocab> vocab_;
  GrammarMatcherLimits limits_;
  StackSet stacks_;
  Partial partial_;
  // Scratch, kept to avoid allocating per token.
  StackSet trial_, trial2_;
  StackSet work_;  // expansion work list (last in, first out)
  std::vector<uint32_t> tmp_;
  std::vector<Level> levels_;
  struct CacheEntry {
    uint64_t key = 0;
    uint32_t cp = 0;
    bool used = false;
    StackSet from, to;
  };
  std::vector<CacheEntry> cache_;  // direct-mapped on a hash of (stacks, code point)
};

}  // namespace ternion
