#include "ternion/agent/agent_loop.h"

#include "ternion/core/error.h"

namespace ternion::agent {

const char* const kAgentInstructions =
    "Answer with a complete program in one fenced code block tagged with its language (```python, ```c, ```sh, "
    "...). It will be run without network access and its output shown to you.";
const char* const kAgentToolInstructions =
    "Call the run_code tool with a complete program. It will be run without network access and its output shown "
    "to you.";

std::string AgentModel::respond_to_calls(const std::vector<std::string>&) {
  throw Error("this model was not offered tools, so it has no calls to answer");
}

namespace {

std::string feedback(const std::string& results) {
  return "The code ran with these results:\n\n" + results +
         "\nFix the code and answer with the whole corrected program in one fenced code block.";
}

std::string round_name(int round) { return "round " + std::to_string(round); }

// What one round ran, and what goes back to the model: a message, or one result per tool call.
struct RoundOutcome {
  bool ran_code = false;  // false: the reply had neither a call nor a runnable block
  bool declined = false;
  bool all_ok = true;
  bool as_calls = false;
  std::string message;
  std::vector<std::string> call_results;
};

// Runs `blocks` (confirmed first); `results[slot[i]]` gets block i's formatted result.
void run_blocks(const std::vector<CodeBlock>& blocks, const RunnerOptions& options, const AgentHooks& hooks,
                RoundOutcome& out, std::vector<std::string>& results, const std::vector<size_t>& slot) {
  if (blocks.empty()) return;
  if (hooks.confirm && !hooks.confirm(blocks)) {
    out.declined = true;
    return;
  }
  for (size_t i = 0; i < blocks.size(); ++i) {
    const BlockRun run = hooks.execute(blocks[i]);
    const std::string text = format_block_run(run, static_cast<int>(slot[i]) + 1, options);
    if (hooks.on_result) hooks.on_result(text);
    results[slot[i]] = text;
    out.all_ok = out.all_ok && run.ok();
  }
}

// A reply with tool calls: each run_code call runs as a block would; any other call is an error for the model.
RoundOutcome run_calls(const std::vector<AgentToolCall>& calls, const RunnerOptions& options, const AgentHooks& hooks) {
  RoundOutcome out;
  out.ran_code = out.as_calls = true;
  out.call_results.resize(calls.size());
  std::vector<CodeBlock> blocks;
  std::vector<size_t> slot;
  for (size_t i = 0; i < calls.size(); ++i) {
    CallBlock cb = block_from_call(calls[i]);
    if (!cb.error.empty()) {
      out.call_results[i] = "error: " + cb.error;
      if (hooks.on_result) hooks.on_result("call " + std::to_string(i + 1) + ": " + out.call_results[i] + "\n");
      out.all_ok = false;
      continue;
    }
    blocks.push_back(std::move(cb.block));
    slot.push_back(i);
  }
  run_blocks(blocks, options, hooks, out, out.call_results, slot);
  return out;
}

RoundOutcome play_reply(AgentModel& model, const std::string& reply, const RunnerOptions& options,
                        const AgentHooks& hooks) {
  const AgentModel::Calls calls = model.reply_calls();
  if (!calls.calls.empty()) return run_calls(calls.calls, options, hooks);
  RoundOutcome out;
  const std::vector<CodeBlock> blocks = runnable_blocks(reply);
  if (blocks.empty() && !calls.error.empty()) {
    // A call the model meant but wrote wrong: say so, and let it try again.
    out.ran_code = true;
    out.all_ok = false;
    out.message = "Your tool call could not be read: " + calls.error + "\nCall " + kRunCodeTool +
                  " again with a JSON object {\"name\": \"" + kRunCodeTool +
                  "\", \"arguments\": {\"language\": ..., \"code\": ...}}.";
    if (hooks.on_result) hooks.on_result("error: the tool call could not be read: " + calls.error + "\n");
    return out;
  }
  out.ran_code = !blocks.empty();
  std::vector<std::string> results(blocks.size());
  std::vector<size_t> slot(blocks.size());
  for (size_t i = 0; i < slot.size(); ++i) slot[i] = i;
  run_blocks(blocks, options, hooks, out, results, slot);
  std::string all;
  for (const std::string& r : results) all += r;
  out.message = feedback(all);
  return out;
}

}  // namespace

AgentResult run_agent(AgentModel& model, const std::string& task, int max_rounds, const RunnerOptions& options,
                      const AgentHooks& hooks) {
  if (max_rounds < 1) throw Error("the agent needs at least 1 round (--max-rounds), got " + std::to_string(max_rounds));
  if (!hooks.execute) throw Error("the agent has no way to run code");
  AgentResult result;
  RoundOutcome last;
  last.message = task + "\n\n" + (model.offers_tools() ? kAgentToolInstructions : kAgentInstructions);
  for (int round = 1; round <= max_rounds; ++round) {
    const std::string reply = last.as_calls ? model.respond_to_calls(last.call_results) : model.respond(last.message);
    result.rounds = round;
    if (hooks.on_reply) hooks.on_reply(round, reply);
    last = play_reply(model, reply, options, hooks);
    if (!last.ran_code) {
      result.stop = AgentStop::kNoCode;
      result.reason = "the reply of " + round_name(round) + " has no code block in a language we run (" +
                      language_names() + ")" + (model.offers_tools() ? " and no tool call" : "");
      return result;
    }
    if (last.declined) {
      result.stop = AgentStop::kDeclined;
      result.reason = "the code of " + round_name(round) + " was not run (not confirmed)";
      return result;
    }
    if (last.all_ok) {
      result.stop = AgentStop::kSucceeded;
      result.reason = "the code of " + round_name(round) + " ran successfully";
      return result;
    }
  }
  result.stop = AgentStop::kRoundsExhausted;
  result.reason = "the code still failed after " + std::to_string(max_rounds) + " round" +
                  (max_rounds == 1 ? "" : "s") + " (--max-rounds)";
  return result;
}

}  // namespace ternion::agent
