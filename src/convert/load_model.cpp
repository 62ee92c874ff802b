#include "ternion/convert/load_model.h"

#include <filesystem>

#include "ternion/convert/hf_checkpoint.h"
#include "ternion/core/error.h"

namespace ternion {

std::unique_ptr<Model> load_model(const std::string& path, const LoadOptions& options, const LoadProgress& progress) {
  std::error_code ec;
  if (!std::filesystem::is_directory(path, ec)) return Model::from_gguf(path, options, progress);
  if (!is_hf_checkpoint(path)) {
    throw Error(path + ": a folder without config.json (expected a GGUF file or a HuggingFace model folder)");
  }
  return Model::from_source(load_hf_checkpoint(path), options, progress);
}

}  // namespace ternion
