// Runs a code block in the sandbox: its source written into a fresh scratch folder, compiled there when the
// language needs it (under the compile limits), then run (under the run limits).
#pragma once

#include <optional>
#include <string>

#include "ternion/agent/code_blocks.h"
#include "ternion/agent/sandbox.h"

namespace ternion::agent {

struct RunnerOptions {
  SandboxLimits run;      // the program's
  SandboxLimits compile;  // the compiler's: more time and memory than most programs need
  RunnerOptions();
};

struct BlockRun {
  std::string language;  // the Language's name
  std::string missing;   // the one line naming the Debian package when the toolchain is absent; nothing ran
  std::optional<SandboxResult> compile, run;

  // Compiled (when needed) and ran to exit status 0 within every limit.
  bool ok() const { return missing.empty() && (!compile || compile->ok()) && run && run->ok(); }
};

// "python3 is not installed where the sandbox finds programs (/usr/local/bin, /usr/bin): install the Debian
// package python3", or "" when the language's toolchain is there.
std::string missing_toolchain(const Language& language);

// Runs `block` (which must have a language). Throws Error only when the sandbox cannot start.
BlockRun run_block(const Sandbox& sandbox, const CodeBlock& block, const RunnerOptions& options);

// The result for a person and for the model: a header line ("block 1 (python): exit status 0 in 0.03 s") and the
// output (control characters and invalid UTF-8 escaped) between fences.
std::string format_block_run(const BlockRun& r, int index, const RunnerOptions& options);

}  // namespace ternion::agent
