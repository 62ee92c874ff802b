// ternion: one program, one subcommand per job (run, info, perplexity, ...). main() only dispatches.
#include <csignal>
#include <cstdio>
#include <exception>
#include <string>
#include <utility>

#include "commands.h"
#include "ternion/core/error.h"
#include "ternion/core/escape.h"

namespace {

// Runs a subcommand, then makes sure what it wrote to stdout arrived.
int run_command(const ternion::cli::Runner& command) {
  const int status = command();
  ternion::cli::finish_stdout();
  return status;
}

}  // namespace

int main(int argc, char** argv) {
  // A closed pipe on stdout is an error the command reports (write_stdout), not a silent death by SIGPIPE.
  std::signal(SIGPIPE, SIG_IGN);
  CLI::App app{"ternion: run large language models on the CPU", "ternion"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "ternion 0.1.0");
  auto run = ternion::cli::add_run_command(app);
  auto chat = ternion::cli::add_chat_command(app);
  auto serve = ternion::cli::add_serve_command(app);
  auto info = ternion::cli::add_info_command(app);
  auto ppl = ternion::cli::add_perplexity_command(app);
  auto imatrix = ternion::cli::add_imatrix_command(app);
  auto tokenize = ternion::cli::add_tokenize_command(app);
  auto detokenize = ternion::cli::add_detokenize_command(app);
  auto tmpl = ternion::cli::add_template_command(app);
  auto synth = ternion::cli::add_synth_command(app);
  auto convert = ternion::cli::add_convert_command(app);
  auto bench = ternion::cli::add_bench_command(app);
  auto quantize = ternion::cli::add_quantize_command(app);
  auto kld = ternion::cli::add_kld_command(app);
  auto exec = ternion::cli::add_exec_command(app);
  auto agent = ternion::cli::add_agent_command(app);
  auto show = ternion::cli::add_show_command(app);
  auto list = ternion::cli::add_list_command(app);
  auto export_lora = ternion::cli::add_export_lora_command(app);
  // An unknown first word is named, with the commands there are (CLI11 would only say one is required).
  if (argc > 1 && argv[1][0] != '-') {
    std::string names;
    bool known = false;
    for (const CLI::App* sub : app.get_subcommands([](const CLI::App*) { return true; })) {
      known = known || sub->get_name() == argv[1];
      names += (names.empty() ? "" : ", ") + sub->get_name();
    }
    if (!known) {
      std::fprintf(stderr, "ternion: error: unknown command '%s' (commands: %s)\n",
                   ternion::escape_text(argv[1]).c_str(), names.c_str());
      return 2;
    }
  }
  ternion::cli::spell_long_single_dash_flags(argc, argv);
  if (const std::string e = ternion::cli::short_flag_collision(argc, argv); !e.empty()) {
    std::fprintf(stderr, "ternion: error: %s\n", e.c_str());
    return 2;
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::fprintf(stderr, "ternion: error: %s (see ternion --help)\n", ternion::one_line_message(e.what()).c_str());
    return 2;
  }
  try {
    const std::pair<const char*, const ternion::cli::Runner*> commands[] = {{"run", &run},
                                                                            {"chat", &chat},
                                                                            {"serve", &serve},
                                                                            {"info", &info},
                                                                            {"perplexity", &ppl},
                                                                            {"tokenize", &tokenize},
                                                                            {"detokenize", &detokenize},
                                                                            {"template", &tmpl},
                                                                            {"synth", &synth},
                                                                            {"convert", &convert},
                                                                            {"bench", &bench},
                                                                            {"quantize", &quantize},
                                                                            {"kld", &kld},
                                                                            {"exec", &exec},
                                                                            {"agent", &agent},
                                                                            {"show", &show},
                                                                            {"list", &list},
                                                                            {"imatrix", &imatrix},
                                                                            {"export-lora", &export_lora}};
    for (const auto& [name, command] : commands) {
      if (app.got_subcommand(name)) return run_command(*command);
    }
  } catch (const ternion::Error& e) {
    std::fflush(stdout);
    std::fprintf(stderr, "ternion: error: %s\n", ternion::one_line_message(e.what()).c_str());
    return 1;
  } catch (const std::exception& e) {
    std::fflush(stdout);
    std::fprintf(stderr, "ternion: internal error: %s\n", ternion::one_line_message(e.what()).c_str());
    return 3;
  }
  return 2;
}
