// The catalogue of bad input: every subcommand given missing, empty, truncated, corrupt and aliased files, bad,
// out-of-range and conflicting flags, and broken outputs. Each case must end in bounded time with the expected
// exit code and one line on stderr that names the problem, write nothing to stdout, leave no file behind and
// leave every input byte-identical. Then signals: SIGINT lands mid-write in every writer (a test hook holds the
// writer after its first bytes), during generation, and in a serving server.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "apps/cli_runner.h"
#include "support/test_support.h"

namespace ternion {
namespace {

namespace fs = std::filesystem;
using test::slurp;

// Every file under `dir` (recursively) with its contents, for byte-for-byte comparisons.
std::map<std::string, std::string> snapshot(const fs::path& dir) {
  std::map<std::string, std::string> out;
  for (const auto& e : fs::recursive_directory_iterator(dir)) {
    if (e.is_symlink()) {
      out[e.path().string()] = "-> " + fs::read_symlink(e.path()).string();
    } else if (e.is_regular_file()) {
      out[e.path().string()] = slurp(e.path());
    } else if (e.is_directory()) {
      out[e.path().string() + "/"] = "";
    }
  }
  return out;
}

// The inputs the cases use, made once per test process in a folder of its own: copies of fixture models, aliases
// of them (symbolic and hard links), and broken files.
class Inputs {
 public:
  static Inputs& get() {
    static Inputs inputs;
    return inputs;
  }
  ~Inputs() {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  const fs::path& dir() const { return dir_; }
  bool ready() const { return ready_; }

  // The HF folder copy is made only for the cases that need it (27 MB).
  fs::path hf_folder() {
    const fs::path hf = dir_ / "hf";
    if (!fs::exists(hf)) {
      fs::create_directories(hf);
      for (const auto& e : fs::directory_iterator(test::fixture("hf/kjv-llama"))) {
        fs::copy_file(e.path(), hf / e.path().filename());
        fs::permissions(hf / e.path().filename(), fs::perms::owner_write, fs::perm_options::add);
      }
    }
    return hf;
  }

 private:
  Inputs() {
    dir_ = fs::temp_directory_path() / ("ternion_catalogue_" + std::to_string(::getpid()));
    const fs::path q8 = test::fixture("gguf/kjv-llama-Q8_0.gguf");
    const fs::path f16 = test::fixture("gguf/kjv-llama-F16.gguf");
    ready_ = fs::exists(q8) && fs::exists(f16) && fs::exists(test::fixture("hf/kjv-llama"));
    if (!ready_) return;
    fs::remove_all(dir_);
    fs::create_directories(dir_ / "folder");
    copy(q8, "q8.gguf");
    copy(f16, "m.gguf");
    fs::create_symlink("m.gguf", dir_ / "link.gguf");
    fs::create_hard_link(dir_ / "m.gguf", dir_ / "hard.gguf");
    write("empty.gguf", "");
    const std::string model = slurp(q8);
    write("truncated.gguf", model.substr(0, 1000));
    write("headers-only.gguf", model.substr(0, model.size() / 2));
    std::mt19937 rng(7);
    std::string garbage(4096, '\0');
    for (char& c : garbage) c = static_cast<char>(rng());
    write("garbage.gguf", garbage);
    std::string bad_magic = model;
    bad_magic[0] = 'X';
    write("bad-magic.gguf", bad_magic);
    write("notes.txt", "not a model\n");
    write("prompt.txt", "In the beginning");
    write("empty.txt", "");
    write("bad.json", "{\"messages\": [");
    write("wrong.json", "{\"a\": 1}");
    write("t.jinja", "{% for m in messages %}{{ m.content }}{% endfor %}");
    write("broken.jinja", "{% for m in messages %}{{ m.content }");
    write("chat.json", "[{\"role\": \"user\", \"content\": \"hi\"}]");
    write("code.md", "```sh\necho hi\n```\n");
  }
  void copy(const fs::path& from, const std::string& name) {
    fs::copy_file(from, dir_ / name);
    fs::permissions(dir_ / name, fs::perms::owner_write, fs::perm_options::add);
  }
  void write(const std::string& name, const std::string& bytes) {
    std::ofstream(dir_ / name, std::ios::binary) << bytes;
  }

  fs::path dir_;
  bool ready_ = false;
};

struct BadInput {
  const char* name;  // the test's name
  std::string args;  // $D: the inputs folder, $H: a copy of a HF model folder
  int code;          // expected exit status
  std::string needle;
  std::string stdout_to = "";  // "" a file; else a shell redirection of stdout ("/dev/full", "&-")
};

// Runs `ternion ARGS` under `timeout`, with stdout and stderr in files of `out_dir`.
test::Outcome run_bounded(const std::string& args, const std::string& stdout_to, const fs::path& out_dir) {
  const std::string out = stdout_to.empty() ? (out_dir / "out").string() : stdout_to;
  const std::string cmd = "timeout -k 5 " + std::to_string(test::slow_build() ? 300 : 120) + " " + TERNION_BINARY +
                          " " + args + " >" + out + " 2>" + (out_dir / "err").string() + " </dev/null";
  const int status = std::system(cmd.c_str());
  test::Outcome o;
  o.code = WIFEXITED(status) ? WEXITSTATUS(status) : 128;
  o.out = stdout_to.empty() ? slurp(out_dir / "out") : "";
  o.err = slurp(out_dir / "err");
  return o;
}

std::string substitute(std::string s, const std::string& key, const std::string& value) {
  for (size_t at = s.find(key); at != std::string::npos; at = s.find(key, at + value.size())) {
    s.replace(at, key.size(), value);
  }
  return s;
}

// A port that is taken for as long as the returned socket is open.
std::pair<int, int> taken_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || ::listen(fd, 1) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
    ::close(fd);
    return {-1, -1};
  }
  return {fd, ntohs(a.sin_port)};
}

const std::vector<BadInput>& catalogue() {
  static const std::vector<BadInput> cases = {
      // run: files
      {"RunMissingModel", "run -m $D/missing.gguf -p hi", 1, "missing.gguf"},
      {"RunEmptyModel", "run -m $D/empty.gguf -p hi", 1, "empty.gguf"},
      {"RunTruncatedModel", "run -m $D/truncated.gguf -p hi", 1, "truncated.gguf"},
      {"RunHalfAModel", "run -m $D/headers-only.gguf -p hi", 1, "headers-only.gguf"},
      {"RunGarbageModel", "run -m $D/garbage.gguf -p hi", 1, "garbage.gguf"},
      {"RunBadMagic", "run -m $D/bad-magic.gguf -p hi", 1, "bad-magic.gguf"},
      {"RunTextFileAsModel", "run -m $D/notes.txt -p hi", 1, "notes.txt"},
      {"RunEmptyFolderAsModel", "run -m $D/folder -p hi", 1, "folder"},
      {"RunMissingPromptFile", "run -m $D/q8.gguf -f $D/missing.txt", 1, "missing.txt"},
      {"RunEmptyPromptFile", "run -m $D/q8.gguf -f $D/empty.txt", 1, "prompt is empty"},
      // run: flags
      {"RunEmptyPrompt", "run -m $D/q8.gguf -p ''", 1, "prompt is empty"},
      {"RunNoPrompt", "run -m $D/q8.gguf", 1, "prompt is empty"},
      {"RunPromptTwice", "run -m $D/q8.gguf -p hi -f $D/prompt.txt", 1, "give the prompt one way"},
      {"RunTwoModels", "run -m $D/q8.gguf $D/m.gguf -p hi", 1, "two models"},
      {"RunZeroTokens", "run -m $D/q8.gguf -p hi -n 0", 1, "-n/--tokens must be in [1, 16777216], got 0"},
      {"RunNegativeTokens", "run -m $D/q8.gguf -p hi -n -5", 1, "-n/--tokens"},
      {"RunTokensNotANumber", "run -m $D/q8.gguf -p hi -n abc", 2, "abc"},
      {"RunNegativeTemperature", "run -m $D/q8.gguf -p hi --temp -1", 1, "--temp must be at least 0, got -1"},
      {"RunNanTemperature", "run -m $D/q8.gguf -p hi --temp nan", 1, "--temp"},
      {"RunTopPZero", "run -m $D/q8.gguf -p hi --top-p 0", 1, "--top-p must be in (0, 1], got 0"},
      {"RunTopPTwo", "run -m $D/q8.gguf -p hi --top-p 2", 1, "--top-p must be in (0, 1], got 2"},
      {"RunTopPFraction", "run -m $D/q8.gguf -p hi --top-p 1.5", 1, "got 1.5"},
      {"RunNegativeTopK", "run -m $D/q8.gguf -p hi --top-k -1", 1, "--top-k must be in [0, 2147483647], got -1"},
      {"RunMinPAboveOne", "run -m $D/q8.gguf -p hi --min-p 1.5", 1, "--min-p must be in [0, 1], got 1.5"},
      {"RunZeroRepeatPenalty", "run -m $D/q8.gguf -p hi --repeat-penalty 0", 1, "--repeat-penalty"},
      {"RunRepeatLastN", "run -m $D/q8.gguf -p hi --repeat-last-n -2", 1, "--repeat-last-n"},
      {"RunPresencePenalty", "run -m $D/q8.gguf -p hi --presence-penalty 3", 1, "--presence-penalty"},
      {"RunFrequencyPenalty", "run -m $D/q8.gguf -p hi --frequency-penalty -9", 1, "--frequency-penalty"},
      {"RunThousandsOfThreads", "run -m $D/q8.gguf -p hi -n 4 -t 4096", 1, "-t/--threads must be in [0, "},
      {"RunNegativeThreads", "run -m $D/q8.gguf -p hi -t -1", 1, "-t/--threads"},
      {"RunNegativeContext", "run -m $D/q8.gguf -p hi -c -1", 1, "-c/--ctx-size"},
      {"RunHugeContext", "run -m $D/q8.gguf -p hi -c 100000000", 1, "-c/--ctx-size"},
      {"RunContextOverflow", "run -m $D/q8.gguf -p 'And God said unto them' -c 4 -n 8", 1, "fills the context"},
      {"RunTokensBelowMinusOne", "run -m $D/q8.gguf -p hi -n -2", 1, "-n/--tokens"},
      {"RunTemperatureAsThreads", "run -m $D/q8.gguf -p hi -t 0.7", 2, "use --temp 0.7"},
      {"RunTopPAsPrompt", "run -m $D/q8.gguf -n 4 -p 0.9", 2, "use --top-p 0.9"},
      {"RunZeroBatch", "run -m $D/q8.gguf -p hi -b 0 -ub -1", 1, "-b/--batch-size"},
      {"RunNegativeSeed", "run -m $D/q8.gguf -p hi -s -2", 1, "-s/--seed"},
      {"RunBadKvType", "run -m $D/q8.gguf -p hi --kv-type q8", 1, "--kv-type must be f16 or f32, got 'q8'"},
      {"RunUnknownFlag", "run -m $D/q8.gguf -p hi --no-such-flag", 2, "--no-such-flag"},
      {"RunOutputToFullDisk", "run -m $D/q8.gguf -p hi -n 4", 1, "cannot write to standard output", "/dev/full"},
      {"RunOutputClosed", "run -m $D/q8.gguf -p hi -n 4", 1, "cannot write to standard output", "&-"},
      {"RunJsonToFullDisk", "run -m $D/q8.gguf -p hi -n 2 --json", 1, "standard output", "/dev/full"},
      // info, tokenize, detokenize, template
      {"InfoMissing", "info -m $D/missing.gguf", 1, "missing.gguf"},
      {"InfoGarbage", "info -m $D/garbage.gguf", 1, "garbage.gguf"},
      {"InfoTruncated", "info -m $D/truncated.gguf", 1, "truncated.gguf"},
      {"InfoToFullDisk", "info -m $D/q8.gguf", 1, "cannot write to standard output", "/dev/full"},
      {"TokenizeGarbage", "tokenize -m $D/garbage.gguf hi", 1, "garbage.gguf"},
      {"TokenizeMissing", "tokenize -m $D/missing.gguf hi", 1, "missing.gguf"},
      {"TokenizeToFullDisk", "tokenize -m $D/q8.gguf hello", 1, "standard output", "/dev/full"},
      {"DetokenizeOutOfVocabulary", "detokenize -m $D/q8.gguf 99999999", 1, "99999999"},
      {"DetokenizeNegative", "detokenize -m $D/q8.gguf -- -1", 1, "-1"},
      {"DetokenizeNotANumber", "detokenize -m $D/q8.gguf abc", 1, "'abc' is not a token id"},
      {"TemplateMissingMessages", "template -m $D/q8.gguf --template $D/t.jinja --messages $D/missing.json", 1,
       "missing.json"},
      {"TemplateBadJson", "template -m $D/q8.gguf --template $D/t.jinja --messages $D/bad.json", 1, "bad.json"},
      {"TemplateWrongJson", "template -m $D/q8.gguf --template $D/t.jinja --messages $D/wrong.json", 1, "wrong.json"},
      {"TemplateMissingTemplate", "template -m $D/q8.gguf --template $D/missing.jinja --messages $D/chat.json", 1,
       "missing.jinja"},
      {"TemplateBrokenTemplate", "template -m $D/q8.gguf --template $D/broken.jinja --messages $D/chat.json", 1,
       "broken.jinja"},
      // exec, agent, run --execute (the sandbox is not needed to refuse these)
      {"ExecMissingFile", "exec -y $D/missing.md", 1, "missing.md"},
      {"ExecNoCode", "exec -y $D/prompt.txt", 1, "no fenced code block"},
      {"ExecNotConfirmed", "exec $D/code.md", 1, "not a terminal to ask on (pass --yes)"},
      {"ExecBadMemory", "exec -y $D/code.md --memory lots", 1, "--memory: expected a size"},
      {"ExecTinyMemory", "exec -y $D/code.md --memory 1K", 1, "memory limit must be at least 16 MiB"},
      {"ExecNoFile", "exec", 2, "file is required"},
      {"AgentNotConfirmed", "agent -m $D/q8.gguf 'print 1'", 1, "not a terminal to ask on"},
      {"AgentNoTask", "agent -m $D/q8.gguf -y", 2, "task is required"},
      {"AgentZeroRounds", "agent -m $D/q8.gguf -y --max-rounds 0 'print 1'", 1, "--max-rounds must be 1 to 100"},
      {"AgentZeroTimeout", "agent -m $D/q8.gguf -y --timeout 0 'print 1'", 1, "wall-time limit"},
      {"RunExecuteNotConfirmed", "run -m $D/q8.gguf -p 'print 1' --execute", 1, "not a terminal to ask on"},
      // perplexity, kld, bench
      {"PerplexityMissingText", "perplexity -m $D/q8.gguf -f $D/missing.txt", 1, "missing.txt"},
      {"PerplexityEmptyText", "perplexity -m $D/q8.gguf -f $D/empty.txt", 1, "fewer than one chunk"},
      {"PerplexityTinyContext", "perplexity -m $D/q8.gguf -f $D/prompt.txt -c 1", 1, "-c"},
      {"PerplexityThreads", "perplexity -m $D/q8.gguf -f $D/prompt.txt -t 99999", 1, "-t/--threads"},
      {"ImatrixNoText", "imatrix -m $D/q8.gguf", 1, "-f FILE"},
      {"ImatrixEmptyText", "imatrix -m $D/q8.gguf -f $D/empty.txt", 1, "fewer than one chunk"},
      {"ImatrixTinyContext", "imatrix -m $D/q8.gguf -f $D/prompt.txt -c 8", 1, "at least 16"},
      {"ImatrixBadFormat", "imatrix -m $D/q8.gguf -f $D/prompt.txt --output-format xml", 1, "xml"},
      {"ImatrixGarbageInFile", "imatrix -m $D/q8.gguf -f $D/prompt.txt --in-file $D/garbage.gguf", 1, "garbage.gguf"},
      {"ImatrixOverItsModel", "imatrix -m $D/q8.gguf -f $D/prompt.txt -c 16 -o $D/q8.gguf", 1, "input file"},
      {"KldNoReference", "kld -m $D/q8.gguf -f $D/prompt.txt", 1, "--reference"},
      {"KldMissingModel", "kld -m $D/missing.gguf --reference $D/q8.gguf -f $D/prompt.txt", 1, "missing.gguf"},
      {"BenchMissingModel", "bench -m $D/missing.gguf", 1, "missing.gguf"},
      {"BenchZeroThreads", "bench -m $D/q8.gguf -t 0", 1, "-t/--threads"},
      {"BenchThousandsOfThreads", "bench -m $D/q8.gguf -t 5000", 1, "-t/--threads"},
      // synth
      {"SynthUnknownShape", "synth --shape nosuch --vocab-from $D/q8.gguf -o $D/s.gguf", 1, "nosuch"},
      {"SynthUnknownType", "synth --shape smollm-135m --type NOPE --vocab-from $D/q8.gguf -o $D/s.gguf", 1, "NOPE"},
      {"SynthGarbageVocab", "synth --shape smollm-135m --vocab-from $D/garbage.gguf -o $D/s.gguf", 1, "garbage.gguf"},
      {"SynthOverItsVocab", "synth --shape smollm-135m --vocab-from $D/q8.gguf -o $D/q8.gguf", 1, "input file"},
      {"SynthIntoAFolder", "synth --shape smollm-135m --vocab-from $D/q8.gguf -o $D/folder", 1, "is a folder"},
      {"SynthNoSuchFolder", "synth --shape smollm-135m --vocab-from $D/q8.gguf -o $D/nope/s.gguf", 1, "nope"},
      // convert
      {"ConvertMissing", "convert $D/missing $D/o.gguf", 1, "missing"},
      {"ConvertFolderToFolder", "convert $D/folder $D/folder", 1, "folder"},
      {"ConvertOverItsWeights", "convert $H $H/model.safetensors", 1, "model.safetensors"},
      {"ConvertOverItsConfig", "convert $H $H/config.json", 1, "config.json"},
      {"ConvertIntoAFolder", "convert $H $D/folder", 1, "is a folder"},
      {"ConvertUnknownType", "convert $H $D/o.gguf --type nope", 1, "nope"},
      {"ConvertOneArgument", "convert $H", 1, "give the input and the output file"},
      {"ConvertUnknownSource", "convert --from nope $D/q8.gguf $D/o.gguf", 1, "nope"},
      {"ConvertLlama2cMissing", "convert --from llama2c $D/missing.bin --tokenizer $D/notes.txt $D/o.gguf", 1,
       "missing.bin"},
      {"ConvertNoSuchFolder", "convert $H $D/nope/o.gguf", 1, "nope"},
      // quantize
      {"QuantizeSamePath", "quantize $D/m.gguf $D/m.gguf Q4_0", 1, "is the input file"},
      {"QuantizeSameFileOtherPath", "quantize $D/m.gguf $D/./m.gguf Q4_0", 1, "is the input file"},
      {"QuantizeOverSymlink", "quantize $D/m.gguf $D/link.gguf Q4_0", 1, "is the input file"},
      {"QuantizeOverHardLink", "quantize $D/m.gguf $D/hard.gguf Q4_0", 1, "is the input file"},
      {"QuantizeFromSymlinkOverTarget", "quantize $D/link.gguf $D/m.gguf Q4_0", 1, "is the input file"},
      {"QuantizeIntoAFolder", "quantize $D/m.gguf $D/folder Q4_0", 1, "is a folder"},
      {"QuantizeMissing", "quantize $D/missing.gguf $D/o.gguf Q4_0", 1, "missing.gguf"},
      {"QuantizeGarbage", "quantize $D/garbage.gguf $D/o.gguf Q4_0", 1, "garbage.gguf"},
      {"QuantizeTruncated", "quantize $D/headers-only.gguf $D/o.gguf Q4_0 -q", 1, "headers-only.gguf"},
      {"QuantizeUnknownType", "quantize $D/m.gguf $D/o.gguf NOPE", 1, "NOPE"},
      {"QuantizeThreads", "quantize $D/m.gguf $D/o.gguf Q4_0 -t 100000", 1, "-t/--threads"},
      {"QuantizeRequantize", "quantize $D/q8.gguf $D/o.gguf Q4_0 -q", 1, "--allow-requantize"},
      {"QuantizeBadKeepRule", "quantize $D/m.gguf $D/o.gguf Q4_0 --keep-tensor-type nope", 1, "PATTERN=TYPE"},
      {"QuantizeNoSuchFolder", "quantize $D/m.gguf $D/nope/o.gguf Q4_0 -q", 1, "nope"},
      {"QuantizeImatrixMissing", "quantize $D/m.gguf $D/o.gguf Q4_0 -q --imatrix $D/missing.dat", 1, "missing.dat"},
      {"QuantizeImatrixGarbage", "quantize $D/m.gguf $D/o.gguf Q4_0 -q --imatrix $D/garbage.gguf", 1, "garbage.gguf"},
      {"QuantizeImatrixBothLists",
       "quantize $D/m.gguf $D/o.gguf Q4_0 -q --imatrix $D/garbage.gguf --include-weights a --exclude-weights b", 1,
       "not both"},
      // serve (what fails before it listens)
      {"ServeMissingModel", "serve -m $D/missing.gguf --port 0", 1, "missing.gguf"},
      {"ServePortOutOfRange", "serve -m $D/q8.gguf --port 70000", 1, "--port"},
      {"ServeZeroParallel", "serve -m $D/q8.gguf --port 0 -P 0", 1, "-P/--parallel"},
      {"ServeZeroParallelLlamaSpelling", "serve -m $D/q8.gguf --port 0 -np 0", 1, "-P/--parallel"},
      {"ServeAliasOfTwo", "serve -m $D/q8.gguf -m $D/m.gguf --alias x --port 0", 1, "--alias names one model"},
      {"ServeThreads", "serve -m $D/q8.gguf --port 0 -t 4096", 1, "-t/--threads"},
      {"ServeDuplicateNames", "serve -m a=$D/q8.gguf -m a=$D/m.gguf --port 0", 1, "two models are named 'a'"},
      {"ServeBadKvType", "serve -m $D/q8.gguf --port 0 --kv-type f8", 1, "--kv-type"},
      {"ServeMissingTemplateFile", "serve -m $D/q8.gguf --port 0 --chat-template-file $D/none.jinja", 1,
       "none.jinja: cannot open"},
      {"ServeTakenPort", "serve -m $D/q8.gguf --port $P", 1, "cannot listen on 127.0.0.1:$P"},
      // the program
      {"NoSubcommand", "", 2, "subcommand"},
      {"UnknownSubcommand", "frobnicate", 2, "frobnicate"},
  };
  return cases;
}

// Cases print as their names in gtest's messages.
void PrintTo(const BadInput& c, std::ostream* os) { *os << c.name << ": ternion " << c.args; }

class BadInputs : public ::testing::TestWithParam<BadInput> {};

TEST_P(BadInputs, OneLineNothingLostNothingLeft) {
  Inputs& in = Inputs::get();
  if (!in.ready()) {
    std::fprintf(stderr, "\n*** SKIPPED: fixtures gguf/kjv-llama-{Q8_0,F16}.gguf, hf/kjv-llama missing ***\n\n");
    GTEST_SKIP() << "fixtures missing";
  }
  const BadInput& c = GetParam();
  std::string args = substitute(c.args, "$D", in.dir().string());
  if (args.find("$H") != std::string::npos) args = substitute(args, "$H", in.hf_folder().string());
  std::string needle = c.needle;
  std::pair<int, int> port{-1, -1};
  if (args.find("$P") != std::string::npos) {
    port = taken_port();
    ASSERT_GE(port.first, 0) << "no free port";
    args = substitute(args, "$P", std::to_string(port.second));
    needle = substitute(needle, "$P", std::to_string(port.second));
  }
  const auto before = snapshot(in.dir());
  const fs::path out_dir = test::cli_scratch_dir();
  const test::Outcome o = run_bounded(args, c.stdout_to, out_dir);
  if (port.first >= 0) ::close(port.first);

  EXPECT_NE(o.code, 124) << "timed out: ternion " << args;
  EXPECT_NE(o.code, 128) << "crashed: " << o.err;
  EXPECT_EQ(o.code, c.code) << "ternion " << args << "\nstderr: " << o.err;
  EXPECT_EQ(std::count(o.err.begin(), o.err.end(), '\n'), 1) << "ternion " << args << "\nstderr: " << o.err;
  EXPECT_NE(o.err.find(needle), std::string::npos)
      << "ternion " << args << "\nwanted: " << needle << "\nstderr: " << o.err;
  EXPECT_TRUE(o.out.empty()) << o.out;
  const auto after = snapshot(in.dir());
  EXPECT_EQ(before.size(), after.size()) << "a file was left behind or removed by: ternion " << args;
  for (const auto& [path, bytes] : before) {
    const auto it = after.find(path);
    ASSERT_NE(it, after.end()) << path << " is gone after: ternion " << args;
    EXPECT_TRUE(it->second == bytes) << path << " changed after: ternion " << args;
  }
}

INSTANTIATE_TEST_SUITE_P(Catalogue, BadInputs, ::testing::ValuesIn(catalogue()),
                         [](const ::testing::TestParamInfo<BadInput>& p) { return std::string(p.param.name); });

TEST(Catalogue, HoldsAtLeastEightyCases) {
  EXPECT_GE(catalogue().size(), 80u);
  std::set<std::string> names;
  for (const BadInput& c : catalogue()) EXPECT_TRUE(names.insert(c.name).second) << c.name;
}

// ---- signals ----

// A started `ternion` process with stdout and stderr in files.
struct Child {
  pid_t pid = -1;
  fs::path out, err;
};

Child spawn(const std::vector<std::string>& args, bool hold_writes) {
  const fs::path dir = test::cli_scratch_dir();
  Child c{-1, dir / "sig_out", dir / "sig_err"};
  std::vector<std::string> argv_s = {TERNION_BINARY};
  argv_s.insert(argv_s.end(), args.begin(), args.end());
  c.pid = ::fork();
  if (c.pid == 0) {
    std::vector<char*> argv;
    for (std::string& a : argv_s) argv.push_back(a.data());
    argv.push_back(nullptr);
    if (hold_writes) ::setenv("TERNION_TEST_HOLD_WRITE", "1", 1);
    if (!std::freopen(c.out.c_str(), "w", stdout) || !std::freopen(c.err.c_str(), "w", stderr)) ::_exit(126);
    ::signal(SIGINT, SIG_DFL);
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  return c;
}

// Waits until `file` holds `text` (or the child ended, or two minutes passed).
bool wait_for(const Child& c, const fs::path& file, const std::string& text) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::minutes(test::slow_build() ? 5 : 2);
  while (std::chrono::steady_clock::now() < deadline) {
    if (slurp(file).find(text) != std::string::npos) return true;
    int status = 0;
    if (::waitpid(c.pid, &status, WNOHANG) == c.pid) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return false;
}

int finish(const Child& c) {
  int status = 0;
  ::waitpid(c.pid, &status, 0);
  return status;
}

class Signals : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!Inputs::get().ready()) {
      std::fprintf(stderr, "\n*** SKIPPED: fixtures gguf/kjv-llama-{Q8_0,F16}.gguf, hf/kjv-llama missing ***\n\n");
      GTEST_SKIP() << "fixtures missing";
    }
  }
  const fs::path& dir() { return Inputs::get().dir(); }

  // SIGINT once the writer has written its first bytes: killed by the signal, no output, no temporary file,
  // inputs unchanged.
  void interrupt_writer(const std::vector<std::string>& args) { interrupt(args, true); }

  // SIGINT once the program has said `text` (on stderr when it holds a write, else on stdout).
  void interrupt(const std::vector<std::string>& args, bool hold_writes, const std::string& text = "") {
    const auto before = snapshot(dir());
    const Child c = spawn(args, hold_writes);
    ASSERT_TRUE(hold_writes ? wait_for(c, c.err, "holding the write") : wait_for(c, c.out, text)) << slurp(c.err);
    ::kill(c.pid, SIGINT);
    const int status = finish(c);
    EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGINT) << "status " << status << ": " << slurp(c.err);
    EXPECT_EQ(snapshot(dir()), before);
  }
};

