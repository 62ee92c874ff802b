// The value model of the Jinja interpreter: Python's values as jinja2 sees them (None, bool, int, float, str, list,
// dict, jinja2's Undefined, namespace objects and callables), with Python's truthiness, equality, str() and repr().
//
// Lists and dicts are immutable once built (HF renders in an ImmutableSandboxedEnvironment, so list.append and the
// like are refused there too); only namespace attributes can change. Every recursive walk over a value is charged to
// a Budget, so a hostile template that builds a huge shared structure fails with an Error instead of hanging.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace ternion::jinja {

// Work and size limits shared by one rendering; exceeding one throws Error.
struct Budget {
  uint64_t steps = 0;
  uint64_t max_steps = 20'000'000;  // evaluation steps (expressions, statements, value nodes visited)
  size_t max_string = 16u << 20;    // bytes in any one string, the output included
  size_t max_items = 1u << 20;      // elements in any one list or dict
  void charge(uint64_t n = 1);
  void check_size(size_t bytes) const;  // for a string about to be built
};

constexpr uint32_t kMaxValueDepth = 200;  // nesting of lists/dicts; deeper would risk the stack when walked

enum class Kind : uint8_t { Undefined, None, Bool, Int, Float, String, List, Dict, Callable };

struct Value;
struct ListObj;
struct DictObj;
class Callable;

struct Value {
  Kind kind = Kind::Undefined;
  bool b = false;
  bool markup = false;  // String: a markupsafe.Markup (from |safe or |escape); `+` with a plain str escapes that str
  int64_t i = 0;
  double f = 0;
  std::string s;  // String: the text (UTF-8); Undefined: the name that was looked up, for messages
  std::shared_ptr<const ListObj> list;
  std::shared_ptr<DictObj> dict;  // mutable only when dict->is_namespace
  std::shared_ptr<Callable> fn;

  static Value undefined(std::string name = {});
  static Value none();
  static Value boolean(bool v);
  static Value integer(int64_t v);
  static Value number(double v);
  static Value string(std::string v);
  static Value make_list(std::vector<Value> items, bool is_tuple = false);
  static Value make_dict(std::vector<std::pair<std::string, Value>> items, bool is_namespace = false);

  bool is_undefined() const { return kind == Kind::Undefined; }
  bool is_none() const { return kind == Kind::None; }
  bool is_string() const { return kind == Kind::String; }
  bool is_number() const { return kind == Kind::Int || kind == Kind::Float || kind == Kind::Bool; }
  bool is_list() const { return kind == Kind::List; }
  bool is_dict() const { return kind == Kind::Dict; }
  bool is_namespace() const;
  uint32_t depth() const;  // 0 for scalars
};

struct ListObj {
  std::vector<Value> items;
  uint32_t depth = 1;
  bool is_tuple = false;  // a Python tuple: prints as (a, b), never equals a list
};

// A Python dict with string keys, in insertion order (lookups are linear: template dicts are small).
struct DictObj {
  std::vector<std::pair<std::string, Value>> items;
  uint32_t depth = 1;
  bool is_namespace = false;
  const Value* find(std::string_view key) const;
  void set(const std::string& key, Value v);
};

// markupsafe's escape(): & < > " ' as HTML entities.
std::string escape_html(const std::string& s);

// Python's type name of a value, as error messages print it ("str", "list", "dict", "undefined", ...).
const char* type_name(const Value& v);

bool truthy(const Value& v);
// Python str(v) (jinja2 prints undefined as ""), and repr(v) as str() of containers uses for their items.
std::string to_str(const Value& v, Budget& budget);
std::string repr(const Value& v, Budget& budget);
// Python's repr of a float: the shortest digits that read back, "1.0", "1e+16", "1e-05", "inf", "nan".
std::string float_repr(double v);
// Python's == (1 == 1.0 == True; lists and dicts compare deeply).
bool equals(const Value& a, const Value& b, Budget& budget);

struct JsonOptions {
  int indent = -1;  // -1: no newlines; n >= 0: newline and n spaces (or indent_text) per level
  std::string indent_text;
  bool indent_is_text = false;
  std::string item_sep = ", ", key_sep = ": ";
  bool sort_keys = false;
  bool ensure_ascii = false;  // \uXXXX for every non-ASCII code point
};
// json.dumps(v, ensure_ascii=False, ...), byte for byte.
std::string to_json(const Value& v, const JsonOptions& options, Budget& budget);

// UTF-8 helpers: strings are indexed, sliced and measured in code points, as Python does.
std::vector<uint32_t> decode_utf8(std::string_view s);
void append_utf8(std::string& out, uint32_t cp);
size_t utf8_length(std::string_view s);

}  // namespace ternion::jinja
