// general.* naming of a converted checkpoint, with the heuristics of llama.cpp's converter so that converted files
// carry the same names: the model id ("org/Name-7B-Instruct-v0.1", from config.json's _name_or_path or else the
// folder's name) is split into a title-cased name, a base name, a size label, a fine-tune and a version.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "ternion/model/model_source.h"

namespace ternion {

struct HfNaming {
  std::string name;  // general.name
  std::optional<std::string> organization, basename, finetune, version, size_label;
};

// `name_or_path`: config.json's _name_or_path, used when it has at most one '/' (a hub id, not a local path).
// `total_params`: elements of every tensor written; it decides whether a size in the id is the model's size.
HfNaming hf_naming(const std::string& dir, const std::optional<std::string>& name_or_path, uint64_t total_params);

// general.name, version, organization, finetune, basename, size_label: in the converter's order.
void set_naming_metadata(const HfNaming& naming, GgufMetadata& metadata);

// "6.8M", "1.2B", "135M": the parameter count with at least two significant digits.
std::string parameter_size_label(uint64_t total_params);

// "kjv-llama" -> "Kjv Llama"; words that are not all lower case, versions ("v0.1") and numbers ("7b") kept.
std::string id_to_title(std::string_view id);

}  // namespace ternion
