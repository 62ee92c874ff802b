// Tokens and syntax tree of the Jinja interpreter, and the lexer and parser that make them.
//
// The lexer reproduces jinja2's whitespace handling as HF configures it (trim_blocks, lstrip_blocks, `-`/`+` markers,
// one trailing newline of the source dropped, \r\n and \r read as \n); the parser follows jinja2's grammar and
// operator precedence. Both throw Error naming the line of the construct they cannot handle.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "jinja_value.h"

namespace ternion::jinja {

enum class Tok : uint8_t { Data, VarBegin, VarEnd, BlockBegin, BlockEnd, Name, String, Int, Float, Op, Eof };

struct Token {
  Tok type = Tok::Eof;
  std::string text;  // Data text, name, decoded string literal, operator, or number spelling
  int line = 1;
};

std::vector<Token> lex(std::string_view source);

struct Expr;
using ExprPtr = std::unique_ptr<Expr>;

enum class ExprKind : uint8_t {
  Literal,  // value
  Name,     // name
  List,     // args (a tuple when is_tuple)
  Dict,     // args: key, value, key, value, ...
  Attr,     // a.name
  Item,     // a[b]
  Slice,    // a[args[0]:args[1]:args[2]], null parts omitted
  Call,     // a(args, kwargs)
  Filter,   // a|name(args, kwargs); a is null inside {% filter %}
  Test,     // a is [not] name(args)
  Unary,    // name in {"-", "+", "not"} applied to a
  Binary,   // a name b for + - * / // % ** ~ and or
  Compare,  // a ops[0] args[0] ops[1] args[1] ... (== != < <= > >= in "not in")
  Cond,     // a if b else c (c null: undefined)
};

struct Expr {
  ExprKind kind = ExprKind::Literal;
  int line = 0;
  std::string name;
  bool negated = false;   // Test: `is not`
  bool is_tuple = false;  // List: written as a tuple
  Value value;
  ExprPtr a, b, c;
  std::vector<ExprPtr> args;
  std::vector<std::pair<std::string, ExprPtr>> kwargs;
  std::vector<std::string> ops;
};

struct Stmt;
using StmtPtr = std::unique_ptr<Stmt>;
using Body = std::vector<StmtPtr>;

enum class StmtKind : uint8_t { Text, Output, If, For, Set, SetBlock, Macro, FilterBlock, Break, Continue };

struct MacroParam {
  std::string name;
  ExprPtr default_value;  // null: undefined when not passed
};

struct Stmt {
  StmtKind kind = StmtKind::Text;
  int line = 0;
  std::string text;                                // Text
  ExprPtr expr;                                    // Output, For (iterable), Set (value), FilterBlock (filters)
  ExprPtr cond;                                    // For: the `if` filter
  std::vector<std::pair<ExprPtr, Body>> branches;  // If: (condition, body) for if and each elif
  Body body, else_body;                            // For/If/Macro/SetBlock/FilterBlock
  std::vector<std::string> targets;                // For/Set: the names bound (Set: one, or namespace + attribute)
  std::string attr;                                // Set/SetBlock: `ns.attr` target when not empty
  std::string name;                                // Macro name
  std::vector<MacroParam> params;                  // Macro
};

struct Template {
  Body body;
};

// Parses a whole template; Error "chat template line N: ..." on a syntax error or an unsupported tag.
std::unique_ptr<Template> parse_template(std::string_view source);

}  // namespace ternion::jinja
