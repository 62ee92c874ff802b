#include "ternion/model/model_source.h"

#include <string>

namespace ternion {

using VT = GgufValueType;

void GgufMetadata::set(const std::string& key, GgufValue value) {
  for (auto& [k, v] : kv_) {
    if (k == key) {
      v = std::move(value);
      return;
    }
  }
  kv_.emplace_back(key, std::move(value));
}

void GgufMetadata::set_u32(const std::string& key, uint32_t v) { set(key, GgufValue::make_uint(VT::UINT32, v)); }
void GgufMetadata::set_i32(const std::string& key, int32_t v) { set(key, GgufValue::make_int(VT::INT32, v)); }
void GgufMetadata::set_f32(const std::string& key, float v) { set(key, GgufValue::make_float(VT::FLOAT32, v)); }
void GgufMetadata::set_bool(const std::string& key, bool v) { set(key, GgufValue::make_bool(v)); }
void GgufMetadata::set_string(const std::string& key, const std::string& v) { set(key, GgufValue::make_string(v)); }

void GgufMetadata::set_string_array(const std::string& key, std::vector<std::string> v) {
  GgufArray a;
  a.elem_type = VT::STRING;
  a.count = v.size();
  a.strings = std::move(v);
  set(key, GgufValue::make_array(std::move(a)));
}

void GgufMetadata::set_f32_array(const std::string& key, const std::vector<float>& v) {
  GgufArray a;
  a.elem_type = VT::FLOAT32;
  a.raw.reserve(v.size() * 4);
  for (const float x : v) a.push_float(x);
  set(key, GgufValue::make_array(std::move(a)));
}

void GgufMetadata::set_i32_array(const std::string& key, const std::vector<int32_t>& v) {
  GgufArray a;
  a.elem_type = VT::INT32;
  a.raw.reserve(v.size() * 4);
  for (const int32_t x : v) a.push_int(x);
  set(key, GgufValue::make_array(std::move(a)));
}

const GgufValue* GgufMetadata::find(std::string_view key) const {
  for (const auto& [k, v] : kv_) {
    if (k == key) return &v;
  }
  return nullptr;
}

std::vector<uint8_t> GgufMetadata::to_gguf_bytes() const {
  GgufWriter w;
  for (const auto& [k, v] : kv_) w.set(k, v);
  return w.to_bytes();
}

const SourceTensor* ModelSource::find(std::string_view name) const {
  for (const SourceTensor& t : tensors) {
    if (t.name == name) return &t;
  }
  return nullptr;
}

}  // namespace ternion
