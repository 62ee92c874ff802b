// Fenced code blocks taken from replies, and each language run through the sandbox.
#include <gtest/gtest.h>

#include <string>

#include "agent/sandbox_support.h"
#include "ternion/agent/code_blocks.h"
#include "ternion/agent/runner.h"

namespace ternion::agent {
namespace {

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

TEST(CodeBlocks, FindsFencedBlocksWithTheirLanguages) {
  const std::string reply =
      "Here it is:\n"
      "```python\nprint('hi')\n```\n"
      "and in C:\r\n"
      "  ~~~~ C title=\"x\"\r\nint main(void) { return 0; }\r\n~~~\r\n~~~~\r\n"
      "```\nno tag\n```\n"
      "````text\n```inner\n````\n"
      "``` c++\nint main() {}\n```   \n"
      "```js\nconsole.log(1)\n```\n"
      "```rust\nfn main() {}\n";  // unclosed: cut short, left out
  const auto blocks = extract_code_blocks(reply);
  ASSERT_EQ(blocks.size(), 6u);
  EXPECT_EQ(blocks[0].tag, "python");
  EXPECT_STREQ(blocks[0].language->name, "python");
  EXPECT_EQ(blocks[0].code, "print('hi')\n");
  EXPECT_EQ(blocks[0].line, 2);
  EXPECT_STREQ(blocks[1].language->name, "c");
  EXPECT_EQ(blocks[1].code, "int main(void) { return 0; }\n~~~\n");  // a shorter fence does not close it
  EXPECT_EQ(blocks[2].language, nullptr);
  EXPECT_EQ(blocks[3].tag, "text");
  EXPECT_EQ(blocks[3].code, "```inner\n");
  EXPECT_STREQ(blocks[4].language->name, "c++");
  EXPECT_STREQ(blocks[5].language->name, "javascript");
  const auto runnable = runnable_blocks(reply);
  ASSERT_EQ(runnable.size(), 4u);
  EXPECT_EQ(runnable[2].tag, "c++");
}

TEST(CodeBlocks, NamesEveryLanguageByItsTags) {
  const std::pair<const char*, const char*> cases[] = {{"c", "c"},
                                                       {"C", "c"},
                                                       {"cpp", "c++"},
                                                       {"c++", "c++"},
                                                       {"cc", "c++"},
                                                       {"rust", "rust"},
                                                       {"rs", "rust"},
                                                       {"py", "python"},
                                                       {"Python3", "python"},
                                                       {"sh", "sh"},
                                                       {"shell", "sh"},
                                                       {"bash", "bash"},
                                                       {"js", "javascript"},
                                                       {"javascript", "javascript"},
                                                       {"go", "go"},
                                                       {"golang", "go"}};
  for (const auto& [tag, name] : cases) {
    const Language* l = find_language(tag);
    ASSERT_NE(l, nullptr) << tag;
    EXPECT_STREQ(l->name, name) << tag;
  }
  for (const char* tag : {"", "text", "json", "cobol", "c#", "pyth"}) EXPECT_EQ(find_language(tag), nullptr) << tag;
  EXPECT_EQ(language_names(), "c, c++, rust, python, sh, bash, javascript, go");
  EXPECT_TRUE(extract_code_blocks("no code here\n`inline` and ``` not a fence``` either\n").empty());
}

BlockRun run_one(const std::string& tag, const std::string& code) {
  CodeBlock block{tag, find_language(tag), code, 1};
  return run_block(Sandbox(), block, RunnerOptions());
}

// Runs `code` when the language's toolchain is there; otherwise checks the line naming its package.
void expect_runs(const std::string& tag, const std::string& code, const std::string& output) {
  const Language& lang = *find_language(tag);
  const BlockRun r = run_one(tag, code);
  if (!missing_toolchain(lang).empty()) {
    std::fprintf(stderr, "*** %s: no toolchain here (%s); checked the message only ***\n", tag.c_str(),
                 r.missing.c_str());
    EXPECT_TRUE(contains(r.missing, std::string("Debian package ") + lang.package)) << r.missing;
    EXPECT_FALSE(r.ok());
    EXPECT_TRUE(contains(format_block_run(r, 1, RunnerOptions()), r.missing));
    return;
  }
  ASSERT_TRUE(r.run) << tag << ": " << (r.compile ? r.compile->output : r.missing);
  EXPECT_TRUE(r.ok()) << tag << ": " << r.run->output;
  EXPECT_EQ(r.run->output, output) << tag;
  const std::string text = format_block_run(r, 2, RunnerOptions());
  EXPECT_EQ(text.rfind("block 2 (" + std::string(lang.name) + "): ", 0), 0u) << text;
  EXPECT_TRUE(contains(text, "exit status 0 in ")) << text;
  EXPECT_TRUE(contains(text, "```\n" + output + "```\n")) << text;
  EXPECT_EQ(contains(text, "compiled in "), *lang.compile != '\0') << text;
}

TEST(Runner, RunsEachLanguage) {
  TERNION_REQUIRE_SANDBOX();
  expect_runs("c", "#include <stdio.h>\nint main(void) { printf(\"c %d\\n\", 6 * 7); }\n", "c 42\n");
  expect_runs("cpp", "#include <iostream>\nint main() { std::cout << \"c++ \" << 6 * 7 << '\\n'; }\n", "c++ 42\n");
  expect_runs("python", "print('python', 6 * 7)\n", "python 42\n");
  expect_runs("sh", "echo sh $((6 * 7))\n", "sh 42\n");
  expect_runs("bash", "echo bash ${BASH_VERSION:+yes}\n", "bash yes\n");
  expect_runs("js", "console.log('javascript', 6 * 7)\n", "javascript 42\n");
  expect_runs("rust", "fn main() { println!(\"rust {}\", 6 * 7); }\n", "rust 42\n");
  expect_runs("go", "package main\nimport \"fmt\"\nfunc main() { fmt.Println(\"go\", 6*7) }\n", "go 42\n");
}

TEST(Runner, ReportsACompileError) {
  TERNION_REQUIRE_SANDBOX();
  const BlockRun r = run_one("c", "int main(void) { return undeclared; }\n");
  ASSERT_TRUE(r.compile);
  EXPECT_FALSE(r.run);
  EXPECT_FALSE(r.ok());
  const std::string text = format_block_run(r, 1, RunnerOptions());
  EXPECT_EQ(text.rfind("block 1 (c): compiling failed: exit status 1 in ", 0), 0u) << text;
  EXPECT_TRUE(contains(text, "undeclared")) << text;
}

TEST(Runner, EscapesControlBytesInOutput) {
  TERNION_REQUIRE_SANDBOX();
  const BlockRun r = run_one("sh", "printf 'a\\033[2Jb\\n\\377\\n'; exit 4");
  ASSERT_TRUE(r.run);
  EXPECT_EQ(r.run->exit_code, 4);
  const std::string text = format_block_run(r, 1, RunnerOptions());
  EXPECT_TRUE(contains(text, "exit status 4")) << text;
  EXPECT_TRUE(contains(text, "```\na\\x1b[2Jb\n\\xff\n```\n")) << text;
}

}  // namespace
}  // namespace ternion::agent
