// Writing a file so that the path holds either the old contents or the complete new file, never a part, and
// never over one of the writer's own inputs. Every command that writes a file (quantize, convert, synth, and any
// later writer) goes through this.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace ternion {

// Throws Error when `output` names a directory or the same file as one of `inputs` (same device and inode, so
// also through symbolic and hard links; a folder input stands for every file in it).
void check_output_is_not_an_input(const std::string& output, std::span<const std::string> inputs);

class OutputFile {
 public:
  // Checks `path` against `inputs` (above), then creates a temporary file in the folder the output will be in
  // (the target's, when `path` is a symbolic link). Until commit() the temporary file is removed by the
  // destructor and by SIGINT, SIGTERM and SIGHUP (the signal then does what it did before).
  explicit OutputFile(const std::string& path, std::span<const std::string> inputs = {});
  ~OutputFile();
  OutputFile(const OutputFile&) = delete;
  OutputFile& operator=(const OutputFile&) = delete;

  // Appends bytes; throws Error naming the output on failure (disk full, I/O error).
  void write(std::span<const uint8_t> bytes);
  // Flushes the data to disk and renames the temporary file over the output path.
  void commit();

  const std::string& path() const { return path_; }
  const std::string& temporary_path() const { return temp_; }

 private:
  void discard() noexcept;

  std::string path_;    // as the user named it (for messages)
  std::string target_;  // where the file lands: path_, or the file a symbolic link at path_ points to
  std::string temp_;
  int fd_ = -1;
  int slot_ = -1;  // entry in the signal handler's list of temporary files
  bool wrote_ = false;
};

}  // namespace ternion
