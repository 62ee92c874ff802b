#include "ternion/agent/runner.h"

#include <cstdio>
#include <string_view>
#include <utility>
#include <vector>

#include "ternion/core/escape.h"

namespace ternion::agent {

namespace {

std::vector<std::string> words(std::string_view s) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start < s.size()) {
    const size_t end = std::min(s.find(' ', start), s.size());
    if (end > start) out.emplace_back(s.substr(start, end - start));
    start = end + 1;
  }
  return out;
}

// What the compilers and runtimes want of a home: Go's build cache, and no network toolchain downloads.
const std::vector<std::pair<std::string, std::string>> kToolEnv = {{"GOCACHE", "/scratch/.cache/go-build"},
                                                                   {"GOPATH", "/scratch/go"},
                                                                   {"GOTOOLCHAIN", "local"},
                                                                   {"GOFLAGS", "-buildvcs=false"}};

// `text` safe for a terminal: every line escaped (escape codes, bad UTF-8), line breaks kept.
std::string printable(std::string_view text) {
  std::string out;
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    const bool last = end == std::string_view::npos;
    if (last) end = text.size();
    out += escape_text(text.substr(start, end - start), std::string_view::npos, false);
    if (!last) out += '\n';
    start = end + 1;
  }
  return out;
}

void append_output(std::string& out, const std::string& output) {
  if (output.empty()) return;
  out += "```\n" + printable(output);
  if (out.back() != '\n') out += '\n';
  out += "```\n";
}

}  // namespace

RunnerOptions::RunnerOptions() {
  compile.wall_seconds = 60;
  compile.cpu_seconds = 60;
  compile.memory_bytes = int64_t{4} << 30;
  compile.processes = 256;
  compile.file_bytes = int64_t{256} << 20;
}

std::string missing_toolchain(const Language& language) {
  const std::vector<std::string> tool = words(*language.compile != '\0' ? language.compile : language.run);
  if (!find_sandbox_program(tool[0]).empty()) return "";
  return tool[0] + " is not installed where the sandbox finds programs (/usr/local/bin, /usr/bin): install the " +
         "Debian package " + language.package;
}

BlockRun run_block(const Sandbox& sandbox, const CodeBlock& block, const RunnerOptions& options) {
  BlockRun r;
  const Language& lang = *block.language;
  r.language = lang.name;
  r.missing = missing_toolchain(lang);
  if (!r.missing.empty()) return r;
  const ScratchDir scratch;
  scratch.write_file(lang.file, block.code);
  if (*lang.compile != '\0') {
    r.compile = sandbox.run(words(lang.compile), scratch, options.compile, kToolEnv, ScratchMode::kHostFolder);
    if (!r.compile->ok()) return r;
  }
  r.run = sandbox.run(words(lang.run), scratch, options.run, kToolEnv, ScratchMode::kInMemory);
  return r;
}

std::string format_block_run(const BlockRun& r, int index, const RunnerOptions& options) {
  std::string out = "block " + std::to_string(index) + " (" + r.language + "): ";
  if (!r.missing.empty()) return out + r.missing + "\n";
  if (r.compile && !r.compile->ok()) {
    out += "compiling failed: " + describe(*r.compile, options.compile) + "\n";
    append_output(out, r.compile->output);
    return out;
  }
  if (r.compile) {
    char compiled[64];
    std::snprintf(compiled, sizeof compiled, "compiled in %.2f s, then ", r.compile->seconds);
    out += compiled;
  }
  out += describe(*r.run, options.run) + "\n";
  append_output(out, r.run->output);
  return out;
}

}  // namespace ternion::agent
