#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>

#include "commands.h"
#include "ternion/core/error.h"

namespace ternion::cli {

std::string pick_model_path(const std::string& flag, const std::string& positional) {
  if (!flag.empty() && !positional.empty() && flag != positional) {
    throw Error("two models given ('" + flag + "' and '" + positional + "'); give one with -m");
  }
  if (flag.empty() && positional.empty()) return TERNION_DEFAULT_MODEL;
  return flag.empty() ? positional : flag;
}

void spell_long_single_dash_flags(int argc, char** argv) {
  static char kSystem[] = "--system";
  static char kConversation[] = "--conversation";
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (arg == "--") return;
    if (arg == "-sys") argv[i] = kSystem;
    if (arg == "-cnv") argv[i] = kConversation;
  }
}

namespace {

[[noreturn]] void stdout_failed(int err) {
  throw Error(std::string("cannot write to standard output: ") + std::strerror(err != 0 ? err : EIO));
}

}  // namespace

void write_stdout(std::string_view text) {
  errno = 0;
  if (std::fwrite(text.data(), 1, text.size(), stdout) != text.size() || std::fflush(stdout) != 0) {
    stdout_failed(errno);
  }
}

void finish_stdout() {
  errno = 0;
  if (std::fflush(stdout) != 0 || std::ferror(stdout) != 0) stdout_failed(errno);
}

DType parse_kv_type(const std::string& name) {
  if (name == "f16" || name == "F16") return DType::F16;
  if (name == "f32" || name == "F32") return DType::F32;
  throw Error("--kv-type must be f16 or f32, got '" + name + "'");
}

std::string read_text_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(path + ": cannot open: " + std::strerror(errno));
  std::ostringstream ss;
  ss << in.rdbuf();
  if (in.bad()) throw Error(path + ": read error");
  return ss.str();
}

}  // namespace ternion::cli
