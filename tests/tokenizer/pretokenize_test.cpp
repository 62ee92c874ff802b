// The BPE pre-tokenizers: fixed examples, and PCRE2's splits compared on random text with a port of llama.cpp's
// hand-written GPT-2 and Llama-3 splitters (unicode_regex_split_custom_gpt2 / _llama3), which llama.cpp uses instead
// of its regexes for those two patterns.
#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

#include "ternion/core/error.h"
#include "tokenizer/pretokenize.h"
#include "tokenizer/unicode.h"

namespace ternion::detail {
namespace {

std::vector<std::string> split(const PreTokenizer& pre, std::string_view text) {
  std::vector<TextSpan> spans;
  pre.split(text, spans);
  std::vector<std::string> words;
  size_t covered = 0;
  for (const TextSpan& s : spans) {
    EXPECT_EQ(s.offset, covered) << "pieces must cover the text in order";
    EXPECT_GT(s.length, 0u);
    covered = s.offset + s.length;
    words.emplace_back(text.substr(s.offset, s.length));
  }
  EXPECT_EQ(covered, text.size());
  return words;
}

using Words = std::vector<std::string>;

TEST(PreTokenizer, Gpt2Examples) {
  const PreTokenizer pre("gpt-2");
  EXPECT_EQ(split(pre, "Hello world"), (Words{"Hello", " world"}));
  EXPECT_EQ(split(pre, "I'm  fine!!\n"), (Words{"I", "'m", " ", " fine", "!!", "\n"}));
  EXPECT_EQ(split(pre, "  x"), (Words{" ", " x"}));
  EXPECT_EQ(split(pre, "a   "), (Words{"a", "   "}));
  EXPECT_EQ(split(pre, "\tb"), (Words{"\t", "b"}));
  EXPECT_EQ(split(pre, "It'S 2025"), (Words{"It", "'", "S", " 2025"}));  // GPT-2's contractions are lower case only
  // NBSP is whitespace: "\s+(?!\S)" leaves it alone before "x", and GPT-2's regex has no plain "\s+".
  EXPECT_EQ(split(pre, "caf\xC3\xA9 \xC2\xA0x"), (Words{"caf\xC3\xA9", " ", "\xC2\xA0", "x"}));
  EXPECT_TRUE(split(pre, "").empty());
}

TEST(PreTokenizer, Llama3Examples) {
  const PreTokenizer pre("llama-bpe");
  EXPECT_TRUE(pre.info().ignore_merges);
  EXPECT_TRUE(pre.info().add_bos);
  EXPECT_EQ(split(pre, "1234567"), (Words{"123", "456", "7"}));
  EXPECT_EQ(split(pre, "It'S ok"), (Words{"It", "'S", " ok"}));
  EXPECT_EQ(split(pre, "a,b"), (Words{"a", ",b"}));
  EXPECT_EQ(split(pre, "x.\r\n\ny"), (Words{"x", ".\r\n\n", "y"}));
  EXPECT_EQ(split(pre, "x \n  y"), (Words{"x", " \n", " ", " y"}));
}

TEST(PreTokenizer, Qwen2Examples) {
  const PreTokenizer pre("qwen2");
  EXPECT_FALSE(pre.info().ignore_merges);
  EXPECT_EQ(split(pre, "1234"), (Words{"1", "2", "3", "4"}));
  EXPECT_EQ(split(pre, "Hello, World! It's"), (Words{"Hello", ",", " World", "!", " It", "'s"}));
  EXPECT_EQ(split(pre, "    def"), (Words{"   ", " def"}));
}

TEST(PreTokenizer, DefaultAppliesFourRegexesInTurn) {
  const PreTokenizer pre("default");
  // Punctuation runs first, then the GPT-2 split, then number runs, then groups of three digits.
  EXPECT_EQ(split(pre, "a...b 123456"), (Words{"a", "...", "b", " ", "123", "456"}));
}

TEST(PreTokenizer, DeepseekLiteralClassesSkipNonAsciiWhitespace) {
  const PreTokenizer pre("deepseek-llm");
  // U+3000 lies in the punctuation class's range "\u3000-\u3002", but llama.cpp never lets it match there.
  EXPECT_EQ(split(pre, "a \xE3\x80\x80'b"), (Words{"a", " ", "\xE3\x80\x80'", "b"}));
}

TEST(PreTokenizer, UnknownTypeListsSupportedOnes) {
  try {
    PreTokenizer pre("tekken");
    FAIL() << "expected an Error";
  } catch (const Error& e) {
    const std::string message = e.what();
    EXPECT_NE(message.find("'tekken'"), std::string::npos) << message;
    EXPECT_NE(message.find("qwen2"), std::string::npos) << message;
    EXPECT_NE(message.find("llama-bpe"), std::string::npos) << message;
  }
}

TEST(PreTokenizer, EveryListedTypeCompiles) {
  for (std::string_view name : pre_type_names()) {
    SCOPED_TRACE(std::string(name));
    const PreTokenizer pre(name);
    EXPECT_GE(split(pre, "Hello, y'all! 123 \xE6\x97\xA5\xE6\x9C\xAC  \n").size(), 8u);
  }
}

TEST(PreTokenizer, RegexRewrite) {
  EXPECT_EQ(adapt_regex("a\\s"),
            "a[\\x{9}-\\x{D}\\x{20}\\x{85}\\x{A0}\\x{1680}\\x{2000}-\\x{200A}"
            "\\x{2028}\\x{2029}\\x{202F}\\x{205F}\\x{3000}]");
  const std::string in_class = adapt_regex("[^\\s\\p{L}]");
  EXPECT_TRUE(in_class.starts_with("[^\\x{9}-")) << in_class;
  EXPECT_TRUE(in_class.ends_with("\\x{3000}\\p{L}]")) << in_class;
  EXPECT_EQ(adapt_regex("\\\\s"), "\\\\s");  // an escaped backslash followed by "s" stays
  EXPECT_EQ(adapt_regex("[]\\s]\\p{L}").substr(0, 2), "[]");
  // Without "\p{..}" llama.cpp hides non-ASCII whitespace from literal classes; a lookahead does that here.
  EXPECT_EQ(adapt_regex("[a-z]+[^b]"),
            "(?:(?![\\x{85}\\x{A0}\\x{1680}\\x{2000}-\\x{200A}\\x{2028}\\x{2029}\\x{202F}"
            "\\x{205F}\\x{3000}])[a-z])+[^b]");
}

TEST(PreTokenizer, LongWhitespaceRun) {
  const PreTokenizer pre("qwen2");
  const std::string text = std::string(300000, ' ') + "a" + std::string(200000, '\n');
  const Words words = split(pre, text);
  ASSERT_EQ(words.size(), 3u);
  EXPECT_EQ(words[0].size(), 299999u);
  EXPECT_EQ(words[1], " a");
  EXPECT_EQ(words[2].size(), 200000u);
}

// ---- A port of llama.cpp's hand-written splitters, over a small alphabet whose categories are listed here.

struct Flags {
  bool letter = false, number = false, whitespace = false, defined = false;
};

struct Char {
  uint32_t cpt;
  Flags flags;
};

using Cpts = std::initializer_list<uint32_t>;

const std::vector<Char>& alphabet() {
  static const std::vector<Char> chars = [] {
    std::vector<Char> c;
    for (uint32_t l : Cpts{'a', 'b', 'e', 'l', 'm', 'r', 's', 't', 'v', 'd', 'S', 'T', 'L', 'D', 0xE9, 0x416, 0x65E5}) {
      c.push_back({l, {true, false, false, true}});
    }
    for (uint32_t n : Cpts{'0', '7', 0x663, 0x216B, 0xBD}) c.push_back({n, {false, true, false, true}});
    for (uint32_t w : Cpts{' ', ' ', ' ', '\t', '\n', '\r', 0x0B, 0xA0, 0x3000, 0x2028, 0x85}) {
      c.push_back({w, {false, false, true, true}});
    }
    for (uint32_t o : Cpts{'\'', '\'', '.', ',', '!', '$', '+', '~', 0x301, 0x1F642, 0x378, 0x1C}) {
      c.push_back({o, {false, false, false, true}});
    }
    return c;
  }();
  return chars;
}

Flags flags_of(uint32_t cpt) {
  for (const Char& c : alphabet()) {
    if (c.cpt == cpt) return c.flags;
  }
  ADD_FAILURE() << "code point outside the test alphabet";
  return {};
}

constexpr uint32_t kOutOfRange = 0xFFFFFFFF;

// unicode_regex_split_custom_gpt2 / _llama3 over code points, returning piece lengths in code points.
std::vector<size_t> custom_split(const std::vector<uint32_t>& cpts, bool llama3) {
  std::vector<size_t> out;
  const size_t end = cpts.size();
  auto cpt_at = [&](size_t pos) { return pos < end ? cpts[pos] : kOutOfRange; };
  auto flags_at = [&](size_t pos) { return pos < end ? flags_of(cpts[pos]) : Flags{}; };
  auto lower = [](uint32_t c) { return c >= 'A' && c <= 'Z' ? c + 32 : c; };
  size_t prev_end = 0;
  auto add = [&](size_t e) {
    const size_t len = e - prev_end;
    if (len > 0) out.push_back(len);
    prev_end = e;
    return len;
  };
  for (size_t pos = 0; pos < end;) {
    const uint32_t cpt = cpt_at(pos);
    const Flags flags = flags_at(pos);
    if (cpt == '\'' && pos + 1 < end) {
      const uint32_t next = llama3 ? lower(cpt_at(pos + 1)) : cpt_at(pos + 1);
      if (next == 's' || next == 't' || next == 'm' || next == 'd') {
        pos += add(pos + 2);
        continue;
      }
      if (pos + 2 < end) {
        const uint32_t next2 = llama3 ? lower(cpt_at(pos + 2)) : cpt_at(pos + 2);
        if ((next == 'r' && next2 == 'e') || (next == 'v' && next2 == 'e') || (next == 'l' && next2 == 'l')) {
          pos += add(pos + 3);
          continue;
        }
      }
    }
    if (llama3) {
      if (!(cpt == '\r' || cpt == '\n' || flags.number) && (flags.letter || flags_at(pos + 1).letter)) {
        ++pos;
        while (flags_at(pos).letter) ++pos;
        add(pos);
        continue;
      }
      if (flags.number) {
        size_t ini = pos;
        while (flags_at(pos).number) {
          if (++pos - ini >= 3) {
            add(pos);
            ini = pos;
          }
        }
        add(pos);
        continue;
      }
      Flags f2 = cpt == ' ' ? flags_at(pos + 1) : flags;
      if (!(f2.whitespace || f2.letter || f2.number) && flags.defined) {
        pos += cpt == ' ' ? 1 : 0;
        while (!(f2.whitespace || f2.letter || f2.number) && f2.defined) f2 = flags_at(++pos);
        for (uint32_t c2 = cpt_at(pos); c2 == '\r' || c2 == '\n'; c2 = cpt_at(++pos)) {
        }
        add(pos);
        continue;
      }
    } else {
      Flags f2 = cpt == ' ' ? flags_at(pos + 1) : flags;
      if (f2.letter || f2.number) {
        const bool letter = f2.letter;
        pos += cpt == ' ' ? 1 : 0;
        while (letter ? f2.letter : f2.number) f2 = flags_at(++pos);
        add(pos);
        continue;
      }
      if (!(f2.whitespace || f2.letter || f2.number) && f2.defined) {
        pos += cpt == ' ' ? 1 : 0;
        while (!(f2.whitespace || f2.letter || f2.number) && f2.defined) f2 = flags_at(++pos);
        add(pos);
        continue;
      }
    }
    size_t n_ws = 0;
    size_t last_rn = 0;
    while (flags_at(pos + n_ws).whitespace) {
      const uint32_t c2 = cpt_at(pos + n_ws);
      if (c2 == '\r' || c2 == '\n') last_rn = pos + n_ws + 1;
      ++n_ws;
    }
    if (llama3 && last_rn > 0) {
      pos = last_rn;
      add(pos);
      continue;
    }
    if (n_ws > 1 && cpt_at(pos + n_ws) != kOutOfRange) {
      pos += n_ws - 1;
      add(pos);
      continue;
    }
    if (n_ws > 0) {
      pos += n_ws;
      add(pos);
      continue;
    }
    add(++pos);
  }
  return out;
}

void compare_with_custom_splitter(const char* pre_name, bool llama3) {
  const PreTokenizer pre(pre_name);
  std::mt19937 rng(1234);
  const auto& chars = alphabet();
  std::uniform_int_distribution<size_t> pick(0, chars.size() - 1);
  std::uniform_int_distribution<size_t> length(0, 24);
  for (int iteration = 0; iteration < 3000; ++iteration) {
    std::vector<uint32_t> cpts(length(rng));
    std::string text;
    for (uint32_t& c : cpts) {
      c = chars[pick(rng)].cpt;
      append_utf8(text, c);
    }
    std::vector<std::string> expected;
    size_t at = 0;
    for (size_t len : custom_split(cpts, llama3)) {
      std::string word;
      for (size_t i = at; i < at + len; ++i) append_utf8(word, cpts[i]);
      expected.push_back(word);
      at += len;
    }
    ASSERT_EQ(split(pre, text), expected) << "text: " << text;
  }
}

TEST(PreTokenizer, Gpt2MatchesLlamaCppCustomSplitter) { compare_with_custom_splitter("gpt-2", false); }

TEST(PreTokenizer, Llama3MatchesLlamaCppCustomSplitter) { compare_with_custom_splitter("llama-bpe", true); }

}  // namespace
}  // namespace ternion::detail
