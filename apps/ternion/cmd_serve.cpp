// `ternion serve`: the OpenAI-compatible HTTP server (the server itself is the ternion_server library).
#include <csignal>
#include <cstdio>
#include <memory>
#include <thread>

#include "commands.h"
#include "ternion/core/error.h"
#include "ternion/server/server.h"

namespace ternion::cli {

namespace {

int serve(const server::ServerOptions& options) {
  // SIGINT and SIGTERM are taken by a thread of their own, which stops the server; every other thread has them
  // blocked (they inherit this mask).
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  server::Server srv(options);
  const int port = srv.bind();
  std::thread http([&] { srv.serve(); });
  std::thread waiter([&] {
    int sig = 0;
    sigwait(&signals, &sig);
    srv.stop();
  });
  std::fprintf(stderr, "ternion serve: listening on http://%s:%d (loading models)\n", options.host.c_str(), port);
  try {
    srv.load_models();
  } catch (...) {
    srv.stop();
    http.join();
    pthread_kill(waiter.native_handle(), SIGTERM);
    waiter.join();
    throw;
  }
  std::fprintf(stderr, "ternion serve: ready\n");
  http.join();
  // serve() returned: stopped by a signal (the waiter is done) or by a failure to listen.
  pthread_kill(waiter.native_handle(), SIGTERM);
  waiter.join();
  std::fprintf(stderr, "ternion serve: stopped\n");
  return 0;
}

}  // namespace

Runner add_serve_command(CLI::App& app) {
  auto o = std::make_shared<server::ServerOptions>();
  auto models = std::make_shared<std::vector<std::string>>();
  CLI::App* c = app.add_subcommand("serve", "Serve models over an OpenAI-compatible HTTP API");
  c->add_option("-m,--model", *models,
                "GGUF file, model folder, folder of models, or NAME=PATH; repeat to serve several")
      ->required();
  c->add_option("--host", o->host, "Address to listen on (default 127.0.0.1: this machine only)");
  c->add_option("--port", o->port, "Port to listen on (default 8080; 0: any free port)");
  c->add_option("-P,--parallel", o->parallel, "Requests decoded together per model (default 4; also -np)");
  c->add_option("-c,--ctx-size", o->ctx_size, "KV positions per request (default: the model's, at most 4096)");
  c->add_option("--max-queue", o->max_queue, "Requests waiting per model before 503 (default 64)");
  c->add_option("-t,--threads", o->threads, "Compute threads per model (default: all cores)");
  c->add_option("--api-key", o->api_key, "Require 'Authorization: Bearer KEY' on every route but /health");
  c->add_option("--cors", o->cors_origin, "Send CORS headers allowing this origin (e.g. http://localhost:3000)");
  c->add_option("--max-body", o->max_body_bytes, "Largest request body in bytes (default 4 MiB)");
  c->add_flag("--mmap", o->mmap, kMmapHelp);
  c->add_flag("--hugetlb", o->hugetlb, kHugetlbHelp);
  auto kv_type = std::make_shared<std::string>("f16");
  c->add_option("--kv-type", *kv_type, kKvTypeHelp);
  auto lora = std::make_shared<LoraArgs>();
  add_lora_flags(c, *lora);
  auto device = std::make_shared<DeviceArgs>();
  add_device_flags(c, *device);
  auto template_file = std::make_shared<std::string>();
  c->add_option("--chat-template-file", *template_file,
                "A Jinja chat template used instead of the model's own (every model served)");
  auto quiet = std::make_shared<bool>(false);
  c->add_flag("--quiet-requests", *quiet, "No log line per request on stderr");
  auto alias = std::make_shared<std::string>();
  c->add_option("--alias", *alias, "The name of the one model served (as llama.cpp; NAME=PATH does the same)");
  return [o, models, kv_type, alias, lora, device, template_file, quiet] {
    o->models = *models;
    if (!template_file->empty()) o->chat_template = read_text_file(*template_file);
    if (!*quiet) {
      o->request_log = [](const std::string& line) { std::fprintf(stderr, "%s\n", line.c_str()); };
    }
    o->lora = lora_files(*lora);
    if (!alias->empty()) {
      if (o->models.size() != 1) throw Error("--alias names one model; give several models as NAME=PATH");
      o->models[0] = *alias + "=" + o->models[0];
    }
    o->kv_type = parse_kv_type(*kv_type);
    const DeviceArgs d = checked_device_args(*device);
    o->device = d.device;
    o->n_gpu_layers = d.gpu_layers;
    return serve(*o);
  };
}

}  // namespace ternion::cli
