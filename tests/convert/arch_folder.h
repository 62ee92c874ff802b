// A test fixture holding a writable copy of one of fixtures/arch/<name> (its weights linked, never written), whose
// config.json a test edits.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

#include "support/test_support.h"
#include "ternion/convert/load_model.h"
#include "ternion/core/error.h"
#include "ternion/model/model.h"

namespace ternion::test {

namespace fs = std::filesystem;

// A writable copy of fixtures/arch/<name>, removed at the end.
class ArchFolder : public ::testing::Test {
 protected:
  void copy(const std::string& name) {
    src_ = fixture("arch/" + name);
    dir_ = fs::temp_directory_path() / ("ternion_arch_config_" + name + "_" + std::to_string(::getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    for (const auto& e : fs::directory_iterator(src_)) {
      if (e.path().filename() == "model.safetensors") {
        fs::create_symlink(e.path(), dir_ / "model.safetensors");  // read-only, never written
      } else {
        fs::copy_file(e.path(), dir_ / e.path().filename());
      }
    }
  }
  void TearDown() override { fs::remove_all(dir_); }
  nlohmann::json config() const {  // the fixture's own config.json
    std::ifstream in(src_ / "config.json");
    return nlohmann::json::parse(in);
  }
  void set_config(const nlohmann::json& j) const { std::ofstream(dir_ / "config.json") << j.dump(); }
  std::string error() const {
    try {
      load_model(dir_.string());
    } catch (const Error& e) {
      return e.what();
    }
    return "(loaded)";
  }
  fs::path src_, dir_;
};

}  // namespace ternion::test
