// The GBNF parser: valid and malformed grammars, limits, llama.cpp's example grammars; the matcher over text.
#include <gtest/gtest.h>

#include <fstream>
#include <memory>
#include <sstream>
#include <string>

#include "ternion/core/error.h"
#include "ternion/sampling/grammar.h"
#include "ternion/sampling/grammar_matcher.h"

namespace ternion {
namespace {

// A vocabulary of single bytes (all 256) so that any text can be fed.
std::shared_ptr<const GrammarVocab> byte_vocab() {
  std::vector<std::string> pieces;
  for (int b = 0; b < 256; ++b) pieces.emplace_back(1, static_cast<char>(b));
  pieces.emplace_back();  // an end-of-generation token
  std::vector<bool> eog(pieces.size(), false);
  eog.back() = true;
  return std::make_shared<const GrammarVocab>(std::move(pieces), std::move(eog));
}

// Whether `text` is a complete match of `gbnf`.
bool matches(const std::string& gbnf, const std::string& text) {
  GrammarMatcher m(std::make_shared<const Grammar>(Grammar::parse(gbnf)), byte_vocab());
  return m.accept_text(text) && m.can_end();
}

std::string parse_error(const std::string& gbnf) {
  try {
    Grammar::parse(gbnf);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

std::string read_file(const std::string& path) {
  std::ifstream f(path);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

TEST(Grammar, LiteralsSequencesAlternatives) {
  const std::string g = "root ::= \"ab\" c | \"x\"\nc ::= \"c\"  # a comment\n";
  EXPECT_TRUE(matches(g, "abc"));
  EXPECT_TRUE(matches(g, "x"));
  EXPECT_FALSE(matches(g, "ab"));
  EXPECT_FALSE(matches(g, "abcx"));
  EXPECT_FALSE(matches(g, ""));
}

TEST(Grammar, Repetitions) {
  EXPECT_TRUE(matches("root ::= \"a\"*", ""));
  EXPECT_TRUE(matches("root ::= \"a\"*", "aaaa"));
  EXPECT_FALSE(matches("root ::= \"a\"+", ""));
  EXPECT_TRUE(matches("root ::= \"a\"+ \"b\"?", "aab"));
  EXPECT_FALSE(matches("root ::= \"a\"+ \"b\"?", "abb"));
  for (int n = 0; n <= 6; ++n) {
    const std::string s(static_cast<size_t>(n), 'a');
    EXPECT_EQ(matches("root ::= \"a\"{3}", s), n == 3) << n;
    EXPECT_EQ(matches("root ::= \"a\"{2,}", s), n >= 2) << n;
    EXPECT_EQ(matches("root ::= \"a\"{2,4}", s), n >= 2 && n <= 4) << n;
    EXPECT_EQ(matches("root ::= \"a\"{0,1}", s), n <= 1) << n;
    EXPECT_EQ(matches("root ::= (\"a\" \"a\"){1,2}", s), n == 2 || n == 4) << n;
    EXPECT_EQ(matches("root ::= \"aa\"{ 1 , 2 }", s), n == 2 || n == 4) << n;
  }
}

TEST(Grammar, CharacterClasses) {
  const std::string g = "root ::= [a-cx] [^0-9\\]] . [\\u00e9-\\u00ea]";
  EXPECT_TRUE(matches(g, "bq\xe2\x82\xac\xc3\xa9"));  // b q € é
  EXPECT_TRUE(matches(g, "x!!\xc3\xaa"));
  EXPECT_FALSE(matches(g, "dq!\xc3\xa9"));
  EXPECT_FALSE(matches(g, "a5!\xc3\xa9"));
  EXPECT_FALSE(matches(g, "a]!\xc3\xa9"));
  EXPECT_FALSE(matches(g, "aq!e"));
  EXPECT_TRUE(matches("root ::= \"\\x41\\u00e9\\U0001F600\\t\\\"\"", "A\xc3\xa9\xf0\x9f\x98\x80\t\""));
  EXPECT_TRUE(matches("root ::= [-a]+", "-a-"));  // a '-' first is itself
  EXPECT_TRUE(matches("root ::= [a-]+", "a-"));   // and last
}

TEST(Grammar, MultiLineRulesAndGroups) {
  const std::string g = "root ::= (\n  \"a\" |\n  \"b\"\n)+\n\n# done\n";
  EXPECT_TRUE(matches(g, "abba"));
  EXPECT_FALSE(matches(g, "abc"));
  EXPECT_TRUE(matches("root ::= x\r\nx ::= \"y\"\r\n", "y"));  // CRLF lines
}

TEST(Grammar, NullableRulesAndEmptyAlternatives) {
  const std::string g = "root ::= a b \"c\"\na ::= | \"a\"\nb ::= a a";
  EXPECT_TRUE(matches(g, "c"));
  EXPECT_TRUE(matches(g, "aaac"));
  EXPECT_FALSE(matches(g, "aaaac"));
  EXPECT_TRUE(matches("root ::= \"\"", ""));
}

TEST(Grammar, RecursionThatConsumesFirstIsFine) {
  const std::string g = "root ::= \"(\" root \")\" | \"x\"";
  EXPECT_TRUE(matches(g, "((x))"));
  EXPECT_FALSE(matches(g, "((x)"));
}

TEST(Grammar, ErrorsNameLineAndColumn) {
  EXPECT_EQ(parse_error("root ::= \"a\"\nx ::= [a-"), "grammar: line 2, column 7: unterminated character class");
  EXPECT_EQ(parse_error("root ::= foo"), "grammar: line 1, column 10: rule 'foo' is not defined");
  EXPECT_EQ(parse_error("root := \"a\""), "grammar: line 1, column 6: expected '::=' after the rule name");
  EXPECT_EQ(parse_error("x ::= \"a\""), "grammar: no 'root' rule");
  EXPECT_EQ(parse_error(""), "grammar: no 'root' rule");
  EXPECT_EQ(parse_error("root ::= \"a"), "grammar: line 1, column 12: unterminated string literal");
  EXPECT_EQ(parse_error("root ::= ( \"a\""), "grammar: line 1, column 15: expected ')' to close the group");
  EXPECT_EQ(parse_error("root ::= \"a\" )"), "grammar: line 1, column 14: unexpected ')'");
  EXPECT_EQ(parse_error("root ::= *"), "grammar: line 1, column 11: nothing to repeat before the repetition operator");
  EXPECT_EQ(parse_error("root ::= \"\\q\""), "grammar: line 1, column 11: unknown escape '\\q'");
  EXPECT_EQ(parse_error("root ::= \"\\x4\""), "grammar: line 1, column 11: expected 2 hex digits");
  EXPECT_EQ(parse_error("root ::= [z-a]"), "grammar: line 1, column 14: character range with its end before its start");
  EXPECT_EQ(parse_error("root ::= []"), "grammar: line 1, column 10: empty character class");
  EXPECT_EQ(parse_error("root ::= \"a\"{3,1}"),
            "grammar: line 1, column 18: repetition with its maximum below its minimum");
  EXPECT_EQ(parse_error("root ::= \"a\"{x}"), "grammar: line 1, column 14: expected a number");
  EXPECT_EQ(parse_error("root ::= \"a\"\nroot ::= \"b\""), "grammar: line 2, column 1: rule 'root' is defined twice");
  EXPECT_EQ(parse_error("root ::= \"\xff\""), "grammar: line 1, column 11: invalid UTF-8");
  EXPECT_EQ(parse_error("root ::= \"\\U00110000\""), "grammar: line 1, column 11: code point above U+10FFFF");
}

TEST(Grammar, LeftRecursionIsRefused) {
  EXPECT_EQ(parse_error("root ::= root \"a\" | \"b\""), "grammar: rule 'root' is left-recursive");
  EXPECT_EQ(parse_error("root ::= a\na ::= b \"x\"\nb ::= | root"), "grammar: rule 'root' is left-recursive");
  // Through a nullable prefix, and a repetition of something that may match nothing.
  EXPECT_NE(parse_error("root ::= e root \"a\" | \"b\"\ne ::= \"\"").find("left-recursive"), std::string::npos);
  EXPECT_NE(parse_error("root ::= (\"a\"?)*").find("left-recursive"), std::string::npos);
}

TEST(Grammar, LimitsBoundHostileGrammars) {
  EXPECT_NE(parse_error("root ::= \"a\"{10001}").find("repetition count above the limit"), std::string::npos);
  EXPECT_NE(parse_error("root ::= \"a\"{99999999999999999999}").find("limit"), std::string::npos);
  // Nested repetitions do not multiply (a repeated item is one rule reference), and the element count is bounded.
  const std::string nested = "root ::= ((((\"ab\"{9999}){9999}){9999}){9999})";
  const Grammar g = Grammar::parse(nested);
  EXPECT_LT(g.elements().size(), 50'000u);
  GrammarLimits few;
  few.max_elements = 20'000;
  EXPECT_THROW(Grammar::parse(nested, few), Error);
  EXPECT_NE(parse_error("root ::= " + std::string(200, '(') + "\"a\"" + std::string(200, ')')).find("nested deeper"),
            std::string::npos);
  GrammarLimits small;
  small.max_rules = 3;
  EXPECT_THROW(Grammar::parse("root ::= a b c d\na ::= \"a\"\nb ::= \"b\"\nc ::= \"c\"\nd ::= \"d\"", small), Error);
  small = {};
  small.max_text = 10;
  EXPECT_THROW(Grammar::parse("root ::= \"aaaaaaaaaaaaaaaaa\"", small), Error);
}

TEST(Grammar, AmbiguityIsBoundedAtMatchTime) {
  // After n a's, any nesting depth up to n is still possible: one stack each, capped.
  GrammarMatcherLimits limits;
  limits.max_stacks = 8;
  GrammarMatcher m(std::make_shared<const Grammar>(Grammar::parse("root ::= x*\nx ::= \"a\" | \"a\" x \"b\"")),
                   byte_vocab(), limits);
  EXPECT_THROW(m.accept_text(std::string(64, 'a')), Error);
}

TEST(Grammar, LlamaCppExampleGrammars) {
  const std::string dir = std::string(TERNION_SOURCE_DIR) + "/.ref/llama.cpp/grammars/";
  const std::string alt = "/work/main/.ref/llama.cpp/grammars/";
  auto load = [&](const std::string& name) {
    std::string s = read_file(dir + name);
    return s.empty() ? read_file(alt + name) : s;
  };
  const std::string json = load("json.gbnf");
  if (json.empty()) GTEST_SKIP() << "llama.cpp's grammars are not in .ref";
  EXPECT_TRUE(matches(json, R"({"a": [1, 2.5e3, "x\n\u00e9"], "b": {"c": null, "d": true}})"));
  EXPECT_FALSE(matches(json, R"({"a": [1, 2,]})"));
  EXPECT_FALSE(matches(json, R"([1])"));  // root is an object
  EXPECT_TRUE(matches(load("arithmetic.gbnf"), "x = (1 +y *2)\n"));
  EXPECT_FALSE(matches(load("arithmetic.gbnf"), "x = 1 +\n"));
  EXPECT_TRUE(matches(load("list.gbnf"), "- one\n- two\n"));
  EXPECT_FALSE(matches(load("list.gbnf"), "- one\n-two\n"));
  EXPECT_TRUE(matches(load("chess.gbnf"), "1. e4 e5\n2. Nf3 Nc6\n"));
  EXPECT_TRUE(matches(load("c.gbnf"), "int main(int argc){int x = 1;return x;}"));
  for (const char* name : {"json_arr.gbnf", "japanese.gbnf", "english.gbnf"}) {
    EXPECT_NO_THROW(Grammar::parse(load(name))) << name;
  }
}

}  // namespace
}  // namespace ternion
