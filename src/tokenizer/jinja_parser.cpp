// The Jinja parser: jinja2's grammar and precedence (or < and < not < comparisons < + - < ~ < * / // % < ** <
// unary minus < filters, tests and calls < primary) over the lexer's tokens.
#include <charconv>

#include "jinja_ast.h"
#include "ternion/core/error.h"

namespace ternion::jinja {

namespace {

constexpr int kMaxNesting = 100;  // expression and block nesting; deeper input would risk the stack

class Parser {
 public:
  explicit Parser(std::vector<Token> tokens) : t_(std::move(tokens)) {}

  std::unique_ptr<Template> run() {
    auto tmpl = std::make_unique<Template>();
    std::string end;
    tmpl->body = parse_body({}, end);
    return tmpl;
  }

 private:
  [[noreturn]] void fail(const std::string& what) const {
    throw Error("chat template line " + std::to_string(cur().line) + ": " + what);
  }
  const Token& cur() const { return t_[pos_]; }
  const Token& peek(size_t ahead = 1) const { return t_[std::min(pos_ + ahead, t_.size() - 1)]; }
  void next() {
    if (pos_ + 1 < t_.size()) ++pos_;
  }
  bool is_op(const char* op) const { return cur().type == Tok::Op && cur().text == op; }
  bool is_name(const char* name) const { return cur().type == Tok::Name && cur().text == name; }
  bool skip_op(const char* op) {
    if (!is_op(op)) return false;
    next();
    return true;
  }
  bool skip_name(const char* name) {
    if (!is_name(name)) return false;
    next();
    return true;
  }
  void expect_op(const char* op) {
    if (!skip_op(op)) fail(std::string("expected '") + op + "', got " + describe(cur()));
  }
  std::string expect_name() {
    if (cur().type != Tok::Name) fail("expected a name, got " + describe(cur()));
    std::string s = cur().text;
    next();
    return s;
  }
  void expect_block_end() {
    if (cur().type != Tok::BlockEnd) fail("expected end of tag '%}', got " + describe(cur()));
    next();
  }
  static std::string describe(const Token& t) {
    switch (t.type) {
      case Tok::Eof:
        return "end of template";
      case Tok::BlockEnd:
        return "'%}'";
      case Tok::VarEnd:
        return "'}}'";
      case Tok::Data:
        return "text";
      case Tok::String:
        return "a string";
      default:
        return "'" + t.text + "'";
    }
  }

  struct DepthGuard {
    explicit DepthGuard(Parser& p) : p_(p) {
      if (++p_.depth_ > kMaxNesting) p_.fail("nesting deeper than " + std::to_string(kMaxNesting) + " levels");
    }
    ~DepthGuard() { --p_.depth_; }
    DepthGuard(const DepthGuard&) = delete;
    DepthGuard& operator=(const DepthGuard&) = delete;
    Parser& p_;
  };

  ExprPtr node(ExprKind kind) {
    auto e = std::make_unique<Expr>();
    e->kind = kind;
    e->line = cur().line;
    return e;
  }

  // ---- statements

  // Parses until `{% name %}` for a name in `ends` (left unconsumed, its name in `end`), or the end of the template.
  Body parse_body(const std::vector<std::string>& ends, std::string& end) {
    DepthGuard guard(*this);
    Body body;
    while (true) {
      const Token& t = cur();
      if (t.type == Tok::Eof) {
        if (!ends.empty()) fail("unexpected end of template, expected {% " + ends.front() + " %}");
        return body;
      }
      if (t.type == Tok::Data) {
        auto s = std::make_unique<Stmt>();
        s->kind = StmtKind::Text;
        s->line = t.line;
        s->text = t.text;
        body.push_back(std::move(s));
        next();
      } else if (t.type == Tok::VarBegin) {
        next();
        auto s = std::make_unique<Stmt>();
        s->kind = StmtKind::Output;
        s->line = t.line;
        s->expr = parse_tuple(true);
        if (cur().type != Tok::VarEnd) fail("expected '}}', got " + describe(cur()));
        next();
        body.push_back(std::move(s));
      } else if (t.type == Tok::BlockBegin) {
        next();
        if (cur().type == Tok::Name) {
          for (const auto& e : ends) {
            if (cur().text == e) {
              end = e;
              next();
              return body;
            }
          }
        }
        body.push_back(parse_statement());
      } else {
        fail("unexpected " + describe(t));
      }
    }
  }

  // Body of a block ending with `{% endtag %}` (consumed with its `%}`).
  Body parse_block(const std::string& end_tag) {
    std::string end;
    Body b = parse_body({end_tag}, end);
    expect_block_end();
    return b;
  }

