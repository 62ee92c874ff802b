// OutputFile: the output path holds the old contents or the whole new file, never a part; an output that is an
// input (by any name) is refused before anything is written.
#include "ternion/io/output_file.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "ternion/core/error.h"

namespace ternion {
namespace {

namespace fs = std::filesystem;

std::string read_all(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

class OutputFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("ternion_output_file_" + std::to_string(::getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    std::ofstream(dir_ / "input.bin") << "the input";
  }
  void TearDown() override { fs::remove_all(dir_); }
  size_t files() const { return static_cast<size_t>(std::distance(fs::directory_iterator(dir_), {})); }
  std::span<const uint8_t> bytes(const std::string& s) {
    return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
  }
  fs::path dir_;
};

TEST_F(OutputFileTest, CommitPutsTheWholeFileInPlace) {
  const std::string path = (dir_ / "out.bin").string();
  {
    OutputFile f(path);
    f.write(bytes("hello "));
    EXPECT_FALSE(fs::exists(path));  // nothing at the path until commit
    EXPECT_TRUE(fs::exists(f.temporary_path()));
    EXPECT_EQ(fs::path(f.temporary_path()).parent_path(), dir_);  // same folder: the rename is atomic
    f.write(bytes("world"));
    f.commit();
    EXPECT_THROW(f.commit(), Error);
    EXPECT_THROW(f.write(bytes("x")), Error);
  }
  EXPECT_EQ(read_all(path), "hello world");
  EXPECT_EQ(files(), 2u);
}

TEST_F(OutputFileTest, AbandonedWriteLeavesTheOldFile) {
  const std::string path = (dir_ / "out.bin").string();
  std::ofstream(path) << "old";
  ::chmod(path.c_str(), 0640);
  {
    OutputFile f(path);
    f.write(bytes("new but unfinished"));
  }
  EXPECT_EQ(read_all(path), "old");
  EXPECT_EQ(files(), 2u);
  {
    OutputFile f(path);
    f.write(bytes("new"));
    f.commit();
  }
  EXPECT_EQ(read_all(path), "new");
  struct stat st {};
  ::stat(path.c_str(), &st);
  EXPECT_EQ(st.st_mode & 0777, 0640u);  // the replaced file's permissions are kept
}

TEST_F(OutputFileTest, RefusesAnInputByAnyName) {
  const std::string input = (dir_ / "input.bin").string();
  fs::create_symlink("input.bin", dir_ / "link.bin");
  fs::create_hard_link(dir_ / "input.bin", dir_ / "hard.bin");
  const std::vector<std::string> inputs = {input};
  for (const std::string& out :
       {input, (dir_ / "." / "input.bin").string(), (dir_ / "link.bin").string(), (dir_ / "hard.bin").string()}) {
    EXPECT_THROW(OutputFile(out, inputs), Error) << out;
  }
  // An input folder stands for its files.
  const std::vector<std::string> folder = {dir_.string()};
  EXPECT_THROW(OutputFile((dir_ / "input.bin").string(), folder), Error);
  EXPECT_THROW(OutputFile(dir_.string(), {}), Error);  // a folder is no output
  EXPECT_EQ(read_all(input), "the input");
  EXPECT_EQ(files(), 3u);
}

TEST_F(OutputFileTest, WritesThroughASymlinkToItsTarget) {
  std::ofstream(dir_ / "target.bin") << "old";
  fs::create_symlink("target.bin", dir_ / "alias.bin");
  OutputFile f((dir_ / "alias.bin").string());
  f.write(bytes("new"));
  f.commit();
  EXPECT_TRUE(fs::is_symlink(dir_ / "alias.bin"));
  EXPECT_EQ(read_all(dir_ / "target.bin"), "new");
}

TEST_F(OutputFileTest, MissingFolderIsAOneLineError) {
  try {
    OutputFile f((dir_ / "no" / "out.bin").string());
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("cannot create"), std::string::npos) << e.what();
  }
  EXPECT_THROW(OutputFile(""), Error);
}

}  // namespace
}  // namespace ternion
