// `ternion bench`: prompt and generation speed, decode latency and memory over a grid of models, sizes and
// thread counts; a Markdown table, or JSON whose objects use llama-bench's field names plus our own.
#include <nlohmann/json.hpp>

#include <unistd.h>
#include <chrono>

#include <cstdio>
#include <ctime>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "commands.h"
#include "progress.h"
#include "ternion/convert/load_model.h"
#include "ternion/core/error.h"
#include "ternion/core/param_rules.h"
#include "ternion/core/thread_pool.h"
#include "ternion/engine/bench.h"
#include "ternion/quant/quant.h"

namespace ternion::cli {

namespace {

struct BenchArgs {
  std::vector<std::string> models;
  std::vector<std::string> positional;
  std::vector<int64_t> n_prompt{512};
  std::vector<int64_t> n_gen{128};
  std::vector<std::string> pg;  // "pp,tg" pairs
  std::vector<int> threads;
  int64_t batch = 512;
  int reps = 5;
  uint32_t seed = 42;
  std::string output = "md";
  bool progress = false;
  bool mmap = false;
  bool hugetlb = false;
  LoraArgs lora;
  DeviceArgs device;
};

std::string base_name(const std::string& path) {
  const auto slash = path.find_last_of('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

// The weight type holding most bytes of the model's matrices, as a file-type label ("Q8_0").
std::string main_type(const Model& model) {
  std::map<std::string, uint64_t> bytes;
  const auto add = [&](const WeightMatrix& m) {
    if (m.data != nullptr) bytes[std::string(dtype_info(m.type).name)] += m.row_bytes * static_cast<uint64_t>(m.rows);
  };
  const ModelWeights& w = model.weights();
  add(w.token_embd);
  if (!w.tied_output) add(w.output);
  for (const LayerWeights& l : w.layers) {
    for (const WeightMatrix* m : {&l.wq, &l.wk, &l.wv, &l.wo, &l.w_gate, &l.w_up, &l.w_down}) add(*m);
  }
  std::string best = "F32";
  uint64_t most = 0;
  for (const auto& [name, b] : bytes) {
    if (b > most) most = b, best = name;
  }
  return best;
}

std::string params_label(int64_t n) {
  char buf[32];
  if (n >= 1000000000) {
    std::snprintf(buf, sizeof buf, "%.2f B", static_cast<double>(n) / 1e9);
  } else {
    std::snprintf(buf, sizeof buf, "%.2f M", static_cast<double>(n) / 1e6);
  }
  return buf;
}

std::string size_label(double bytes) {
  char buf[32];
  if (bytes >= 1024.0 * 1024 * 1024) {
    std::snprintf(buf, sizeof buf, "%.2f GiB", bytes / (1024.0 * 1024 * 1024));
  } else {
    std::snprintf(buf, sizeof buf, "%.2f MiB", bytes / (1024.0 * 1024));
  }
  return buf;
}

// Bytes on disk: the file, or every file of a model folder.
uint64_t model_file_bytes(const std::string& path) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (!fs::is_directory(path, ec)) return fs::file_size(path, ec);
  uint64_t total = 0;
  for (const auto& e : fs::directory_iterator(path, ec)) {
    if (e.is_regular_file(ec)) total += e.file_size(ec);
  }
  return total;
}

std::string test_label(const BenchTest& t) {
  if (t.n_prompt > 0 && t.n_gen > 0) return "pp" + std::to_string(t.n_prompt) + "+tg" + std::to_string(t.n_gen);
  if (t.n_prompt > 0) return "pp" + std::to_string(t.n_prompt);
  return "tg" + std::to_string(t.n_gen);
}

std::string now_iso8601() {
  const std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

// How close the median decode step comes to the bandwidth bound, in percent.
std::optional<double> bound_pct(const BenchResult& r) {
  if (!r.decode_bound_ms || !r.latency_p50_ms || !(*r.latency_p50_ms > 0)) return std::nullopt;
  return 100.0 * *r.decode_bound_ms / *r.latency_p50_ms;
}

// p99 / median of the read passes: the tail the machine alone gives a weight-reading step.
std::optional<double> read_tail(const BenchResult& r) {
  if (!r.decode_bound_ms || !r.read_p99_ms || !(*r.decode_bound_ms > 0)) return std::nullopt;
  return *r.read_p99_ms / *r.decode_bound_ms;
}

nlohmann::ordered_json to_json(const std::string& path, const Model& model, const BenchResult& r, bool mmap,
                               bool hugetlb) {
  nlohmann::ordered_json j;
  const std::string type = main_type(model);
  const int64_t n_params = model_n_params(model);
  j["build_commit"] = "ternion-0.1.0";
  j["backends"] = r.backend == "cpu" ? "CPU" : "CUDA";
  j["cpu_isa"] = std::string(isa_name(best_isa()));
  j["model_filename"] = path;
  j["model_type"] = std::string(model.arch().name) + " " + params_label(n_params) + " " + type;
  j["model_size"] = static_cast<int64_t>(model.weight_bytes());
  j["model_n_params"] = n_params;
  j["n_batch"] = r.test.n_batch;
  j["n_ubatch"] = r.test.n_batch;
  j["n_threads"] = r.test.n_threads;
  j["type_k"] = "f16";
  j["type_v"] = "f16";
  j["n_gpu_layers"] = r.backend == "cpu" ? 0 : static_cast<int64_t>(model.hparams().n_layer);
  j["flash_attn"] = false;
  j["use_mmap"] = mmap;
  j["hugetlb"] = hugetlb;
  j["n_prompt"] = r.test.n_prompt;
  j["n_gen"] = r.test.n_gen;
  j["test_time"] = now_iso8601();
  j["avg_ns"] = static_cast<int64_t>(r.avg_ns);
  j["stddev_ns"] = static_cast<int64_t>(r.stddev_ns);
  j["avg_ts"] = r.avg_ts;
  j["stddev_ts"] = r.stddev_ts;
  std::vector<int64_t> ns;
  for (double v : r.samples_ns) ns.push_back(static_cast<int64_t>(v));
  j["samples_ns"] = ns;
  j["samples_ts"] = r.samples_ts;
  j["ttft_ms"] = r.ttft_ms;
  auto opt = [](const std::optional<double>& v) {
    return v ? nlohmann::ordered_json(*v) : nlohmann::ordered_json(nullptr);
  };
  j["latency_p50_ms"] = opt(r.latency_p50_ms);
  j["latency_p99_ms"] = opt(r.latency_p99_ms);
  j["jitter_ms"] = opt(r.jitter_ms);
  j["peak_rss_bytes"] = r.peak_rss_bytes;
  j["decode_bytes_per_token"] = r.decode_bytes_per_token;
  j["decode_bound_ms"] = opt(r.decode_bound_ms);
  j["decode_bound_pct"] = opt(bound_pct(r));
  j["read_p99_ms"] = opt(r.read_p99_ms);
  j["model_size_bytes"] = static_cast<int64_t>(model_file_bytes(path));
  // Every decode step and read pass in order, for looking at when the slow ones happen, not only how slow.
  j["token_latencies_ms"] = r.token_latencies_ms;
  j["read_pass_ms"] = r.read_pass_ms;
  return j;
}

std::string fmt_ms(const std::optional<double>& v, const char* format = "%.3f") {
  if (!v) return "-";
  char buf[32];
  std::snprintf(buf, sizeof buf, format, *v);
  return buf;
}

void print_md_header() {
  std::printf(
      "| model | size | params | threads | test | t/s | ttft ms | p50 ms | p99 ms | jitter ms | bound ms | of bound | "
      "read p99/p50 | peak RSS |\n");
  std::printf("|---|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
}

void print_md_row(const std::string& path, const Model& model, const BenchResult& r) {
  std::printf("| %s | %s | %s | %d | %s | %.2f ± %.2f | %.2f | %s | %s | %s | %s | %s | %s | %s |\n",
              base_name(path).c_str(), size_label(static_cast<double>(model.weight_bytes())).c_str(),
              params_label(model_n_params(model)).c_str(), r.test.n_threads, test_label(r.test).c_str(), r.avg_ts,
              r.stddev_ts, r.ttft_ms, fmt_ms(r.latency_p50_ms).c_str(), fmt_ms(r.latency_p99_ms).c_str(),
              fmt_ms(r.jitter_ms).c_str(), fmt_ms(r.decode_bound_ms).c_str(), fmt_ms(bound_pct(r), "%.0f %%").c_str(),
              fmt_ms(read_tail(r), "%.2f").c_str(), size_label(static_cast<double>(r.peak_rss_bytes)).c_str());
  std::fflush(stdout);
}

std::vector<std::pair<int64_t, int64_t>> test_shapes(const BenchArgs& a) {
  std::vector<std::pair<int64_t, int64_t>> shapes;
  for (int64_t p : a.n_prompt) {
    if (p < 0) throw Error("-p/--n-prompt must not be negative, got " + std::to_string(p));
    if (p > 0) shapes.emplace_back(p, 0);
  }
  for (int64_t n : a.n_gen) {
    if (n < 0) throw Error("-n/--n-gen must not be negative, got " + std::to_string(n));
    if (n > 0) shapes.emplace_back(0, n);
  }
  for (const std::string& s : a.pg) {
    const auto comma = s.find(',');
    try {
      if (comma == std::string::npos) throw std::invalid_argument(s);
      size_t used = 0;
      const int64_t p = std::stoll(s.substr(0, comma), &used);
      if (used != comma) throw std::invalid_argument(s);
      const std::string rest = s.substr(comma + 1);
      const int64_t n = std::stoll(rest, &used);
      if (used != rest.size() || p <= 0 || n <= 0) throw std::invalid_argument(s);
      shapes.emplace_back(p, n);
    } catch (const std::logic_error&) {
      throw Error("--pg wants two positive counts 'PROMPT,GEN', got '" + s + "'");
    }
  }
  if (shapes.empty()) throw Error("nothing to measure: give a positive -p, -n or --pg");
  return shapes;
}

int bench_cmd(const BenchArgs& a) {
  if (a.output != "md" && a.output != "json" && a.output != "jsonl") {
    throw Error("-o/--output must be md, json or jsonl, got '" + a.output + "'");
  }
  if (a.reps < 1) throw Error("-r/--repetitions must be at least 1, got " + std::to_string(a.reps));
  if (a.batch < 1) throw Error("-b/--batch-size must be at least 1, got " + std::to_string(a.batch));
  std::vector<std::string> models = a.models;
  models.insert(models.end(), a.positional.begin(), a.positional.end());
  if (models.empty()) models.push_back(pick_model_path("", ""));
  std::vector<int> threads = a.threads;
  if (threads.empty()) threads.push_back(default_thread_count());
  for (int t : threads) {
    if (t < 1) throw Error("-t/--threads must be positive, got " + std::to_string(t));
    check_threads(t, ParamSurface::kCommandLine);
  }
  const auto shapes = test_shapes(a);
  check_device_args(a.device);

  // Every model is opened (mapped, validated) before anything is printed, so a bad path is one error line.
  std::vector<std::unique_ptr<Model>> loaded;
  for (const std::string& path : models) {
    ProgressBar bar("loading " + base_name(path));
    loaded.push_back(
        load_model(path, {!a.mmap, a.hugetlb}, [&bar](uint64_t done, uint64_t total) { bar.update(done, total); }));
  }

  const DeviceArgs device = checked_device_args(a.device);
  nlohmann::ordered_json all = nlohmann::ordered_json::array();
  if (a.output == "md") print_md_header();
  for (size_t mi = 0; mi < models.size(); ++mi) {
    const std::string& path = models[mi];
    const auto& model = loaded[mi];
    const std::vector<LoraUse> adapters = load_lora_adapters(lora_files(a.lora), *model);
    for (int t : threads) {
      for (const auto& [p, n] : shapes) {
        BenchTest test;
        test.n_prompt = p;
        test.n_gen = n;
        test.n_threads = t;
        test.repetitions = a.reps;
        test.n_batch = a.batch;
        test.seed = a.seed;
        test.hugetlb = a.hugetlb;
        test.lora = adapters;
        test.device = device.device;
        test.n_gpu_layers = device.gpu_layers;
        if (a.progress || ::isatty(STDERR_FILENO) == 1)
          std::fprintf(stderr, "bench: %s %s t=%d\n", base_name(path).c_str(), test_label(test).c_str(), t);
        const BenchResult r = run_bench(*model, test);
        if (a.output == "md") {
          print_md_row(path, *model, r);
        } else if (a.output == "jsonl") {
          std::printf("%s\n", to_json(path, *model, r, a.mmap, a.hugetlb).dump().c_str());
          std::fflush(stdout);
        } else {
          all.push_back(to_json(path, *model, r, a.mmap, a.hugetlb));
        }
      }
    }
  }
  if (a.output == "json") std::printf("%s\n", all.dump(2).c_str());
  return 0;
}

}  // namespace

Runner add_bench_command(CLI::App& app) {
  auto a = std::make_shared<BenchArgs>();
  CLI::App* c = app.add_subcommand("bench", "Prompt/generation speed, decode latency and memory (llama-bench style)");
  c->add_option("-m,--model", a->models, "GGUF model file (repeat for several)");
  c->add_option("model", a->positional, "GGUF model file(s) (instead of -m)");
  c->add_option("-p,--n-prompt", a->n_prompt, "Prompt sizes, comma-separated; 0 skips (default 512)")->delimiter(',');
  c->add_option("-n,--n-gen", a->n_gen, "Generation lengths, comma-separated; 0 skips (default 128)")->delimiter(',');
  c->add_option("--pg", a->pg, "Prompt then generation in one test: PROMPT,GEN (repeatable)");
  c->add_option("-t,--threads", a->threads, "Thread counts, comma-separated (default: all cores)")->delimiter(',');
  c->add_option("-b,--batch-size", a->batch, "Prompt tokens per forward pass (default 512)");
  c->add_option("-r,--repetitions", a->reps, "Timed repetitions per test (default 5)");
  c->add_option("-o,--output", a->output, "md (table), json (array) or jsonl (one object per line)");
  c->add_option("--seed", a->seed, "Seed of the random token ids (default 42)");
  c->add_flag("--progress", a->progress, "Name each test on stderr as it starts (the default on a terminal)");
  c->add_flag("--mmap", a->mmap, kMmapHelp);
  c->add_flag("--hugetlb", a->hugetlb, kHugetlbHelp);
  add_lora_flags(c, a->lora);
  add_device_flags(c, a->device);
  return [a] { return bench_cmd(*a); };
}

}  // namespace ternion::cli
