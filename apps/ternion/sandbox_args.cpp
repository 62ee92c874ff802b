#include "sandbox_args.h"

#include <unistd.h>

#include <cctype>
#include <cmath>
#include <cstdio>
#include <iostream>

#include "ternion/core/error.h"
#include "ternion/core/escape.h"

namespace ternion::cli {

void add_sandbox_flags(CLI::App* c, SandboxArgs& a) {
  c->add_option("--timeout", a.timeout, "Wall-clock seconds a program may run (default 10)");
  c->add_option("--cpu", a.cpu, "CPU seconds per process (default 10)");
  c->add_option("--memory", a.memory, "Address space per process, e.g. 512M (default 1G)");
  c->add_option("--processes", a.processes, "Processes the sandbox may hold at once (default 64)");
  c->add_option("--max-output", a.max_output, "Output kept; more stops the program (default 64K)");
  c->add_option("--max-file-size", a.max_file_size, "Largest file a program may write (default 64M)");
  c->add_option("--max-scratch", a.max_scratch, "Size of the program's scratch folder, in memory (default 64M)");
  c->add_flag("-y,--yes", a.yes, "Run the code without asking");
}

int64_t parse_size(const std::string& flag, const std::string& text) {
  size_t end = 0;
  double value = 0;
  try {
    value = std::stod(text, &end);
  } catch (const std::exception&) {
    end = 0;
  }
  std::string unit = text.substr(end);
  for (char& ch : unit) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
  if (unit.size() > 1 && unit.back() == 'B') unit.pop_back();
  if (unit.size() > 1 && unit.back() == 'I') unit.pop_back();
  const std::string units = "KMGT";
  double scale = 1;
  if (unit.size() == 1 && units.find(unit[0]) != std::string::npos) {
    scale = std::pow(1024.0, static_cast<double>(units.find(unit[0]) + 1));
  } else if (!unit.empty() && unit != "B") {
    end = 0;
  }
  const double bytes = value * scale;
  if (end == 0 || !std::isfinite(bytes) || bytes < 1 || bytes > 9e18) {
    throw Error(flag + ": expected a size such as 512M or 1G, got '" + escape_text(text) + "'");
  }
  return static_cast<int64_t>(bytes);
}

agent::RunnerOptions runner_options(const SandboxArgs& a) {
  agent::RunnerOptions o;
  o.run.wall_seconds = a.timeout;
  o.run.cpu_seconds = a.cpu;
  o.run.memory_bytes = parse_size("--memory", a.memory);
  o.run.processes = a.processes;
  o.run.output_bytes = static_cast<size_t>(parse_size("--max-output", a.max_output));
  o.run.file_bytes = parse_size("--max-file-size", a.max_file_size);
  o.run.scratch_bytes = parse_size("--max-scratch", a.max_scratch);
  try {
    agent::check_limits(o.run);
  } catch (const Error& e) {
    throw Error(std::string(e.what()) +
                " (--timeout, --cpu, --memory, --processes, --max-output, --max-file-size, --max-scratch)");
  }
  return o;
}

void require_confirmation_channel(const SandboxArgs& a) {
  if (!a.yes && ::isatty(STDIN_FILENO) != 1) {
    throw Error("not running code without confirmation: standard input is not a terminal to ask on (pass --yes)");
  }
}

bool confirm_blocks(const SandboxArgs& a, const std::vector<agent::CodeBlock>& blocks) {
  if (a.yes) return true;
  std::string what;
  for (const agent::CodeBlock& b : blocks) {
    what += (what.empty() ? "" : ", ") + std::string(b.language->name) + " (line " + std::to_string(b.line) + ")";
  }
  std::fprintf(stderr, "Run %zu code block%s in the sandbox: %s? [y/N] ", blocks.size(), blocks.size() == 1 ? "" : "s",
               what.c_str());
  std::fflush(stderr);
  std::string answer;
  if (!std::getline(std::cin, answer)) return false;
  return answer == "y" || answer == "Y" || answer == "yes" || answer == "Yes";
}

}  // namespace ternion::cli
