// The agent loop with scripted replies (a test double playing the model), and once through the real sandbox.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "agent/sandbox_support.h"
#include "ternion/agent/agent_loop.h"
#include "ternion/core/error.h"

namespace ternion::agent {
namespace {

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

// Plays the model: answers with the scripted replies in order and keeps the messages it was sent.
class ScriptedModel : public AgentModel {
 public:
  explicit ScriptedModel(std::vector<std::string> replies) : replies_(std::move(replies)) {}
  std::string respond(const std::string& message) override {
    messages.push_back(message);
    if (messages.size() > replies_.size()) throw Error("the script has no more replies");
    return replies_[messages.size() - 1];
  }
  std::vector<std::string> messages;

 private:
  std::vector<std::string> replies_;
};

// Runs a block as if it exited with the status its code names ("exit N"), without a sandbox.
BlockRun fake_run(const CodeBlock& b) {
  BlockRun r;
  r.language = b.language->name;
  SandboxResult s;
  s.exited = true;
  s.exit_code = b.code.find("exit 0") != std::string::npos ? 0 : 1;
  s.output = "ran " + b.code;
  r.run = s;
  return r;
}

AgentHooks fake_hooks(std::vector<std::string>* log) {
  AgentHooks h;
  h.execute = fake_run;
  h.on_reply = [log](int round, const std::string& reply) { log->push_back(std::to_string(round) + ": " + reply); };
  h.on_result = [log](const std::string& result) { log->push_back(result); };
  return h;
}

TEST(AgentLoop, StopsWhenTheSecondRoundSucceeds) {
  ScriptedModel model({"```sh\nexit 1\n```", "fixed:\n```sh\nexit 0\n```\n```python\nexit 0\n```"});
  std::vector<std::string> log;
  const AgentResult r = run_agent(model, "print hello", 3, RunnerOptions(), fake_hooks(&log));
  EXPECT_EQ(r.stop, AgentStop::kSucceeded);
  EXPECT_EQ(r.rounds, 2);
  EXPECT_EQ(r.reason, "the code of round 2 ran successfully");
  ASSERT_EQ(model.messages.size(), 2u);
  EXPECT_EQ(model.messages[0].rfind("print hello\n\n", 0), 0u);
  EXPECT_TRUE(contains(model.messages[0], kAgentInstructions));
  // The second message is the first round's result.
  EXPECT_TRUE(contains(model.messages[1], "block 1 (sh): exit status 1")) << model.messages[1];
  EXPECT_TRUE(contains(model.messages[1], "ran exit 1\n")) << model.messages[1];
  ASSERT_EQ(log.size(), 5u);  // reply, result, reply, result, result
  EXPECT_EQ(log[2].rfind("2: fixed:", 0), 0u);
  EXPECT_TRUE(contains(log[4], "block 2 (python): exit status 0")) << log[4];
}

TEST(AgentLoop, EndsWhenAReplyHasNoCode) {
  ScriptedModel model({"I cannot write code.\n```text\nnot runnable\n```"});
  std::vector<std::string> log;
  const AgentResult r = run_agent(model, "task", 3, RunnerOptions(), fake_hooks(&log));
  EXPECT_EQ(r.stop, AgentStop::kNoCode);
  EXPECT_EQ(r.rounds, 1);
  EXPECT_TRUE(contains(r.reason, "round 1 has no code block in a language we run (c, c++")) << r.reason;
  EXPECT_EQ(log.size(), 1u);
}

TEST(AgentLoop, EndsWhenTheRoundsAreSpent) {
  ScriptedModel model({"```c\nexit 1\n```", "```c\nexit 2\n```"});
  std::vector<std::string> log;
  const AgentResult r = run_agent(model, "task", 2, RunnerOptions(), fake_hooks(&log));
  EXPECT_EQ(r.stop, AgentStop::kRoundsExhausted);
  EXPECT_EQ(r.rounds, 2);
  EXPECT_EQ(r.reason, "the code still failed after 2 rounds (--max-rounds)");
  EXPECT_EQ(model.messages.size(), 2u);
}

TEST(AgentLoop, RunsNothingUnconfirmed) {
  ScriptedModel model({"```sh\nexit 0\n```"});
  std::vector<std::string> log;
  AgentHooks h = fake_hooks(&log);
  int asked = 0;
  h.execute = [](const CodeBlock&) -> BlockRun { throw Error("ran unconfirmed code"); };
  h.confirm = [&](const std::vector<CodeBlock>& blocks) {
    asked += static_cast<int>(blocks.size());
    return false;
  };
  const AgentResult r = run_agent(model, "task", 3, RunnerOptions(), h);
  EXPECT_EQ(r.stop, AgentStop::kDeclined);
  EXPECT_EQ(asked, 1);
  EXPECT_TRUE(contains(r.reason, "not run")) << r.reason;
}

TEST(AgentLoop, RejectsBadArguments) {
  ScriptedModel model({});
  AgentHooks h;
  EXPECT_THROW(run_agent(model, "task", 1, RunnerOptions(), h), Error);  // no executor
  h.execute = fake_run;
  EXPECT_THROW(run_agent(model, "task", 0, RunnerOptions(), h), Error);
  EXPECT_TRUE(model.messages.empty());
}

// Plays a model offered the code runner as a tool: each scripted reply carries its calls (the parser is the
// core's, tested there and with the template-side model in the program's tests).
class ToolModel : public AgentModel {
 public:
  struct Reply {
    std::string text;
    Calls calls;
  };
  explicit ToolModel(std::vector<Reply> replies) : replies_(std::move(replies)) {}
  std::string respond(const std::string& message) override {
    messages.push_back(message);
    return next();
  }
  std::string respond_to_calls(const std::vector<std::string>& results) override {
    call_results.push_back(results);
    return next();
  }
  bool offers_tools() const override { return true; }
  Calls reply_calls() const override { return replies_[given_ - 1].calls; }
  std::vector<std::string> messages;
  std::vector<std::vector<std::string>> call_results;

