// Importance matrices: per input column of every weight matrix, the sum of the squared activations it met over a
// calibration text (llama.cpp's imatrix), which quantizers use to weight their rounding errors. Two file forms,
// as llama.cpp writes them:
//   * GGUF (general.type = "imatrix"): per matrix `<name>.in_sum2` (F32, [cols, n_mat]: the sums) and
//     `<name>.counts` (F32, [1, n_mat]: tokens seen), keys imatrix.datasets, imatrix.chunk_count and
//     imatrix.chunk_size. n_mat is the expert count of a mixture-of-experts tensor, else 1.
//   * the legacy binary form llama.cpp c392e5094 reads (`.dat`): i32 entry count, then per entry i32 name length,
//     name, i32 call count, i32 value count, f32 values (the mean square times the call count), then i32 chunk
//     count and i32 length + name of the text.
// Both read back to the same means; a legacy file's counts are its call counts.
#pragma once

#include <cstdint>
#include <map>
#include <span>
#include <string>
#include <vector>

namespace ternion {

struct ImatrixEntry {
  std::vector<float> sums;    // n_mat × cols sums of x² (matrix m's columns at m * cols)
  std::vector<float> counts;  // n_mat token counts
  int32_t calls = 0;          // matmuls observed (the legacy form's ncall)

  int64_t n_mat() const { return static_cast<int64_t>(counts.size()); }
  int64_t cols() const { return counts.empty() ? 0 : static_cast<int64_t>(sums.size() / counts.size()); }
  // Mean square of each column of matrix m (0 where it saw no token).
  std::vector<float> means(int64_t m = 0) const;
};

struct Imatrix {
  std::map<std::string, ImatrixEntry> entries;  // by GGUF tensor name ("blk.0.attn_q.weight")
  std::vector<std::string> datasets;            // the calibration texts
  int64_t chunk_count = 0;
  int64_t chunk_size = 0;

  // The entry of a tensor; nullptr when the matrix was not observed.
  const ImatrixEntry* find(const std::string& name) const;
  // Adds another imatrix's sums and counts (llama-imatrix --in-file): entries must agree in shape.
  void merge(const Imatrix& other);
};

// Reads either form (told apart by the GGUF magic). Throws Error naming the file for anything malformed:
// truncated data, sizes that disagree, negative or non-finite values, more entries or values than a file of that
// size can hold.
Imatrix read_imatrix(const std::string& path);
// The same from bytes in memory (`name` in messages): what read_imatrix does after mapping the file; fuzzed.
Imatrix parse_imatrix(std::span<const uint8_t> bytes, const std::string& name);

// Writes through OutputFile (never a partial file; never over `inputs`).
void write_imatrix_gguf(const Imatrix& im, const std::string& path, const std::vector<std::string>& inputs = {});
void write_imatrix_dat(const Imatrix& im, const std::string& path, const std::vector<std::string>& inputs = {});

}  // namespace ternion