TEST_F(Signals, InterruptedQuantizeLeavesNothing) {
  interrupt_writer({"quantize", (dir() / "m.gguf").string(), (dir() / "out.gguf").string(), "Q4_K_M", "-q"});
}

TEST_F(Signals, InterruptedQuantizeKeepsTheOldOutput) {
  const fs::path out = dir() / "old-output.gguf";
  std::ofstream(out) << "the previous contents";
  interrupt_writer({"quantize", (dir() / "m.gguf").string(), out.string(), "Q4_0", "-q"});
  EXPECT_EQ(slurp(out), "the previous contents");
  fs::remove(out);
}

TEST_F(Signals, InterruptedConvertLeavesNothing) {
  const fs::path hf = Inputs::get().hf_folder();
  interrupt_writer({"convert", hf.string(), (dir() / "out.gguf").string(), "--type", "q8_0"});
}

TEST_F(Signals, InterruptedSynthLeavesNothing) {
  interrupt_writer({"synth", "--shape", "smollm-135m", "--type", "Q4_0", "--vocab-from", (dir() / "q8.gguf").string(),
                    "-o", (dir() / "out.gguf").string()});
}

TEST_F(Signals, InterruptedRunEndsTheLineAndPrintsTheSummary) {
  // 480 tokens at one thread: the signal comes right after the first streamed bytes, long before the end. As
  // llama-cli, the run stops, ends its line and prints its summary; the status is 130 (128 + SIGINT).
  const auto before = snapshot(dir());
  const Child c = spawn({"run", "-m", (dir() / "q8.gguf").string(), "-p", "In the beginning", "-n", "480",
                         "--ignore-eos", "-t", "1", "--temp", "0"},
                        false);
  ASSERT_TRUE(wait_for(c, c.out, " ")) << slurp(c.err);
  ::kill(c.pid, SIGINT);
  const int status = finish(c);
  ASSERT_TRUE(WIFEXITED(status)) << "status " << status << ": " << slurp(c.err);
  EXPECT_EQ(WEXITSTATUS(status), 130) << slurp(c.err);
  EXPECT_NE(slurp(c.err).find("finish: cancelled"), std::string::npos) << slurp(c.err);
  const std::string out = slurp(c.out);
  EXPECT_EQ(out.back(), '\n');
  EXPECT_LT(std::count(out.begin(), out.end(), ' '), 400) << "stopped long before 480 tokens";
  EXPECT_EQ(snapshot(dir()), before);
}

TEST_F(Signals, InterruptedServeStopsCleanly) {
  const Child c = spawn({"serve", "-m", (dir() / "q8.gguf").string(), "--port", "0"}, false);
  ASSERT_TRUE(wait_for(c, c.err, "ready")) << slurp(c.err);
  ::kill(c.pid, SIGINT);
  const int status = finish(c);
  ASSERT_TRUE(WIFEXITED(status)) << slurp(c.err);
  EXPECT_EQ(WEXITSTATUS(status), 0) << slurp(c.err);
  EXPECT_NE(slurp(c.err).find("stopped"), std::string::npos) << slurp(c.err);
}

}  // namespace
}  // namespace ternion
