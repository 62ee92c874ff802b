// The flags of the commands that run code in the sandbox (`exec`, `agent`, `run --execute`): the limits, --yes,
// and the confirmation asked on the terminal before anything runs.
#pragma once

#include <CLI/CLI.hpp>

#include <cstdint>
#include <string>
#include <vector>

#include "generation_args.h"
#include "ternion/agent/code_blocks.h"
#include "ternion/agent/runner.h"

namespace ternion::cli {

struct SandboxArgs {
  double timeout = 10;
  int64_t cpu = 10;
  std::string memory = "1G", max_output = "64K", max_file_size = "64M", max_scratch = "64M";
  int64_t processes = 64;
  bool yes = false;
};

void add_sandbox_flags(CLI::App* c, SandboxArgs& a);
// The run limits from the flags (the compile limits keep their defaults); Error naming a bad flag.
agent::RunnerOptions runner_options(const SandboxArgs& a);
// "512M", "1G", "65536": bytes (K, M, G, T are powers of 1024; a trailing "B" or "iB" is allowed); Error naming
// `flag` otherwise.
int64_t parse_size(const std::string& flag, const std::string& text);

// Before any code runs: unless --yes, standard input must be a terminal to ask on; Error otherwise.
void require_confirmation_channel(const SandboxArgs& a);
// Asks on the terminal whether to run `blocks` (true with --yes without asking).
bool confirm_blocks(const SandboxArgs& a, const std::vector<agent::CodeBlock>& blocks);

// The agent loop over `task` with the model of `g` (its chat template or --template), up to `max_rounds` rounds:
// replies stream to stdout with the results of their code; the reason it ended goes to stderr. 0 when a round's
// code ran successfully, 1 otherwise.
int run_agent_task(const GenerationArgs& g, const CLI::App& cmd, const std::string& task, int max_rounds,
                   const SandboxArgs& s);

}  // namespace ternion::cli
