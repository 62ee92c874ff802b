// Importance-matrix files (ternion/model/imatrix.h): both forms round-trip to the same means, merging adds, and
// malformed bytes of either form are one clear error, never a crash or an allocation the file cannot back.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "ternion/core/error.h"
#include "ternion/io/gguf.h"
#include "ternion/model/imatrix.h"

namespace ternion {
namespace {

namespace fs = std::filesystem;

fs::path scratch(const std::string& name) {
  return fs::temp_directory_path() / ("ternion_imatrix_" + std::to_string(::getpid()) + "_" + name);
}

Imatrix sample() {
  Imatrix im;
  im.datasets = {"calibration.txt"};
  im.chunk_count = 3;
  im.chunk_size = 128;
  im.entries["blk.0.attn_q.weight"] = {{1.0f, 4.0f, 9.0f, 0.5f}, {4.0f}, 3};
  im.entries["blk.0.ffn_down.weight"] = {{2.0f, 6.0f}, {8.0f}, 3};
  // Two experts of three columns; the second saw no token.
  im.entries["blk.1.ffn_up_exps.weight"] = {{3.0f, 6.0f, 9.0f, 0.0f, 0.0f, 0.0f}, {3.0f, 0.0f}, 3};
  return im;
}

std::vector<uint8_t> slurp(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(f), {}};
}

TEST(Imatrix, MeansPerMatrix) {
  const Imatrix im = sample();
  EXPECT_EQ(im.find("blk.0.attn_q.weight")->means(), (std::vector<float>{0.25f, 1.0f, 2.25f, 0.125f}));
  const ImatrixEntry& e = *im.find("blk.1.ffn_up_exps.weight");
  EXPECT_EQ(e.n_mat(), 2);
  EXPECT_EQ(e.cols(), 3);
  EXPECT_EQ(e.means(0), (std::vector<float>{1.0f, 2.0f, 3.0f}));
  EXPECT_EQ(e.means(1), (std::vector<float>{0.0f, 0.0f, 0.0f}));
  EXPECT_THROW(e.means(2), Error);
  EXPECT_EQ(im.find("blk.9.attn_q.weight"), nullptr);
}

TEST(Imatrix, GgufFormRoundTrips) {
  const Imatrix im = sample();
  const fs::path p = scratch("a.gguf");
  write_imatrix_gguf(im, p.string());
  const GgufFile f = GgufFile::open(p.string());
  EXPECT_EQ(f.get_string("general.type"), "imatrix");
  EXPECT_EQ(f.get_int("imatrix.chunk_count"), 3);
  EXPECT_EQ(f.get_int("imatrix.chunk_size"), 128);
  ASSERT_NE(f.find_tensor("blk.1.ffn_up_exps.weight.in_sum2"), nullptr);
  EXPECT_EQ(f.find_tensor("blk.1.ffn_up_exps.weight.in_sum2")->shape, (std::vector<uint64_t>{3, 2}));
  EXPECT_EQ(f.find_tensor("blk.1.ffn_up_exps.weight.counts")->shape, (std::vector<uint64_t>{1, 2}));
  const Imatrix back = read_imatrix(p.string());
  EXPECT_EQ(back.datasets, im.datasets);
  EXPECT_EQ(back.chunk_count, 3);
  ASSERT_EQ(back.entries.size(), im.entries.size());
  for (const auto& [name, e] : im.entries) {
    EXPECT_EQ(back.find(name)->sums, e.sums) << name;
    EXPECT_EQ(back.find(name)->counts, e.counts) << name;
  }
  fs::remove(p);
}

// The legacy form keeps each column's mean times the call count (what llama-imatrix writes), so means survive.
TEST(Imatrix, LegacyFormRoundTripsTheMeans) {
  const Imatrix im = sample();
  const fs::path p = scratch("a.dat");
  write_imatrix_dat(im, p.string());
  const std::vector<uint8_t> bytes = slurp(p);
  int32_t n = 0;
  std::memcpy(&n, bytes.data(), 4);
  EXPECT_EQ(n, 3);
  const Imatrix back = read_imatrix(p.string());
  EXPECT_EQ(back.chunk_count, 3);
  EXPECT_EQ(back.datasets, im.datasets);
  EXPECT_EQ(back.find("blk.0.attn_q.weight")->means(), im.find("blk.0.attn_q.weight")->means());
  EXPECT_EQ(back.find("blk.0.attn_q.weight")->calls, 3);
  EXPECT_EQ(back.find("blk.0.ffn_down.weight")->means(), im.find("blk.0.ffn_down.weight")->means());
  fs::remove(p);
}

TEST(Imatrix, MergeAddsSumsAndCounts) {
  Imatrix a = sample();
  a.merge(sample());
  EXPECT_EQ(a.find("blk.0.attn_q.weight")->sums, (std::vector<float>{2.0f, 8.0f, 18.0f, 1.0f}));
  EXPECT_EQ(a.find("blk.0.attn_q.weight")->counts, (std::vector<float>{8.0f}));
  EXPECT_EQ(a.chunk_count, 6);
  Imatrix other;
  other.entries["blk.0.attn_q.weight"] = {{1.0f}, {1.0f}, 1};
  EXPECT_THROW(a.merge(other), Error);
}

void expect_refused(const std::vector<uint8_t>& bytes, const std::string& what) {
  try {
    parse_imatrix(bytes, "x.dat");
    FAIL() << "accepted: " << what;
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()).find('\n'), std::string::npos);
    EXPECT_NE(std::string(e.what()).find("x.dat"), std::string::npos) << e.what();
  }
}

