// `ternion template` (being written).
#include "commands.h"
#include "ternion/core/error.h"

namespace ternion::cli {

Runner add_template_command(CLI::App& app) {
  app.add_subcommand("template", "Render a chat template (not available yet)");
  return [] () -> int { throw Error("template is not available yet"); };
}

}  // namespace ternion::cli
