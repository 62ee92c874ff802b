// The agent loop: the model answers a task, the code blocks of its reply run in the sandbox, and their results
// go back to it as the next message, until a run succeeds or the rounds are spent.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "ternion/agent/code_blocks.h"
#include "ternion/agent/code_tool.h"
#include "ternion/agent/runner.h"

namespace ternion::agent {

// The model's side of the conversation; it keeps the history. The program plays it with a model and its chat
// template, tests with scripted replies.
class AgentModel {
 public:
  virtual ~AgentModel() = default;
  // The reply to `message`, the conversation so far before it.
  virtual std::string respond(const std::string& message) = 0;

  // Where the model's template supports tools the model is offered the code runner (code_runner_tools()) and
  // reads its replies for calls. The calls of the reply just given (empty: none, its fenced blocks are run), and
  // why text in it that began as a call could not be read ("" when nothing was malformed).
  struct Calls {
    std::vector<AgentToolCall> calls;
    std::string error;
  };
  virtual bool offers_tools() const { return false; }
  virtual Calls reply_calls() const { return {}; }
  // The reply to the results of those calls, one per call in order.
  virtual std::string respond_to_calls(const std::vector<std::string>& results);
};

enum class AgentStop { kSucceeded, kNoCode, kRoundsExhausted, kDeclined };

struct AgentResult {
  AgentStop stop = AgentStop::kNoCode;
  int rounds = 0;      // replies the model gave
  std::string reason;  // one line: why the loop ended
};

struct AgentHooks {
  // Runs one block (the sandbox through run_block in the program; tests may play it).
  std::function<BlockRun(const CodeBlock&)> execute;
  // Asked before a round's blocks run; false stops the loop (kDeclined). Unset: always run.
  std::function<bool(const std::vector<CodeBlock>&)> confirm;
  // After each reply, and after each block ran (with its formatted result).
  std::function<void(int round, const std::string& reply)> on_reply;
  std::function<void(const std::string& result)> on_result;
};

// What the first message adds to the task: how to answer so that the answer can run (with a fenced block; or
// with the run_code tool where the model is offered it).
extern const char* const kAgentInstructions;
extern const char* const kAgentToolInstructions;

// Plays up to `max_rounds` rounds (at least 1). A round succeeds when it has code (run_code calls, or else fenced
// blocks) and every one ran to exit status 0 within the limits. A call to another tool or a malformed call is
// answered with an error for the model, and the round fails.
AgentResult run_agent(AgentModel& model, const std::string& task, int max_rounds, const RunnerOptions& options,
                      const AgentHooks& hooks);

}  // namespace ternion::agent
