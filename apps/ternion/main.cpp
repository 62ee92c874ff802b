// ternion: one program, one subcommand per job (run, info, perplexity, ...). main() only dispatches.
#include <cstdio>
#include <exception>
#include <string>

#include "commands.h"
#include "ternion/core/error.h"

namespace {

// Error messages are printed on one line, whatever they contain.
std::string one_line(std::string s) {
  for (char& c : s) {
    if (c == '\n' || c == '\r') c = ' ';
  }
  while (!s.empty() && s.back() == ' ') s.pop_back();
  return s;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"ternion: run large language models on the CPU"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "ternion 0.1.0");
  auto run = ternion::cli::add_run_command(app);
  auto serve = ternion::cli::add_serve_command(app);
  auto info = ternion::cli::add_info_command(app);
  auto ppl = ternion::cli::add_perplexity_command(app);
  auto tokenize = ternion::cli::add_tokenize_command(app);
  auto detokenize = ternion::cli::add_detokenize_command(app);
  auto tmpl = ternion::cli::add_template_command(app);
  auto synth = ternion::cli::add_synth_command(app);
  auto convert = ternion::cli::add_convert_command(app);
  auto bench = ternion::cli::add_bench_command(app);
  auto quantize = ternion::cli::add_quantize_command(app);
  auto kld = ternion::cli::add_kld_command(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::fprintf(stderr, "ternion: error: %s (see ternion --help)\n", one_line(e.what()).c_str());
    return 2;
  }
  try {
    if (app.got_subcommand("run")) return run();
    if (app.got_subcommand("serve")) return serve();
    if (app.got_subcommand("info")) return info();
    if (app.got_subcommand("perplexity")) return ppl();
    if (app.got_subcommand("tokenize")) return tokenize();
    if (app.got_subcommand("detokenize")) return detokenize();
    if (app.got_subcommand("template")) return tmpl();
    if (app.got_subcommand("synth")) return synth();
    if (app.got_subcommand("convert")) return convert();
    if (app.got_subcommand("bench")) return bench();
    if (app.got_subcommand("quantize")) return quantize();
    if (app.got_subcommand("kld")) return kld();
  } catch (const ternion::Error& e) {
    std::fflush(stdout);
    std::fprintf(stderr, "ternion: error: %s\n", one_line(e.what()).c_str());
    return 1;
  } catch (const std::exception& e) {
    std::fflush(stdout);
    std::fprintf(stderr, "ternion: internal error: %s\n", one_line(e.what()).c_str());
    return 3;
  }
  return 2;
}
