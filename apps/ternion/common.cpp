#include <cerrno>
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

std::string read_text_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(path + ": cannot open: " + std::strerror(errno));
  std::ostringstream ss;
  ss << in.rdbuf();
  if (in.bad()) throw Error(path + ": read error");
  return ss.str();
}

}  // namespace ternion::cli
