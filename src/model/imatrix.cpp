#include "ternion/model/imatrix.h"

#include <cmath>
#include <cstring>
#include <span>

#include "ternion/core/error.h"
#include "ternion/io/gguf.h"
#include "ternion/io/mapped_file.h"
#include "ternion/io/output_file.h"

namespace ternion {

namespace {

constexpr std::string_view kSums = ".in_sum2";
constexpr std::string_view kCounts = ".counts";

// Reads the legacy form's little-endian fields with bounds checks.
class DatReader {
 public:
  DatReader(std::span<const uint8_t> bytes, const std::string& path) : b_(bytes), path_(path) {}
  int32_t i32(const char* what) {
    int32_t v = 0;
    take(&v, sizeof v, what);
    return v;
  }
  // A count that must be in [0, limit].
  int64_t count(const char* what, int64_t limit) {
    const int32_t v = i32(what);
    if (v < 0 || v > limit) fail(std::string(what) + " " + std::to_string(v) + " is out of range");
    return v;
  }
  std::string text(int64_t n, const char* what) {
    std::string s(static_cast<size_t>(n), '\0');
    take(s.data(), s.size(), what);
    return s;
  }
  void floats(std::vector<float>& out, int64_t n, const char* what) {
    out.resize(static_cast<size_t>(n));
    take(out.data(), out.size() * sizeof(float), what);
  }
  size_t left() const { return b_.size() - pos_; }
  bool at_end() const { return pos_ == b_.size(); }
  [[noreturn]] void fail(const std::string& why) const {
    throw Error(path_ + ": not a valid imatrix file (" + why + " at byte " + std::to_string(pos_) + ")");
  }

