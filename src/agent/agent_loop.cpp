#include "ternion/agent/agent_loop.h"

#include "ternion/core/error.h"

namespace ternion::agent {

const char* const kAgentInstructions =
    "Answer with a complete program in one fenced code block tagged with its language (```python, ```c, ```sh, "
    "...). It will be run without network access and its output shown to you.";

namespace {

std::string feedback(const std::string& results) {
  return "The code ran with these results:\n\n" + results +
         "\nFix the code and answer with the whole corrected program in one fenced code block.";
}

}  // namespace

AgentResult run_agent(AgentModel& model, const std::string& task, int max_rounds, const RunnerOptions& options,
                      const AgentHooks& hooks) {
  if (max_rounds < 1) throw Error("the agent needs at least 1 round (--max-rounds), got " + std::to_string(max_rounds));
  if (!hooks.execute) throw Error("the agent has no way to run code");
  AgentResult result;
  std::string message = task + "\n\n" + kAgentInstructions;
  for (int round = 1; round <= max_rounds; ++round) {
    const std::string reply = model.respond(message);
    result.rounds = round;
    if (hooks.on_reply) hooks.on_reply(round, reply);
    const std::vector<CodeBlock> blocks = runnable_blocks(reply);
    if (blocks.empty()) {
      result.stop = AgentStop::kNoCode;
      result.reason = "the reply of round " + std::to_string(round) + " has no code block in a language we run (" +
                      language_names() + ")";
      return result;
    }
    if (hooks.confirm && !hooks.confirm(blocks)) {
      result.stop = AgentStop::kDeclined;
      result.reason = "the code of round " + std::to_string(round) + " was not run (not confirmed)";
      return result;
    }
    std::string results;
    bool all_ok = true;
    for (size_t i = 0; i < blocks.size(); ++i) {
      const BlockRun run = hooks.execute(blocks[i]);
      const std::string text = format_block_run(run, static_cast<int>(i) + 1, options);
      if (hooks.on_result) hooks.on_result(text);
      results += text;
      all_ok = all_ok && run.ok();
    }
    if (all_ok) {
      result.stop = AgentStop::kSucceeded;
      result.reason = "the code of round " + std::to_string(round) + " ran successfully";
      return result;
    }
    message = feedback(results);
  }
  result.stop = AgentStop::kRoundsExhausted;
  result.reason = "the code still failed after " + std::to_string(max_rounds) + " round" +
                  (max_rounds == 1 ? "" : "s") + " (--max-rounds)";
  return result;
}

}  // namespace ternion::agent
