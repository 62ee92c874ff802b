// What the golden tests share: the reference outputs under fixtures/golden, and greedy decoding that runs to its
// token count (end of generation ignored), as the references were made.
#pragma once

#include <cstdint>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

#include "support/test_support.h"
#include "ternion/engine/generate.h"

namespace ternion::test {

inline nlohmann::json load_golden(const std::string& name) {
  std::ifstream in(fixture("golden/" + name + ".json"));
  return nlohmann::json::parse(in);
}

inline GenerateOptions greedy(int32_t n) {
  GenerateOptions o;
  o.max_tokens = n;
  o.ignore_eos = true;
  o.sampling.temperature = 0.0f;
  return o;
}

}  // namespace ternion::test