 private:
  std::string next() {
    if (given_ >= replies_.size()) throw Error("the script has no more replies");
    return replies_[given_++].text;
  }
  std::vector<Reply> replies_;
  size_t given_ = 0;
};

AgentToolCall run_code(const std::string& language, const std::string& code) {
  return {kRunCodeTool, nlohmann::json({{"language", language}, {"code", code}}).dump()};
}

TEST(AgentLoop, RunsToolCallsAndAnswersEachCall) {
  ToolModel model({{"calling", {{run_code("python", "exit 1"), {"search", "{}"}}, ""}},
                   {"again", {{run_code("sh", "exit 0")}, ""}}});
  std::vector<std::string> log;
  const AgentResult r = run_agent(model, "task", 3, RunnerOptions(), fake_hooks(&log));
  EXPECT_EQ(r.stop, AgentStop::kSucceeded) << r.reason;
  EXPECT_EQ(r.rounds, 2);
  ASSERT_EQ(model.messages.size(), 1u);
  EXPECT_TRUE(contains(model.messages[0], kAgentToolInstructions)) << model.messages[0];
  ASSERT_EQ(model.call_results.size(), 1u);
  ASSERT_EQ(model.call_results[0].size(), 2u);
  EXPECT_TRUE(contains(model.call_results[0][0], "block 1 (python): exit status 1")) << model.call_results[0][0];
  EXPECT_TRUE(contains(model.call_results[0][0], "ran exit 1")) << model.call_results[0][0];
  EXPECT_EQ(model.call_results[0][1], "error: there is no tool named \"search\"; the only tool is run_code");
}

TEST(AgentLoop, ToolCallsAreConfirmedAndBadOnesStillAnswered) {
  ToolModel model({{"", {{{kRunCodeTool, "[1]"}, run_code("cobol", "x"), run_code("sh", "exit 0")}, ""}}});
  std::vector<std::string> log;
  AgentHooks h = fake_hooks(&log);
  std::vector<CodeBlock> asked;
  h.confirm = [&](const std::vector<CodeBlock>& blocks) {
    asked = blocks;
    return true;
  };
  const AgentResult r = run_agent(model, "task", 1, RunnerOptions(), h);
  EXPECT_EQ(r.stop, AgentStop::kRoundsExhausted) << "two of the three calls were bad";
  ASSERT_EQ(asked.size(), 1u);
  EXPECT_EQ(asked[0].code, "exit 0");
  ASSERT_EQ(log.size(), 4u);  // the reply, two errors, one run
  EXPECT_EQ(log[1], "call 1: error: run_code's arguments are not a JSON object\n");
  EXPECT_TRUE(contains(log[2], "\"language\" must be one of c, c++")) << log[2];
  EXPECT_TRUE(contains(log[3], "block 3 (sh): exit status 0")) << log[3];
}

TEST(AgentLoop, MalformedCallIsReportedAndFencedBlocksStillRun) {
  ToolModel model({{"<tool_call>{oops</tool_call>", {{}, "the tool call is not JSON"}},
                   ToolModel::Reply{"no call here\n```sh\nexit 0\n```", {}}});
  std::vector<std::string> log;
  const AgentResult r = run_agent(model, "task", 3, RunnerOptions(), fake_hooks(&log));
  EXPECT_EQ(r.stop, AgentStop::kSucceeded) << r.reason;
  EXPECT_EQ(r.rounds, 2);
  ASSERT_EQ(model.messages.size(), 2u);
  EXPECT_TRUE(contains(model.messages[1], "could not be read: the tool call is not JSON")) << model.messages[1];
  EXPECT_TRUE(model.call_results.empty());
}

TEST(AgentLoop, ToolModelWithNothingToRunEnds) {
  ToolModel model({ToolModel::Reply{"just words", {}}});
  std::vector<std::string> log;
  const AgentResult r = run_agent(model, "task", 3, RunnerOptions(), fake_hooks(&log));
  EXPECT_EQ(r.stop, AgentStop::kNoCode);
  EXPECT_TRUE(contains(r.reason, "and no tool call")) << r.reason;
}

TEST(CodeTool, DescribesRunCodeWithTheLanguagesWeRun) {
  const nlohmann::ordered_json tools = code_runner_tools();
  ASSERT_EQ(tools.size(), 1u);
  EXPECT_EQ(tools[0]["type"], "function");
  const auto& f = tools[0]["function"];
  EXPECT_EQ(f["name"], "run_code");
  const auto& languages = f["parameters"]["properties"]["language"]["enum"];
  ASSERT_EQ(languages.size(), 8u);
  for (const auto& l : languages) EXPECT_NE(find_language(l.get<std::string>()), nullptr) << l;
  EXPECT_EQ(f["parameters"]["required"], nlohmann::ordered_json({"language", "code"}));
}

TEST(CodeTool, ReadsACallOrSaysWhatIsWrong) {
  const CallBlock ok = block_from_call(run_code("Py", "print(1)"));
  EXPECT_EQ(ok.error, "");
  ASSERT_NE(ok.block.language, nullptr);
  EXPECT_STREQ(ok.block.language->name, "python");
  EXPECT_EQ(ok.block.code, "print(1)");
  EXPECT_EQ(block_from_call({kRunCodeTool, "not json"}).error, "run_code's arguments are not a JSON object");
  EXPECT_EQ(block_from_call({kRunCodeTool, R"({"language":"sh"})"}).error, "run_code needs a string argument \"code\"");
  EXPECT_TRUE(contains(block_from_call({kRunCodeTool, R"({"code":"x"})"}).error, "got \"\""));
}

TEST(AgentLoop, ModelWithoutToolsCannotAnswerCalls) {
  ScriptedModel model({});
  EXPECT_THROW(model.respond_to_calls({"x"}), Error);
}

TEST(AgentLoop, FixesCodeThroughTheSandbox) {
  TERNION_REQUIRE_SANDBOX();
  ScriptedModel model({"```sh\necho \"oops\" >&2; exit 5\n```", "```bash\necho fixed\n```"});
  const Sandbox sandbox;
  RunnerOptions options;
  options.run = test::short_limits();
  AgentHooks h;
  h.execute = [&](const CodeBlock& b) { return run_block(sandbox, b, options); };
  const AgentResult r = run_agent(model, "task", 3, options, h);
  EXPECT_EQ(r.stop, AgentStop::kSucceeded);
  EXPECT_EQ(r.rounds, 2);
  ASSERT_EQ(model.messages.size(), 2u);
  EXPECT_TRUE(contains(model.messages[1], "block 1 (sh): exit status 5")) << model.messages[1];
  EXPECT_TRUE(contains(model.messages[1], "```\noops\n```")) << model.messages[1];
}

}  // namespace
}  // namespace ternion::agent
