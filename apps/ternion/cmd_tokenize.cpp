// `ternion tokenize` and `ternion detokenize`: text <-> token ids with the tokenizer of a GGUF file or of a
// HuggingFace model folder (tokenizer.json).
#include <unistd.h>

#include <cstdio>
#include <iostream>
#include <iterator>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "commands.h"
#include "ternion/core/error.h"
#include "ternion/io/gguf.h"
#include "ternion/tokenizer/hf_tokenizer.h"
#include "ternion/tokenizer/tokenizer.h"

namespace ternion::cli {

namespace {

Tokenizer load_tokenizer(const std::string& flag) {
  const std::string path = pick_model_path(flag, "");
  if (is_hf_tokenizer_path(path)) return Tokenizer(vocab_from_tokenizer_json(path));
  return Tokenizer(vocab_from_gguf(GgufFile::open(path)));
}

// A piece for the terminal: printable UTF-8 as it is, quotes, backslashes and control characters escaped, and every
// byte that is not part of a valid UTF-8 character as \xNN (a piece may be a fragment of a character).
std::string escape_piece(std::string_view bytes) {
  std::string out;
  for (size_t i = 0; i < bytes.size();) {
    const auto b = static_cast<uint8_t>(bytes[i]);
    const size_t n = b < 0x80                   ? 1
                     : (b >= 0xC2 && b <= 0xDF) ? 2
                     : (b >= 0xE0 && b <= 0xEF) ? 3
                     : (b >= 0xF0 && b <= 0xF4) ? 4
                                                : 0;
    bool valid = n > 0 && i + n <= bytes.size();
    for (size_t k = 1; valid && k < n; ++k) valid = (static_cast<uint8_t>(bytes[i + k]) & 0xC0) == 0x80;
    if (valid && n > 1) {
      out.append(bytes.substr(i, n));
      i += n;
      continue;
    }
    const char c = bytes[i++];
    if (c == '\n') {
      out += "\\n";
    } else if (c == '\t') {
      out += "\\t";
    } else if (c == '\\' || c == '\'') {
      out += '\\';
      out += c;
    } else if (valid && b >= 0x20 && b != 0x7F) {
      out += c;
    } else {
      char hex[8];
      std::snprintf(hex, sizeof hex, "\\x%02X", b);
      out += hex;
    }
  }
  return out;
}

struct TokenizeArgs {
  std::string model, file, text;
  bool pieces = false, ids = false, no_bos = false, parse_special = false;
};

int tokenize(const TokenizeArgs& a) {
  if (!a.file.empty() && !a.text.empty()) throw Error("tokenize: give the text or -f FILE, not both");
  const Tokenizer tok = load_tokenizer(a.model);
  std::string text = a.text;
  if (!a.file.empty()) {
    text = read_text_file(a.file);
  } else if (a.text.empty()) {
    if (::isatty(STDIN_FILENO) == 1)
      std::fprintf(stderr, "(reading the text from standard input; end it with Ctrl-D)\n");
    text.assign(std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>());
  }
  std::vector<int32_t> ids;
  const Vocab& v = tok.vocab();
  if (v.add_bos && !a.no_bos) ids.push_back(v.bos);
  const std::vector<int32_t> body = tok.encode(text, false, a.parse_special);
  ids.insert(ids.end(), body.begin(), body.end());
  // --no-bos adds no special token at all (a WordPiece vocabulary's [SEP] neither), as llama-tokenize.
  if (v.add_eos && !a.no_bos) ids.push_back(v.eos);

  std::string out;
  for (size_t i = 0; i < ids.size(); ++i) {
    if (a.pieces) {
      out += std::to_string(ids[i]) + " '" + escape_piece(tok.token_to_piece(ids[i], true)) + "'\n";
    } else {
      out += (i == 0 ? "" : " ") + std::to_string(ids[i]);
    }
  }
  if (!a.pieces) out += '\n';
  std::fwrite(out.data(), 1, out.size(), stdout);
  return 0;
}

struct DetokenizeArgs {
  std::string model;
  std::vector<std::string> ids;
  bool skip_special = false;
};

// Ids as separate arguments or in one, separated by spaces or commas ("1 306 405", "1,306,405").
std::vector<int32_t> parse_ids(const std::vector<std::string>& args) {
  std::vector<int32_t> ids;
  for (const std::string& arg : args) {
    std::string spaced = arg;
    for (char& c : spaced) {
      if (c == ',') c = ' ';
    }
    std::istringstream in(spaced);
    for (std::string word; in >> word;) {
      size_t used = 0;
      long long id = -1;
      try {
        id = std::stoll(word, &used);
      } catch (const std::exception&) {
        used = 0;
      }
      if (used != word.size() || id < 0 || id > INT32_MAX) throw Error("detokenize: '" + word + "' is not a token id");
      ids.push_back(static_cast<int32_t>(id));
    }
  }
  return ids;
}

int detokenize(const DetokenizeArgs& a) {
  const std::vector<int32_t> ids = parse_ids(a.ids);
  const Tokenizer tok = load_tokenizer(a.model);
  const std::string text = tok.decode(ids, a.skip_special) + "\n";
  std::fwrite(text.data(), 1, text.size(), stdout);
  return 0;
}

}  // namespace

Runner add_tokenize_command(CLI::App& app) {
  auto a = std::make_shared<TokenizeArgs>();
  CLI::App* c = app.add_subcommand("tokenize", "Text to token ids (the text, -f FILE, or standard input)");
  c->add_option("-m,--model", a->model, "GGUF file, HuggingFace model folder or tokenizer.json");
  c->add_option("-f,--file", a->file, "Read the text from this file");
  c->add_option("text", a->text, "The text (else -f FILE, else standard input)");
  auto* ids = c->add_flag("--ids", a->ids, "Print the ids on one line, separated by spaces (the default)");
  c->add_flag("--pieces", a->pieces, "Print one line per token: id 'piece'")->excludes(ids);
  c->add_flag("--no-bos", a->no_bos, "Add no special tokens (no BOS; no [CLS] or [SEP] for WordPiece)");
  c->add_flag("--parse-special", a->parse_special, "Text of special tokens (e.g. <|im_start|>) becomes that token");
  return [a] { return tokenize(*a); };
}

Runner add_detokenize_command(CLI::App& app) {
  auto a = std::make_shared<DetokenizeArgs>();
  CLI::App* c = app.add_subcommand("detokenize", "Token ids to text");
  c->add_option("-m,--model", a->model, "GGUF file, HuggingFace model folder or tokenizer.json");
  c->add_option("ids", a->ids, "Token ids (separate arguments, or one separated by spaces or commas)")->required();
  c->add_flag("--skip-special", a->skip_special, "Leave out control tokens such as BOS");
  return [a] { return detokenize(*a); };
}

}  // namespace ternion::cli
