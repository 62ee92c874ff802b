// `ternion exec FILE.md`: runs the fenced code blocks of a text (a saved reply) through the sandbox, as the agent
// does; also how the sandbox is tried with hostile code.
#include <cstdio>
#include <memory>
#include <string>

#include "commands.h"
#include "sandbox_args.h"
#include "ternion/agent/code_blocks.h"
#include "ternion/agent/runner.h"
#include "ternion/agent/sandbox.h"
#include "ternion/core/error.h"

namespace ternion::cli {

namespace {

struct ExecArgs : SandboxArgs {
  std::string file;
};

int run_exec(const ExecArgs& a) {
  const agent::RunnerOptions options = runner_options(a);
  const std::string text = read_text_file(a.file);
  const std::vector<agent::CodeBlock> blocks = agent::runnable_blocks(text);
  if (blocks.empty()) {
    throw Error(a.file + ": no fenced code block in a language we run (" + agent::language_names() + ")");
  }
  require_confirmation_channel(a);
  const agent::Sandbox sandbox;
  if (!confirm_blocks(a, blocks)) {
    std::fprintf(stderr, "nothing run\n");
    return 1;
  }
  bool all_ok = true;
  for (size_t i = 0; i < blocks.size(); ++i) {
    const agent::BlockRun r = agent::run_block(sandbox, blocks[i], options);
    write_stdout(agent::format_block_run(r, static_cast<int>(i) + 1, options));
    all_ok = all_ok && r.ok();
  }
  return all_ok ? 0 : 1;
}

}  // namespace

Runner add_exec_command(CLI::App& app) {
  auto a = std::make_shared<ExecArgs>();
  CLI::App* c = app.add_subcommand(
      "exec", "Run the code blocks of a Markdown file in the sandbox (exit status 0 when all succeed)");
  c->add_option("file", a->file, "Markdown file (a saved reply) whose fenced code blocks to run")->required();
  add_sandbox_flags(c, *a);
  return [a] { return run_exec(*a); };
}

}  // namespace ternion::cli