  StmtPtr parse_statement() {
    const int line = cur().line;
    if (cur().type != Tok::Name) fail("expected a tag name, got " + describe(cur()));
    const std::string tag = cur().text;
    next();
    auto s = std::make_unique<Stmt>();
    s->line = line;
    if (tag == "if") {
      s->kind = StmtKind::If;
      ExprPtr c = parse_tuple(false);
      while (true) {
        expect_block_end();
        std::string end;
        Body b = parse_body({"elif", "else", "endif"}, end);
        s->branches.emplace_back(std::move(c), std::move(b));
        if (end == "elif") {
          c = parse_tuple(false);
          continue;
        }
        if (end == "else") {
          expect_block_end();
          s->else_body = parse_block("endif");
        } else {
          expect_block_end();
        }
        break;
      }
    } else if (tag == "for") {
      s->kind = StmtKind::For;
      s->targets = parse_targets();
      if (!skip_name("in")) fail("expected 'in' in {% for %}");
      s->expr = parse_tuple(false, false);
      if (skip_name("if")) s->cond = parse_tuple(false);
      if (is_name("recursive")) fail("recursive for loops are not supported");
      expect_block_end();
      std::string end;
      s->body = parse_body({"else", "endfor"}, end);
      expect_block_end();
      if (end == "else") s->else_body = parse_block("endfor");
    } else if (tag == "set") {
      s->targets.push_back(expect_name());
      if (skip_op(".")) {
        s->attr = expect_name();
      } else {
        while (skip_op(",")) s->targets.push_back(expect_name());
      }
      if (skip_op("=")) {
        s->kind = StmtKind::Set;
        s->expr = parse_tuple(true);
        expect_block_end();
      } else {
        if (s->targets.size() != 1) fail("a block {% set %} takes one name");
        s->kind = StmtKind::SetBlock;
        if (is_op("|")) s->expr = parse_filters(nullptr);
        expect_block_end();
        s->body = parse_block("endset");
      }
    } else if (tag == "macro") {
      s->kind = StmtKind::Macro;
      s->name = expect_name();
      expect_op("(");
      while (!is_op(")")) {
        if (!s->params.empty()) expect_op(",");
        if (is_op(")")) break;
        MacroParam p;
        p.name = expect_name();
        if (skip_op("=")) p.default_value = parse_expression(true);
        s->params.push_back(std::move(p));
      }
      expect_op(")");
      expect_block_end();
      s->body = parse_block("endmacro");
    } else if (tag == "filter") {
      s->kind = StmtKind::FilterBlock;
      s->expr = parse_filters(nullptr);
      expect_block_end();
      s->body = parse_block("endfilter");
    } else if (tag == "break" || tag == "continue") {
      s->kind = tag == "break" ? StmtKind::Break : StmtKind::Continue;
      expect_block_end();
    } else {
      --pos_;
      fail("unsupported tag {% " + tag + " %}");
    }
    return s;
  }

  std::vector<std::string> parse_targets() {
    std::vector<std::string> names;
    const bool paren = skip_op("(");
    do {
      if (paren && is_op(")")) break;
      names.push_back(expect_name());
    } while (skip_op(","));
    if (paren) expect_op(")");
    return names;
  }

  // ---- expressions

  // A comma-separated list becomes a tuple (a List node); a single expression stays itself.
  ExprPtr parse_tuple(bool with_condexpr, bool explicit_parens = false) {
    auto tuple = node(ExprKind::List);
    tuple->is_tuple = true;
    bool comma = false;
    while (true) {
      if (!tuple->args.empty() && !skip_op(",")) break;
      if (!tuple->args.empty()) comma = true;
      if (cur().type == Tok::BlockEnd || cur().type == Tok::VarEnd || is_op(")") ||
          (!tuple->args.empty() && is_name("if"))) {
        break;
      }
      tuple->args.push_back(parse_expression(with_condexpr));
    }
    if (tuple->args.empty()) {
      if (!explicit_parens) fail("expected an expression, got " + describe(cur()));
      return tuple;
    }
    if (tuple->args.size() == 1 && !comma) return std::move(tuple->args[0]);
    return tuple;
  }

  ExprPtr parse_expression(bool with_condexpr) {
    DepthGuard guard(*this);
    ExprPtr e = parse_or();
    if (!with_condexpr) return e;
    while (is_name("if")) {
      auto c = node(ExprKind::Cond);
      next();
      c->b = parse_or();
      if (skip_name("else")) c->c = parse_expression(true);
      c->a = std::move(e);
      e = std::move(c);
    }
    return e;
  }

  ExprPtr binary(const std::string& op, ExprPtr l, ExprPtr r, int line) {
    auto b = std::make_unique<Expr>();
    b->kind = ExprKind::Binary;
    b->line = line;
    b->name = op;
    b->a = std::move(l);
    b->b = std::move(r);
    return b;
  }