 private:
  void take(void* dst, size_t n, const char* what) {
    if (n > left()) fail(std::string("truncated ") + what);
    if (n > 0) std::memcpy(dst, b_.data() + pos_, n);
    pos_ += n;
  }
  std::span<const uint8_t> b_;
  size_t pos_ = 0;
  const std::string& path_;
};

void check_values(const std::vector<float>& v, const std::string& path, const std::string& name) {
  for (float x : v) {
    if (!std::isfinite(x) || x < 0)
      throw Error(path + ": imatrix entry " + name + " holds a negative or non-finite value");
  }
}

Imatrix read_dat(std::span<const uint8_t> bytes, const std::string& path) {
  DatReader r(bytes, path);
  Imatrix im;
  // Each entry takes at least 12 bytes, each value 4: counts beyond what the file can hold are refused before
  // anything is allocated.
  const int64_t n = r.count("entry count", static_cast<int64_t>(r.left() / 12));
  for (int64_t i = 0; i < n; ++i) {
    const std::string name =
        r.text(r.count("name length", std::min<int64_t>(4096, static_cast<int64_t>(r.left()))), "name");
    ImatrixEntry e;
    e.calls = static_cast<int32_t>(r.count("call count", INT32_MAX));
    const int64_t nval = r.count("value count", static_cast<int64_t>(r.left() / 4));
    r.floats(e.sums, nval, "values");
    check_values(e.sums, path, name);
    e.counts = {static_cast<float>(e.calls)};
    if (!im.entries.emplace(name, std::move(e)).second) r.fail("entry " + name + " twice");
  }
  if (r.at_end()) return im;  // files before the trailer existed end here
  im.chunk_count = r.count("chunk count", INT32_MAX);
  if (r.at_end()) return im;
  const std::string dataset = r.text(r.count("text name length", static_cast<int64_t>(r.left())), "text name");
  if (!dataset.empty()) im.datasets.push_back(dataset);
  if (!r.at_end()) r.fail("trailing bytes");
  return im;
}

std::vector<float> f32_values(const GgufTensorInfo& t, const std::string& path) {
  if (t.type != DType::F32) throw Error(path + ": imatrix tensor " + t.name + " is not F32");
  std::vector<float> v(static_cast<size_t>(t.n_elements));
  std::memcpy(v.data(), t.data, v.size() * sizeof(float));
  check_values(v, path, t.name);
  return v;
}

Imatrix read_gguf(std::span<const uint8_t> bytes, const std::string& path) {
  const GgufFile f = GgufFile::parse(bytes, path);
  const auto type = f.get_string("general.type");
  if (type && *type != "imatrix") throw Error(path + ": a GGUF " + *type + " file, not an imatrix");
  Imatrix im;
  if (const GgufArray* d = f.get_array("imatrix.datasets")) im.datasets = d->strings;
  im.chunk_count = f.get_int("imatrix.chunk_count").value_or(0);
  im.chunk_size = f.get_int("imatrix.chunk_size").value_or(0);
  for (const GgufTensorInfo& t : f.tensors()) {
    if (!t.name.ends_with(kSums)) continue;
    const std::string name = t.name.substr(0, t.name.size() - kSums.size());
    const GgufTensorInfo* c = f.find_tensor(name + std::string(kCounts));
    if (c == nullptr) throw Error(path + ": imatrix tensor " + t.name + " has no " + name + std::string(kCounts));
    ImatrixEntry e;
    e.sums = f32_values(t, path);
    e.counts = f32_values(*c, path);
    const uint64_t n_mat = t.shape.size() > 1 ? t.shape[1] : 1;
    if (e.counts.size() != n_mat || t.shape.empty() || t.shape.size() > 2) {
      throw Error(path + ": imatrix entry " + name + ": " + std::to_string(e.counts.size()) + " counts for " +
                  std::to_string(n_mat) + " matrices");
    }
    e.calls = static_cast<int32_t>(std::min<int64_t>(INT32_MAX, im.chunk_count));
    im.entries.emplace(name, std::move(e));
  }
  if (im.entries.empty()) throw Error(path + ": an imatrix GGUF without entries");
  return im;
}

}  // namespace

std::vector<float> ImatrixEntry::means(int64_t m) const {
  const int64_t c = cols();
  if (m < 0 || m >= n_mat()) throw Error("imatrix: matrix " + std::to_string(m) + " of " + std::to_string(n_mat()));
  std::vector<float> out(static_cast<size_t>(c), 0.0f);
  const float n = counts[static_cast<size_t>(m)];
  if (n <= 0) return out;
  for (int64_t j = 0; j < c; ++j) out[static_cast<size_t>(j)] = sums[static_cast<size_t>(m * c + j)] / n;
  return out;
}

const ImatrixEntry* Imatrix::find(const std::string& name) const {
  const auto it = entries.find(name);
  return it == entries.end() ? nullptr : &it->second;
}

void Imatrix::merge(const Imatrix& other) {
  for (const auto& [name, e] : other.entries) {
    auto [it, added] = entries.emplace(name, e);
    if (added) continue;
    ImatrixEntry& mine = it->second;
    if (mine.sums.size() != e.sums.size() || mine.counts.size() != e.counts.size()) {
      throw Error("imatrix entry " + name + " has different shapes in the files merged");
    }
    for (size_t i = 0; i < e.sums.size(); ++i) mine.sums[i] += e.sums[i];
    for (size_t i = 0; i < e.counts.size(); ++i) mine.counts[i] += e.counts[i];
    mine.calls += e.calls;
  }
  datasets.insert(datasets.end(), other.datasets.begin(), other.datasets.end());
  chunk_count += other.chunk_count;
  if (chunk_size == 0) chunk_size = other.chunk_size;
}

Imatrix parse_imatrix(std::span<const uint8_t> bytes, const std::string& name) {
  if (bytes.size() >= 4 && std::memcmp(bytes.data(), "GGUF", 4) == 0) return read_gguf(bytes, name);
  return read_dat(bytes, name);
}

Imatrix read_imatrix(const std::string& path) {
  const MappedFile file(path);
  return parse_imatrix(file.bytes(), path);
}

void write_imatrix_gguf(const Imatrix& im, const std::string& path, const std::vector<std::string>& inputs) {
  GgufWriter w;
  w.set_string("general.type", "imatrix");
  w.set_string_array("imatrix.datasets", im.datasets);
  w.set_u32("imatrix.chunk_count", static_cast<uint32_t>(im.chunk_count));
  w.set_u32("imatrix.chunk_size", static_cast<uint32_t>(im.chunk_size));
  for (const auto& [name, e] : im.entries) {
    const auto n_mat = static_cast<uint64_t>(e.n_mat());
    const auto bytes = [](const std::vector<float>& v) {
      return std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(v.data()), v.size() * sizeof(float));
    };
    w.add_tensor(name + std::string(kSums), {static_cast<uint64_t>(e.cols()), n_mat}, DType::F32, bytes(e.sums));
    w.add_tensor(name + std::string(kCounts), {1, n_mat}, DType::F32, bytes(e.counts));
  }
  w.write(path, 32, inputs);
}

void write_imatrix_dat(const Imatrix& im, const std::string& path, const std::vector<std::string>& inputs) {
  std::vector<uint8_t> out;
  const auto put = [&out](const void* p, size_t n) {
    const auto* b = static_cast<const uint8_t*>(p);
    out.insert(out.end(), b, b + n);
  };
  const auto put_i32 = [&put](int64_t v) {
    const auto x = static_cast<int32_t>(v);
    put(&x, sizeof x);
  };
  put_i32(static_cast<int64_t>(im.entries.size()));
  for (const auto& [name, e] : im.entries) {
    put_i32(static_cast<int64_t>(name.size()));
    put(name.data(), name.size());
    const int32_t calls = std::max<int32_t>(1, e.calls);
    put_i32(calls);
    put_i32(static_cast<int64_t>(e.sums.size()));
    // llama-imatrix stores each column's mean square times the call count.
    const int64_t cols = e.cols();
    for (size_t i = 0; i < e.sums.size(); ++i) {
      const float n = e.counts[i / static_cast<size_t>(cols)];
      const float v = n > 0 ? e.sums[i] / n * static_cast<float>(calls) : 0.0f;
      put(&v, sizeof v);
    }
  }
  put_i32(im.chunk_count);
  const std::string dataset = im.datasets.empty() ? "" : im.datasets.front();
  put_i32(static_cast<int64_t>(dataset.size()));
  put(dataset.data(), dataset.size());
  OutputFile f(path, inputs);
  f.write(out);
  f.commit();
}

}  // namespace ternion
