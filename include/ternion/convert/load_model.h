// The one way to open a model by path: a GGUF file, or a HuggingFace model folder described as the GGUF file its
// conversion would be (hf_checkpoint.h). The program, the server and the tests open models through it; the model
// layer itself knows only GGUF files and ModelSource descriptions.
#pragma once

#include <memory>
#include <string>

#include "ternion/model/model.h"

namespace ternion {

// Model::from_gguf for a file, Model::from_source(load_hf_checkpoint(path)) for a folder holding a config.json.
// Throws Error naming the path: for a folder without config.json, and whatever either of those throws.
std::unique_ptr<Model> load_model(const std::string& path, const LoadOptions& options = {},
                                  const LoadProgress& progress = {});

}  // namespace ternion
