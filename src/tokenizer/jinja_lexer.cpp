// The Jinja lexer: splits a template into text and tag tokens exactly as jinja2's lexer does with
// trim_blocks=True and lstrip_blocks=True, and tokenizes the expressions inside tags.
#include <cstring>

#include "jinja_ast.h"
#include "ternion/core/error.h"

namespace ternion::jinja {

namespace {

[[noreturn]] void fail(int line, const std::string& what) {
  throw Error("chat template line " + std::to_string(line) + ": " + what);
}

// Python's \s for ASCII, what jinja2's regexes and str.rstrip() treat as whitespace.
bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'; }
bool is_name_start(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }
bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_name_char(char c) { return is_name_start(c) || is_digit(c); }
int count_newlines(std::string_view s, size_t from, size_t to) {
  int n = 0;
  for (size_t k = from; k < to; ++k) n += s[k] == '\n';
  return n;
}

int hex_value(char c) {
  if (is_digit(c)) return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Decodes a string literal body with Python's unicode-escape rules (what jinja2 does).
std::string decode_string(std::string_view body, int line) {
  std::string out;
  for (size_t k = 0; k < body.size(); ++k) {
    const char c = body[k];
    if (c != '\\' || k + 1 == body.size()) {
      out += c;
      continue;
    }
    const char e = body[++k];
    switch (e) {
      case '\n':
        break;
      case '\\':
        out += '\\';
        break;
      case '\'':
        out += '\'';
        break;
      case '"':
        out += '"';
        break;
      case 'a':
        out += '\a';
        break;
      case 'b':
        out += '\b';
        break;
      case 'f':
        out += '\f';
        break;
      case 'n':
        out += '\n';
        break;
      case 'r':
        out += '\r';
        break;
      case 't':
        out += '\t';
        break;
      case 'v':
        out += '\v';
        break;
      case 'x':
      case 'u':
      case 'U': {
        const size_t n = e == 'x' ? 2 : e == 'u' ? 4 : 8;
        uint32_t cp = 0;
        for (size_t d = 0; d < n; ++d) {
          const int h = k + 1 + d < body.size() ? hex_value(body[k + 1 + d]) : -1;
          if (h < 0) fail(line, std::string("truncated \\") + e + " escape in a string literal");
          cp = cp * 16 + static_cast<uint32_t>(h);
        }
        if (cp > 0x10FFFF) fail(line, "\\U escape out of range in a string literal");
        k += n;
        append_utf8(out, cp);
        break;
      }
      default:
        if (e >= '0' && e <= '7') {
          uint32_t cp = static_cast<uint32_t>(e - '0');
          for (int d = 0; d < 2 && k + 1 < body.size() && body[k + 1] >= '0' && body[k + 1] <= '7'; ++d) {
            cp = cp * 8 + static_cast<uint32_t>(body[++k] - '0');
          }
          append_utf8(out, cp);
        } else if (e == 'N') {
          fail(line, "\\N{...} escapes are not supported");
        } else {  // unknown escapes stay as written
          out += '\\';
          out += e;
        }
    }
  }
  return out;
}

class Lexer {
 public:
  explicit Lexer(std::string src) : src_(std::move(src)) {}

  std::vector<Token> run() {
    size_t pos = 0;
    bool line_starting = true;
    while (pos < src_.size()) {
      const size_t start = find_tag(pos);
      if (start == std::string::npos) {
        emit(Tok::Data, src_.substr(pos));
        break;
      }
      std::string text = src_.substr(pos, start - pos);
      const char kind = src_[start + 1];
      size_t p = start + 2;
      const char sign = p < src_.size() && (src_[p] == '-' || src_[p] == '+') ? src_[p] : '\0';
      if (sign) ++p;
      size_t raw_end = 0;
      const bool raw = kind == '%' && match_raw_begin(p, raw_end);
      strip_text(text, sign, kind != '{', line_starting);
      emit(Tok::Data, text);
      line_ += count_newlines(src_, pos, start);
      if (raw) {
        line_starting = src_[raw_end - 1] == '\n';
        line_ += count_newlines(src_, start, raw_end);
        pos = lex_raw(raw_end, line_starting);
      } else if (kind == '#') {
        pos = lex_comment(p, line_starting);
      } else {
        pos = lex_tag(p, kind == '%', line_starting);
      }
    }
    tokens_.push_back(Token{Tok::Eof, "", line_});
    return std::move(tokens_);
  }

 private:
  size_t find_tag(size_t from) const {
    for (size_t k = src_.find('{', from); k != std::string::npos; k = src_.find('{', k + 1)) {
      if (k + 1 < src_.size() && (src_[k + 1] == '{' || src_[k + 1] == '%' || src_[k + 1] == '#')) return k;
    }
    return std::string::npos;
  }

  // `{%[-+]? raw [-]?%}` starting after the sign; sets `end` past it (and past the whitespace a `-%}` eats).
  bool match_raw_begin(size_t p, size_t& end) const {
    while (p < src_.size() && is_space(src_[p])) ++p;
    if (src_.compare(p, 3, "raw") != 0) return false;
    p += 3;
    while (p < src_.size() && is_space(src_[p])) ++p;
    if (src_.compare(p, 3, "-%}") == 0) {
      p += 3;
      while (p < src_.size() && is_space(src_[p])) ++p;
    } else if (src_.compare(p, 2, "%}") == 0) {
      p += 2;
    } else {
      return false;
    }
    end = p;
    return true;
  }

  // Whitespace control on the text before a tag: `-` strips all trailing whitespace; otherwise lstrip_blocks
  // removes the spaces and tabs that open the tag's line (not for `{{` tags, not with `+`).
  static void strip_text(std::string& text, char sign, bool lstrip_allowed, bool line_starting) {
    if (sign == '-') {
      size_t n = text.size();
      while (n > 0 && is_space(text[n - 1])) --n;
      text.resize(n);
    } else if (sign != '+' && lstrip_allowed) {
      const size_t nl = text.rfind('\n');
      const size_t l_pos = nl == std::string::npos ? 0 : nl + 1;
      if ((l_pos > 0 || line_starting) && l_pos < text.size()) {
        bool all_ws = true;
        for (size_t k = l_pos; k < text.size(); ++k) all_ws = all_ws && is_space(text[k]);
        if (all_ws) text.resize(l_pos);
      }
    }
  }

  // Past the end marker of a block or comment: `+` keeps the newline, `-` eats all whitespace, else trim_blocks
  // eats one newline.
  size_t after_end(size_t p, char mark, bool& line_starting) {
    const size_t begin = p;
    if (mark == '-') {
      while (p < src_.size() && is_space(src_[p])) ++p;
    } else if (mark != '+' && p < src_.size() && src_[p] == '\n') {
      ++p;
    }
    line_ += count_newlines(src_, begin, p);
    line_starting = p > 0 && src_[p - 1] == '\n';
    return p;
  }

  size_t lex_comment(size_t p, bool& line_starting) {
    const size_t close = src_.find("#}", p);
    if (close == std::string::npos) fail(line_, "missing end of comment tag");
    char mark = '\0';
    if (close > p && (src_[close - 1] == '-' || src_[close - 1] == '+')) mark = src_[close - 1];
    line_ += count_newlines(src_, p, close);
    return after_end(close + 2, mark, line_starting);
  }

  size_t lex_raw(size_t p, bool& line_starting) {
    for (size_t k = src_.find("{%", p); k != std::string::npos; k = src_.find("{%", k + 1)) {
      size_t q = k + 2;
      const char sign = q < src_.size() && (src_[q] == '-' || src_[q] == '+') ? src_[q] : '\0';
      if (sign) ++q;
      while (q < src_.size() && is_space(src_[q])) ++q;
      if (src_.compare(q, 6, "endraw") != 0) continue;
      q += 6;
      while (q < src_.size() && is_space(src_[q])) ++q;
      char mark = '\0';
      if (q < src_.size() && (src_[q] == '-' || src_[q] == '+')) mark = src_[q++];
      if (src_.compare(q, 2, "%}") != 0) continue;
      std::string text = src_.substr(p, k - p);
      strip_text(text, sign, true, line_starting);
      emit(Tok::Data, text);
      line_ += count_newlines(src_, p, q);
      return after_end(q + 2, mark, line_starting);
    }
    fail(line_, "missing end of raw directive");
  }

  // Tokens of an expression up to the closing `}}` or `%}` (ignored while brackets are open, as jinja2 does).
  size_t lex_tag(size_t p, bool block, bool& line_starting) {
    emit(block ? Tok::BlockBegin : Tok::VarBegin, "");
    const char close = block ? '%' : '}';
    int depth = 0;
    while (true) {
      while (p < src_.size() && is_space(src_[p])) {
        line_ += src_[p] == '\n';
        ++p;
      }
      if (p >= src_.size()) fail(line_, block ? "unexpected end of template inside a {% tag" : "missing }}");
      const char c = src_[p];
      if (depth == 0) {
        char mark = '\0';
        size_t q = p;
        if ((c == '-' || (c == '+' && block)) && p + 2 < src_.size() && src_[p + 1] == close && src_[p + 2] == '}') {
          mark = c;
          q = p + 1;
        }
        if (q + 1 < src_.size() && src_[q] == close && src_[q + 1] == '}') {
          emit(block ? Tok::BlockEnd : Tok::VarEnd, "");
          if (!block && mark != '-') {
            line_starting = false;
            return q + 2;
          }
          return after_end(q + 2, mark, line_starting);
        }
      }
      if (is_name_start(c)) {
        size_t q = p;
        while (q < src_.size() && is_name_char(src_[q])) ++q;
        emit(Tok::Name, src_.substr(p, q - p));
        p = q;
      } else if (is_digit(c)) {
        p = lex_number(p);
      } else if (c == '\'' || c == '"') {
        size_t q = p + 1;
        while (q < src_.size() && src_[q] != c) q += src_[q] == '\\' ? 2 : 1;
        if (q >= src_.size()) fail(line_, "unterminated string literal");
        emit(Tok::String, decode_string(std::string_view(src_).substr(p + 1, q - p - 1), line_));
        line_ += count_newlines(src_, p, q);
        p = q + 1;
      } else {
        static const char* const kOps[] = {"//", "**", "==", "!=", "<=", ">=", "+", "-", "/", "*", "%", "~", "[",
                                           "]",  "(",  ")",  "{",  "}",  "<",  ">", "=", ".", ":", "|", ",", ";"};
        const char* op = nullptr;
        for (const char* o : kOps) {
          if (src_.compare(p, std::strlen(o), o) == 0) {
            op = o;
            break;
          }
        }
        if (op == nullptr) fail(line_, std::string("unexpected character '") + c + "' in a tag");
        if (*op == '(' || *op == '[' || *op == '{') ++depth;
        if ((*op == ')' || *op == ']' || *op == '}') && --depth < 0)
          fail(line_, std::string("unexpected '") + op + "'");
        emit(Tok::Op, op);
        p += std::strlen(op);
      }
    }
  }

  size_t lex_number(size_t p) {
    const bool after_dot = !tokens_.empty() && tokens_.back().type == Tok::Op && tokens_.back().text == ".";
    size_t q = p;
    auto digits = [&] {
      while (q < src_.size() &&
             (is_digit(src_[q]) || (src_[q] == '_' && q + 1 < src_.size() && is_digit(src_[q + 1])))) {
        ++q;
      }
    };
    digits();
    bool is_float = false;
    if (!after_dot && q + 1 < src_.size() && src_[q] == '.' && is_digit(src_[q + 1])) {
      ++q;
      digits();
      is_float = true;
    }
    if (!after_dot && q < src_.size() && (src_[q] == 'e' || src_[q] == 'E')) {
      size_t r = q + 1;
      if (r < src_.size() && (src_[r] == '+' || src_[r] == '-')) ++r;
      if (r < src_.size() && is_digit(src_[r])) {
        q = r;
        digits();
        is_float = true;
      }
    }
    std::string text;
    for (size_t k = p; k < q; ++k) {
      if (src_[k] != '_') text += src_[k];
    }
    emit(is_float ? Tok::Float : Tok::Int, text);
    return q;
  }

  void emit(Tok type, std::string text) {
    if (type == Tok::Data && text.empty()) return;
    tokens_.push_back(Token{type, std::move(text), line_});
  }

  std::string src_;
  std::vector<Token> tokens_;
  int line_ = 1;
};

}  // namespace

std::vector<Token> lex(std::string_view source) {
  // jinja2 reads \r\n and \r as \n and drops one trailing newline (keep_trailing_newline=False).
  std::string src;
  src.reserve(source.size());
  for (size_t k = 0; k < source.size(); ++k) {
    if (source[k] == '\r') {
      if (k + 1 < source.size() && source[k + 1] == '\n') ++k;
      src += '\n';
    } else {
      src += source[k];
    }
  }
  if (!src.empty() && src.back() == '\n') src.pop_back();
  return Lexer(std::move(src)).run();
}

}  // namespace ternion::jinja
