// The generation core: requests in several slots sharing batches give the tokens each gets alone, a prompt that
// starts like a slot's tokens evaluates only the rest (where the sliding-window cache allows), streamed text is whole
// UTF-8 characters and stop strings are found across token boundaries.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "support/golden.h"
#include "support/test_support.h"
#include "ternion/convert/load_model.h"
#include "ternion/engine/generate.h"
#include "ternion/engine/session.h"
#include "ternion/tokenizer/vocab.h"

namespace ternion {
namespace {

using nlohmann::json;

// What a request produced.
struct Outcome {
  std::vector<int32_t> tokens;
  std::string text;
  std::vector<std::string> pieces;  // the text of each delta
  Finish finish;
  bool done = false;
};

GenerationSpec greedy_spec(std::vector<int32_t> prompt, int32_t max_tokens) {
  GenerationSpec s;
  s.prompt = std::move(prompt);
  s.max_tokens = max_tokens;
  s.ignore_eos = true;
  s.sampling.temperature = 0;
  return s;
}

GenerationCallbacks collect_into(Outcome& o) {
  GenerationCallbacks cb;
  cb.on_delta = [&o](Delta&& d) {
    o.tokens.insert(o.tokens.end(), d.tokens.begin(), d.tokens.end());
    o.text += d.text;
    o.pieces.push_back(d.text);
  };
  cb.on_finish = [&o](const Finish& f) {
    o.finish = f;
    o.done = true;
  };
  return cb;
}

// Starts the requests in order as slots free up and steps until all are done.
std::vector<Outcome> run_all(Session& session, std::vector<GenerationSpec> specs) {
  std::vector<Outcome> out(specs.size());
  size_t next = 0;
  for (;;) {
    while (next < specs.size() && session.has_free_slot()) {
      EXPECT_TRUE(session.start(specs[next], collect_into(out[next])).has_value());
      ++next;
    }
    if (!session.step() && next == specs.size()) break;
  }
  for (const Outcome& o : out) EXPECT_TRUE(o.done);
  return out;
}

bool valid_utf8(const std::string& s) {
  size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    const size_t n = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xe ? 3 : (c >> 3) == 0x1e ? 4 : 0;
    if (n == 0 || i + n > s.size()) return false;
    for (size_t k = 1; k < n; ++k) {
      if ((static_cast<unsigned char>(s[i + k]) >> 6) != 0x2) return false;
    }
    i += n;
  }
  return true;
}

class SessionTest : public ::testing::Test {
 protected:
  void load(const std::string& gguf_name) {
    const auto path = test::fixture("gguf/" + gguf_name + ".gguf");
    if (!std::filesystem::exists(path)) GTEST_SKIP() << "fixture missing: " << path;
    model_ = load_model(path.string());
    tokenizer_ = std::make_unique<Tokenizer>(model_->vocab());
  }
  std::unique_ptr<InferenceContext> context(int64_t n_seq, int64_t n_batch, int64_t n_ctx = 256) {
    ContextOptions o;
    o.n_ctx = n_ctx;
    o.n_seq = n_seq;
    o.n_batch = n_batch;
    return std::make_unique<InferenceContext>(*model_, o, pool_);
  }
  ThreadPool pool_{2};
  std::unique_ptr<Model> model_;
  std::unique_ptr<Tokenizer> tokenizer_;
};

// Six golden prompts through three slots and batches of 8 tokens (prompt chunks beside other slots' decode tokens):
// every request gives the reference's 48 greedy tokens and text, as `ternion run` does.
TEST_F(SessionTest, GreedyTokensEqualTheReferenceWhateverSharesTheBatch) {
  for (const std::string name : {"kjv-llama-F16", "kjv-qwen2-F16"}) {
    load(name);
    if (model_ == nullptr) return;
    const json g = test::load_golden(name);
    auto ctx = context(3, 8);
    Session session(*ctx, *tokenizer_);
    std::vector<GenerationSpec> specs;
    for (const auto& p : g["prompts"]) {
      const auto ids = tokenize_prompt(*tokenizer_, p["prompt"].get<std::string>(), std::nullopt, false);
      EXPECT_EQ(ids, p["tokens"].get<std::vector<int32_t>>()) << name;
      specs.push_back(greedy_spec(ids, 48 - static_cast<int32_t>(specs.size())));  // they end at different steps
    }
    const std::vector<Outcome> out = run_all(session, specs);
    for (size_t i = 0; i < out.size(); ++i) {
      auto want = g["prompts"][i]["greedy_tokens"].get<std::vector<int32_t>>();
      want.resize(specs[i].max_tokens);
      EXPECT_EQ(out[i].tokens, want) << name << " prompt " << i;
      EXPECT_EQ(out[i].finish.reason, FinishReason::kLength);
      EXPECT_EQ(out[i].finish.prompt_evaluated + out[i].finish.prompt_reused,
                static_cast<int64_t>(specs[i].prompt.size()));
    }
    EXPECT_EQ(out[0].text, g["prompts"][0]["greedy_text"].get<std::string>().substr(0, out[0].text.size()));
  }
}

// The second turn of a conversation (the first turn's prompt, its reply and a new message) evaluates only the tokens
// after what the slot holds, and gives the tokens of a fresh run. `run` (the Generator) reuses the same way.
TEST_F(SessionTest, PrefixReuseEvaluatesOnlyTheNewTokens) {
  load("kjv-qwen2-F16");
  if (model_ == nullptr) return;
  const std::string turn1 =
      "<|im_start|>system\nYou answer in the words of the King James Bible.<|im_end|>\n"
      "<|im_start|>user\nWhat was in the beginning?<|im_end|>\n<|im_start|>assistant\n";
  const auto p1 = tokenize_prompt(*tokenizer_, turn1, std::nullopt, true);
  auto ctx = context(2, 512);
  Session session(*ctx, *tokenizer_);
  const Outcome first = run_all(session, {greedy_spec(p1, 16)})[0];
  EXPECT_EQ(first.finish.prompt_reused, 0);
  EXPECT_EQ(first.finish.prompt_evaluated, static_cast<int64_t>(p1.size()));

  std::vector<int32_t> p2 = p1;
  p2.insert(p2.end(), first.tokens.begin(), first.tokens.end());
  const auto more = tokenize_prompt(
      *tokenizer_, "<|im_end|>\n<|im_start|>user\nAnd then?<|im_end|>\n<|im_start|>assistant\n", false, true);
  p2.insert(p2.end(), more.begin(), more.end());
  const Outcome second = run_all(session, {greedy_spec(p2, 16)})[0];
  // The slot holds the first prompt and every reply token but the last (sampled, never run).
  const int64_t held = static_cast<int64_t>(p1.size() + first.tokens.size()) - 1;
  EXPECT_EQ(second.finish.prompt_reused, held);
  EXPECT_EQ(second.finish.prompt_evaluated, static_cast<int64_t>(p2.size()) - held);
  std::printf("two turns: turn 1 evaluated %lld of %zu prompt tokens; turn 2 evaluated %lld, reused %lld of %zu\n",
              static_cast<long long>(first.finish.prompt_evaluated), p1.size(),
              static_cast<long long>(second.finish.prompt_evaluated),
              static_cast<long long>(second.finish.prompt_reused), p2.size());

  auto fresh_ctx = context(1, 512);
  Session fresh(*fresh_ctx, *tokenizer_);
  const Outcome want = run_all(fresh, {greedy_spec(p2, 16)})[0];
  EXPECT_EQ(want.finish.prompt_reused, 0);
  EXPECT_EQ(second.tokens, want.tokens);

  // The same prompt again reuses all but its last token; a free empty slot is preferred for an unrelated prompt,
  // so the held conversation survives.
  const Outcome again = run_all(session, {greedy_spec(p2, 16)})[0];
  EXPECT_EQ(again.finish.prompt_evaluated, 1);
  EXPECT_EQ(again.tokens, want.tokens);
  EXPECT_EQ(session.reusable_prefix(0, p2) + session.reusable_prefix(1, p2), static_cast<int64_t>(p2.size()) - 1);

  // The CLI's Generator: a second prompt that extends the first evaluates only the extension.
  ContextOptions co;
  co.n_ctx = 256;
  Generator gen(*model_, co, 2);
  GenerateOptions go = test::greedy(8);
  go.parse_special = true;
  const GenerateResult r1 = gen.generate(turn1, go);
  const GenerateResult r2 = gen.generate(turn1 + "In the beginning", go);
  EXPECT_EQ(r1.timings.prompt_reused, 0);
  EXPECT_EQ(r2.timings.prompt_reused, static_cast<int64_t>(p1.size()));
  EXPECT_EQ(r2.timings.prompt_tokens, static_cast<int64_t>(r2.prompt_tokens.size() - p1.size()));
}

// A sliding-window model keeps only the last window - 1 + n_batch keys in its sliding layers: a prompt sharing only
// an early prefix with the slot restarts from 0; one that extends the slot's tokens reuses them. Both give the tokens
// of a fresh run.
TEST_F(SessionTest, SlidingWindowFallsBackWhereTheKeysAreGone) {
  for (const std::string arch : {"mistral-swa", "gemma2"}) {
    const auto dir = test::fixture("arch/" + arch);
    TERNION_REQUIRE_FIXTURE(dir / "model.safetensors");
    model_ = load_model(dir.string());
    tokenizer_ = std::make_unique<Tokenizer>(model_->vocab());
    ASSERT_EQ(model_->hparams().sliding_window, 8);
    std::vector<int32_t> base;
    for (int32_t i = 0; i < 30; ++i) base.push_back((i * 37 + 11) % 100 + 3);
    auto ctx = context(1, 2, 96);  // sliding layers keep 9 positions
    Session session(*ctx, *tokenizer_);
    const Outcome first = run_all(session, {greedy_spec(base, 4)})[0];

    // Extends what the slot holds (the prompt and every reply token but the last): all of it is reused.
    std::vector<int32_t> extended = base;
    extended.insert(extended.end(), first.tokens.begin(), first.tokens.end() - 1);
    extended.insert(extended.end(), {7, 8, 9});
    // Shares the first 10 tokens, whose keys the sliding layers no longer hold: evaluated from 0.
    std::vector<int32_t> early(base.begin(), base.begin() + 10);
    early.insert(early.end(), {7, 8, 9});
    const std::vector<std::pair<std::vector<int32_t>, int64_t>> cases = {
        {extended, static_cast<int64_t>(base.size() + first.tokens.size()) - 1}, {early, 0}};
    for (const auto& [prompt, reused] : cases) {
      const Outcome got = run_all(session, {greedy_spec(prompt, 6)})[0];
      EXPECT_EQ(got.finish.prompt_reused, reused) << arch << ": prompt of " << prompt.size();
      auto fresh_ctx = context(1, 2, 96);
      Session fresh(*fresh_ctx, *tokenizer_);
      const Outcome want = run_all(fresh, {greedy_spec(prompt, 6)})[0];
      EXPECT_EQ(got.tokens, want.tokens) << arch << ": prompt of " << prompt.size();
    }
  }
}

// Byte tokens forced in turn (a lead byte, then its continuation): each delta is whole UTF-8, the bytes of a character
// never split across deltas.
TEST_F(SessionTest, StreamingNeverEmitsHalfACharacter) {
  load("kjv-llama-F16");
  if (model_ == nullptr) return;
  const Vocab& v = tokenizer_->vocab();
  const auto id_of = [&](const std::string& text) {
    const auto it = std::find(v.tokens.begin(), v.tokens.end(), text);
    return it == v.tokens.end() ? -1 : static_cast<int32_t>(it - v.tokens.begin());
  };
  const int32_t lead = id_of("<0xC3>"), cont = id_of("<0xA9>");
  if (lead < 0 || cont < 0) GTEST_SKIP() << "no byte tokens in this vocabulary";
  auto ctx = context(1, 64);
  Session session(*ctx, *tokenizer_);
  GenerationSpec s = greedy_spec(tokenize_prompt(*tokenizer_, "And God said", std::nullopt, false), 8);
  s.sampling.logit_bias = {{lead, 100.0f}, {cont, 90.0f}};
  s.sampling.repeat_penalty = 4.0f;  // the last token falls below the other one
  s.sampling.repeat_last_n = 1;
  const Outcome o = run_all(session, {s})[0];
  EXPECT_EQ(o.tokens, (std::vector<int32_t>{lead, cont, lead, cont, lead, cont, lead, cont}));
  EXPECT_EQ(o.text, "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9");
  ASSERT_EQ(o.pieces.size(), 8u);
  for (size_t i = 0; i < o.pieces.size(); ++i) {
    EXPECT_TRUE(valid_utf8(o.pieces[i])) << "delta " << i;
    EXPECT_EQ(o.pieces[i].size(), i % 2 == 0 ? 0u : 2u) << "delta " << i;
  }
}

// A stop string made of the end of one token's text and the start of the next ends generation before it; the text
// before it is the reference's, and no delta ever shows a part of it.
TEST_F(SessionTest, StopStringAcrossTokenBoundaries) {
  load("kjv-llama-F16");
  if (model_ == nullptr) return;
  const json g = test::load_golden("kjv-llama-F16");
  const auto& p = g["prompts"][0];
  const auto ids = p["tokens"].get<std::vector<int32_t>>();
  const auto greedy = p["greedy_tokens"].get<std::vector<int32_t>>();
  const std::string want_text = p["greedy_text"].get<std::string>();
  // Token k's text ends with two characters that the stop string takes, then two of token k + 1.
  std::vector<std::string> pieces;
  StreamDecoder decoder(*tokenizer_, false);
  for (int32_t t : greedy) pieces.push_back(decoder.push(t));
  size_t k = 4;
  while (k + 1 < pieces.size() && (pieces[k].size() < 2 || pieces[k + 1].size() < 2)) ++k;
  ASSERT_LT(k + 1, pieces.size());
  const std::string stop = pieces[k].substr(pieces[k].size() - 2) + pieces[k + 1].substr(0, 2);
  const size_t at = want_text.find(stop);
  ASSERT_NE(at, std::string::npos);

  auto ctx = context(1, 64);
  Session session(*ctx, *tokenizer_);
  GenerationSpec s = greedy_spec(ids, 48);
  s.stop = {stop};
  const Outcome o = run_all(session, {s})[0];
  EXPECT_EQ(o.finish.reason, FinishReason::kStopString);
  EXPECT_STREQ(finish_reason_name(o.finish.reason), "stop");
  EXPECT_EQ(o.text, want_text.substr(0, at));
  for (const std::string& piece : o.pieces) EXPECT_EQ(piece.find(stop.substr(0, 2)), std::string::npos) << piece;
}

// Cancellation ends a request after the step that notices it, with the tokens so far; the slot is free again.
TEST_F(SessionTest, CancelEndsTheRequestAndFreesItsSlot) {
  load("kjv-llama-F16");
  if (model_ == nullptr) return;
  auto ctx = context(1, 64);
  Session session(*ctx, *tokenizer_);
  Outcome o;
  bool cancel = false;
  GenerationCallbacks cb = collect_into(o);
  cb.cancelled = [&cancel] { return cancel; };
  ASSERT_TRUE(session.start(greedy_spec(tokenize_prompt(*tokenizer_, "ROMEO:", std::nullopt, false), 40), cb));
  EXPECT_FALSE(session.has_free_slot());
  EXPECT_FALSE(session.start(greedy_spec({1, 2}, 4), {}).has_value());
  session.step();
  session.step();
  cancel = true;
  session.step();
  EXPECT_TRUE(o.done);
  EXPECT_EQ(o.finish.reason, FinishReason::kCancelled);
  EXPECT_EQ(o.tokens.size(), 3u);
  EXPECT_TRUE(session.has_free_slot());
  EXPECT_THROW(session.start(greedy_spec({}, 4), {}), Error);
  EXPECT_THROW(session.start(greedy_spec({1}, 256), {}), Error);
}

}  // namespace
}  // namespace ternion
