// A checkpoint folder's safetensors files: one model.safetensors, or the shards of model.safetensors.index.json.
#include <nlohmann/json.hpp>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <set>
#include <string>

#include "ternion/core/error.h"
#include "ternion/io/gguf.h"
#include "ternion/io/safetensors.h"

namespace ternion {

namespace {

namespace fs = std::filesystem;
using Json = nlohmann::json;

constexpr char kIndexName[] = "model.safetensors.index.json";
constexpr char kSingleName[] = "model.safetensors";
constexpr uintmax_t kMaxIndexBytes = uintmax_t{64} << 20;

std::string in_quotes(std::string_view s) { return "'" + gguf_escape(s) + "'"; }

// A shard name from the index must name a file in the folder itself, never a path elsewhere.
bool plain_file_name(const std::string& name) {
  return !name.empty() && name != "." && name != ".." && name.find('/') == std::string::npos &&
         name.find('\\') == std::string::npos && name.find('\0') == std::string::npos;
}

// The index's weight_map: tensor name -> shard file name.
std::map<std::string, std::string> read_index(const fs::path& path) {
  const std::string where = path.string();
  std::error_code ec;
  const uintmax_t size = fs::file_size(path, ec);
  if (ec) throw Error(where + ": cannot read: " + ec.message());
  if (size > kMaxIndexBytes) throw Error(where + ": " + std::to_string(size) + " bytes, more than the index limit");
  std::ifstream in(path, std::ios::binary);
  std::string text(static_cast<size_t>(size), '\0');
  if (!in.read(text.data(), static_cast<std::streamsize>(size))) throw Error(where + ": cannot read the file");
  Json root;
  try {
    root = Json::parse(text);
  } catch (const Json::exception& e) {
    throw Error(where + ": not valid JSON: " + gguf_escape(e.what(), 200));
  }
  const auto map = root.is_object() ? root.find("weight_map") : root.end();
  if (map == root.end() || !map->is_object()) throw Error(where + ": weight_map is missing or not an object");
  std::map<std::string, std::string> out;
  for (const auto& [tensor, file] : map->items()) {
    if (!file.is_string() || !plain_file_name(file.get<std::string>())) {
      throw Error(where + ": weight_map: tensor " + in_quotes(tensor) + ": expected the name of a file in the folder");
    }
    out.emplace(tensor, file.get<std::string>());
  }
  if (out.empty()) throw Error(where + ": weight_map lists no tensors");
  return out;
}

// model*.safetensors in the folder, sorted (a sharded checkpoint saved without its index).
std::vector<std::string> model_files(const fs::path& dir) {
  std::vector<std::string> names;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    const std::string name = entry.path().filename().string();
    if (name.starts_with("model") && name.ends_with(".safetensors")) names.push_back(name);
  }
  std::sort(names.begin(), names.end());
  return names;
}

}  // namespace

SafetensorsCheckpoint SafetensorsCheckpoint::open(const std::string& dir) {
  const fs::path folder(dir);
  std::error_code ec;
  if (!fs::is_directory(folder, ec)) throw Error(dir + ": not a folder");
  SafetensorsCheckpoint c;
  std::map<std::string, std::string> weight_map;
  std::vector<std::string> names;
  const fs::path index = folder / kIndexName;
  if (fs::exists(index, ec)) {
    weight_map = read_index(index);
    std::set<std::string> shards;
    for (const auto& entry : weight_map) shards.insert(entry.second);
    names.assign(shards.begin(), shards.end());
  } else if (fs::exists(folder / kSingleName, ec)) {
    names = {kSingleName};
  } else {
    names = model_files(folder);
  }
  if (names.empty()) {
    const bool has_bin = fs::exists(folder / "pytorch_model.bin", ec) || fs::exists(folder / "model.bin", ec);
    throw Error(dir + ": missing " + kSingleName + " (or " + kIndexName + " and its shards)" +
                (has_bin ? "; PyTorch .bin checkpoints are not supported: save the model as safetensors" : ""));
  }

  for (const std::string& name : names) {
    const std::string path = (folder / name).string();
    try {
      c.files_.push_back(std::make_unique<SafetensorsFile>(SafetensorsFile::open(path)));
    } catch (const Error& e) {
      if (!weight_map.empty() && !fs::exists(path, ec)) {
        throw Error(path + ": missing shard (listed in " + kIndexName + ")");
      }
      throw;
    }
  }
  for (const auto& file : c.files_) {
    const std::string file_name = fs::path(file->path()).filename().string();
    for (const SafetensorsTensor& t : file->tensors()) {
      if (!weight_map.empty()) {
        const auto it = weight_map.find(t.name);
        if (it == weight_map.end() || it->second != file_name) {
          throw Error(file->path() + ": tensor " + in_quotes(t.name) + " is not listed for this file in " + kIndexName);
        }
      }
      if (c.index_.count(t.name) != 0) {
        throw Error(file->path() + ": tensor " + in_quotes(t.name) + " is also in " +
                    c.entries_[c.index_.find(t.name)->second].file->path());
      }
      c.index_.emplace(t.name, c.entries_.size());
      c.entries_.push_back(Entry{&t, file.get()});
    }
  }
  for (const auto& [tensor, file] : weight_map) {
    if (c.index_.count(tensor) == 0) {
      throw Error((folder / kIndexName).string() + ": tensor " + in_quotes(tensor) + " is listed in " +
                  in_quotes(file) + ", which does not hold it");
    }
  }
  return c;
}

const SafetensorsCheckpoint::Entry* SafetensorsCheckpoint::find(std::string_view name) const {
  const auto it = index_.find(name);
  return it == index_.end() ? nullptr : &entries_[it->second];
}

}  // namespace ternion
