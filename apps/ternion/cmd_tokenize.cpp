// `ternion tokenize` and `ternion detokenize` (being written).
#include "commands.h"
#include "ternion/core/error.h"

namespace ternion::cli {

Runner add_tokenize_command(CLI::App& app) {
  app.add_subcommand("tokenize", "Text to token ids (not available yet)");
  return [] () -> int { throw Error("tokenize is not available yet"); };
}

Runner add_detokenize_command(CLI::App& app) {
  app.add_subcommand("detokenize", "Token ids to text (not available yet)");
  return [] () -> int { throw Error("detokenize is not available yet"); };
}

}  // namespace ternion::cli