std::vector<uint8_t> dat_bytes(int32_t n_entries, int32_t name_len, const std::string& name, int32_t ncall,
                               int32_t nval, const std::vector<float>& values) {
  std::vector<uint8_t> b;
  const auto put = [&b](const void* p, size_t n) {
    b.insert(b.end(), static_cast<const uint8_t*>(p), static_cast<const uint8_t*>(p) + n);
  };
  put(&n_entries, 4);
  put(&name_len, 4);
  put(name.data(), name.size());
  put(&ncall, 4);
  put(&nval, 4);
  put(values.data(), values.size() * 4);
  return b;
}

TEST(Imatrix, MalformedFilesAreOneLineErrors) {
  const std::vector<float> v = {1.0f, 2.0f};
  EXPECT_NO_THROW(parse_imatrix(dat_bytes(1, 4, "blk.", 1, 2, v), "x.dat"));
  expect_refused(dat_bytes(1, 4, "blk.", 1, 3, v), "values past the end");
  expect_refused(dat_bytes(1000000, 4, "blk.", 1, 2, v), "more entries than the file can hold");
  expect_refused(dat_bytes(1, -4, "blk.", 1, 2, v), "a negative name length");
  expect_refused(dat_bytes(1, 1 << 30, "blk.", 1, 2, v), "a name past the end");
  expect_refused(dat_bytes(1, 4, "blk.", -1, 2, v), "a negative call count");
  expect_refused(dat_bytes(1, 4, "blk.", 1, 1 << 30, v), "a value count past the end");
  expect_refused(dat_bytes(1, 4, "blk.", 1, 2, {1.0f, -2.0f}), "a negative value");
  expect_refused(dat_bytes(1, 4, "blk.", 1, 2, {1.0f, std::numeric_limits<float>::quiet_NaN()}), "NaN");
  std::vector<uint8_t> twice = dat_bytes(2, 4, "blk.", 1, 2, v);
  const std::vector<uint8_t> again = dat_bytes(0, 4, "blk.", 1, 2, v);
  twice.insert(twice.end(), again.begin() + 4, again.end());
  expect_refused(twice, "the same entry twice");
  std::vector<uint8_t> trailing = dat_bytes(1, 4, "blk.", 1, 2, v);
  for (int32_t x : {3, 0, 7})
    trailing.insert(trailing.end(), reinterpret_cast<uint8_t*>(&x), reinterpret_cast<uint8_t*>(&x) + 4);
  expect_refused(trailing, "bytes after the text name");
  expect_refused({1, 2}, "two bytes");
  // A GGUF without the counts of an entry, and a GGUF model rather than an imatrix.
  GgufWriter w;
  w.set_string("general.type", "imatrix");
  const std::vector<float> sums = {1, 2, 3};
  w.add_tensor("blk.0.attn_q.weight.in_sum2", {3, 1}, DType::F32, {reinterpret_cast<const uint8_t*>(sums.data()), 12});
  const fs::path p = scratch("bad.gguf");
  w.write(p.string());
  EXPECT_THROW(read_imatrix(p.string()), Error);
  GgufWriter model;
  model.set_string("general.type", "model");
  model.write(p.string());
  EXPECT_THROW(read_imatrix(p.string()), Error);
  fs::remove(p);
  EXPECT_THROW(read_imatrix(scratch("missing.dat").string()), Error);
}

}  // namespace
}  // namespace ternion