  ExprPtr parse_or() {
    ExprPtr e = parse_and();
    while (is_name("or")) {
      const int line = cur().line;
      next();
      e = binary("or", std::move(e), parse_and(), line);
    }
    return e;
  }

  ExprPtr parse_and() {
    ExprPtr e = parse_not();
    while (is_name("and")) {
      const int line = cur().line;
      next();
      e = binary("and", std::move(e), parse_not(), line);
    }
    return e;
  }

  ExprPtr parse_not() {
    if (is_name("not")) {
      DepthGuard guard(*this);
      auto u = node(ExprKind::Unary);
      next();
      u->name = "not";
      u->a = parse_not();
      return u;
    }
    return parse_compare();
  }

  ExprPtr parse_compare() {
    ExprPtr first = parse_math1();
    ExprPtr cmp;
    while (true) {
      std::string op;
      if (cur().type == Tok::Op && (cur().text == "==" || cur().text == "!=" || cur().text == "<" ||
                                    cur().text == "<=" || cur().text == ">" || cur().text == ">=")) {
        op = cur().text;
        next();
      } else if (is_name("in")) {
        op = "in";
        next();
      } else if (is_name("not") && peek().type == Tok::Name && peek().text == "in") {
        op = "not in";
        next();
        next();
      } else {
        break;
      }
      if (!cmp) {
        cmp = node(ExprKind::Compare);
        cmp->a = std::move(first);
      }
      cmp->ops.push_back(op);
      cmp->args.push_back(parse_math1());
    }
    return cmp ? std::move(cmp) : std::move(first);
  }

  ExprPtr parse_math1() {
    ExprPtr e = parse_concat();
    while (is_op("+") || is_op("-")) {
      const std::string op = cur().text;
      const int line = cur().line;
      next();
      e = binary(op, std::move(e), parse_concat(), line);
    }
    return e;
  }

  ExprPtr parse_concat() {
    ExprPtr e = parse_math2();
    while (is_op("~")) {
      const int line = cur().line;
      next();
      e = binary("~", std::move(e), parse_math2(), line);
    }
    return e;
  }

  ExprPtr parse_math2() {
    ExprPtr e = parse_pow();
    while (is_op("*") || is_op("/") || is_op("//") || is_op("%")) {
      const std::string op = cur().text;
      const int line = cur().line;
      next();
      e = binary(op, std::move(e), parse_pow(), line);
    }
    return e;
  }

  ExprPtr parse_pow() {
    ExprPtr e = parse_unary(true);
    while (is_op("**")) {
      const int line = cur().line;
      next();
      e = binary("**", std::move(e), parse_unary(true), line);
    }
    return e;
  }

  ExprPtr parse_unary(bool with_filter) {
    DepthGuard guard(*this);
    ExprPtr e;
    if (is_op("-") || is_op("+")) {
      e = node(ExprKind::Unary);
      e->name = cur().text;
      next();
      e->a = parse_unary(false);
    } else {
      e = parse_primary();
    }
    e = parse_postfix(std::move(e));
    if (with_filter) e = parse_filter_expr(std::move(e));
    return e;
  }

  ExprPtr literal(Value v) {
    auto e = node(ExprKind::Literal);
    e->value = std::move(v);
    next();
    return e;
  }

  // The current Int token (Python ints are unbounded; ours are 64-bit, and say so).
  ExprPtr int_literal() {
    const std::string& text = cur().text;
    int64_t v = 0;
    const auto r = std::from_chars(text.data(), text.data() + text.size(), v);
    if (r.ec != std::errc() || r.ptr != text.data() + text.size()) {
      fail("integer literal " + text.substr(0, 40) + " out of range");
    }
    return literal(Value::integer(v));
  }

  ExprPtr parse_primary() {
    const Token& t = cur();
    switch (t.type) {
      case Tok::Name:
        if (t.text == "true" || t.text == "True") return literal(Value::boolean(true));
        if (t.text == "false" || t.text == "False") return literal(Value::boolean(false));
        if (t.text == "none" || t.text == "None") return literal(Value::none());
        {
          auto e = node(ExprKind::Name);
          e->name = t.text;
          next();
          return e;
        }
      case Tok::String: {
        std::string s = t.text;
        auto e = literal(Value());
        while (cur().type == Tok::String) {  // adjacent literals concatenate
          s += cur().text;
          next();
        }
        e->value = Value::string(std::move(s));
        return e;
      }
      case Tok::Int:
        return int_literal();
      case Tok::Float:
        return literal(Value::number(std::strtod(t.text.c_str(), nullptr)));
      case Tok::Op:
        if (t.text == "(") {
          next();
          ExprPtr e = parse_tuple(true, true);
          expect_op(")");
          return e;
        }
        if (t.text == "[") {
          auto e = node(ExprKind::List);
          next();
          while (!is_op("]")) {
            if (!e->args.empty()) expect_op(",");
            if (is_op("]")) break;
            e->args.push_back(parse_expression(true));
          }
          expect_op("]");
          return e;
        }
        if (t.text == "{") {
          auto e = node(ExprKind::Dict);
          next();
          while (!is_op("}")) {
            if (!e->args.empty()) expect_op(",");
            if (is_op("}")) break;
            e->args.push_back(parse_expression(true));
            expect_op(":");
            e->args.push_back(parse_expression(true));
          }
          expect_op("}");
          return e;
        }
        break;
      default:
        break;
    }
    fail("unexpected " + describe(t) + " in an expression");
  }

  ExprPtr parse_postfix(ExprPtr e) {
    while (true) {
      if (is_op(".")) {
        next();
        if (cur().type == Tok::Int) {
          auto item = node(ExprKind::Item);
          item->a = std::move(e);
          item->b = int_literal();
          e = std::move(item);
        } else {
          auto attr = node(ExprKind::Attr);
          attr->name = expect_name();
          attr->a = std::move(e);
          e = std::move(attr);
        }
      } else if (is_op("[")) {
        e = parse_subscript(std::move(e));
      } else if (is_op("(")) {
        e = parse_call(std::move(e));
      } else {
        return e;
      }
    }
  }

  ExprPtr parse_subscript(ExprPtr target) {
    auto e = node(ExprKind::Item);
    next();
    ExprPtr parts[3];
    int part = 0;
    bool slice = false;
    while (!is_op("]")) {
      if (skip_op(":")) {
        slice = true;
        if (++part > 2) fail("too many ':' in a slice");
        continue;
      }
      if (parts[part]) fail("expected ']' or ':' in a subscript");
      parts[part] = parse_expression(true);
      if (is_op(",")) fail("tuple subscripts are not supported");
    }
    next();
    e->a = std::move(target);
    if (slice) {
      e->kind = ExprKind::Slice;
      for (auto& p : parts) e->args.push_back(std::move(p));
    } else {
      if (!parts[0]) fail("empty subscript");
      e->b = std::move(parts[0]);
    }
    return e;
  }

  void parse_call_args(Expr& e) {
    expect_op("(");
    while (!is_op(")")) {
      if (!e.args.empty() || !e.kwargs.empty()) expect_op(",");
      if (is_op(")")) break;
      if (is_op("*") || is_op("**")) fail("*args and **kwargs in calls are not supported");
      if (cur().type == Tok::Name && peek().type == Tok::Op && peek().text == "=") {
        std::string key = cur().text;
        next();
        next();
        e.kwargs.emplace_back(std::move(key), parse_expression(true));
      } else {
        if (!e.kwargs.empty()) fail("positional argument after a keyword argument");
        e.args.push_back(parse_expression(true));
      }
    }
    expect_op(")");
  }

  ExprPtr parse_call(ExprPtr callee) {
    auto e = node(ExprKind::Call);
    e->a = std::move(callee);
    parse_call_args(*e);
    return e;
  }

  std::string dotted_name() {
    std::string name = expect_name();
    while (skip_op(".")) name += "." + expect_name();
    return name;
  }

  // `|f(args)|g ...` applied to `input` (null for {% filter %} and block set, where the body is the input).
  ExprPtr parse_filters(ExprPtr input) {
    bool first = true;
    while (is_op("|") || (first && !input)) {
      if (is_op("|")) next();
      first = false;
      auto f = node(ExprKind::Filter);
      f->name = dotted_name();
      if (is_op("(")) parse_call_args(*f);
      f->a = std::move(input);
      input = std::move(f);
    }
    return input;
  }

  ExprPtr parse_filter_expr(ExprPtr e) {
    while (true) {
      if (is_op("|")) {
        e = parse_filters(std::move(e));
      } else if (is_name("is")) {
        auto t = node(ExprKind::Test);
        next();
        t->negated = skip_name("not");
        t->name = dotted_name();
        if (is_op("(")) {
          parse_call_args(*t);
        } else if ((cur().type == Tok::Name || cur().type == Tok::String || cur().type == Tok::Int ||
                    cur().type == Tok::Float || is_op("(") || is_op("[") || is_op("{")) &&
                   !is_name("else") && !is_name("or") && !is_name("and")) {
          if (is_name("is")) fail("tests cannot be chained with 'is'");
          t->args.push_back(parse_postfix(parse_primary()));
        }
        t->a = std::move(e);
        e = std::move(t);
      } else if (is_op("(")) {
        e = parse_call(std::move(e));
      } else {
        return e;
      }
    }
  }

  std::vector<Token> t_;
  size_t pos_ = 0;
  int depth_ = 0;
};

}  // namespace

std::unique_ptr<Template> parse_template(std::string_view source) { return Parser(lex(source)).run(); }

}  // namespace ternion::jinja
