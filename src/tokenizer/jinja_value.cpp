// Python semantics for the Jinja value model: truthiness, equality, str(), repr() and json.dumps().
#include "jinja_value.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>

#include "ternion/core/error.h"

namespace ternion::jinja {

void Budget::charge(uint64_t n) {
  steps += n;
  if (steps > max_steps) {
    throw Error("chat template: rendering takes more than " + std::to_string(max_steps) +
                " steps (endless loop or hostile template?)");
  }
}

void Budget::check_size(size_t bytes) const {
  if (bytes > max_string) {
    throw Error("chat template: a string or the output would exceed " + std::to_string(max_string) + " bytes");
  }
}

Value Value::undefined(std::string name) {
  Value v;
  v.s = std::move(name);
  return v;
}
Value Value::none() {
  Value v;
  v.kind = Kind::None;
  return v;
}
Value Value::boolean(bool x) {
  Value v;
  v.kind = Kind::Bool;
  v.b = x;
  return v;
}
Value Value::integer(int64_t x) {
  Value v;
  v.kind = Kind::Int;
  v.i = x;
  return v;
}
Value Value::number(double x) {
  Value v;
  v.kind = Kind::Float;
  v.f = x;
  return v;
}
Value Value::string(std::string x) {
  Value v;
  v.kind = Kind::String;
  v.s = std::move(x);
  return v;
}

uint32_t Value::depth() const {
  if (kind == Kind::List) return list->depth;
  if (kind == Kind::Dict) return dict->depth;
  return 0;
}

bool Value::is_namespace() const { return kind == Kind::Dict && dict->is_namespace; }

namespace {
void check_depth(uint32_t depth) {
  if (depth > kMaxValueDepth) {
    throw Error("chat template: lists/dicts nested more than " + std::to_string(kMaxValueDepth) + " deep");
  }
}
}  // namespace

Value Value::make_list(std::vector<Value> items, bool is_tuple) {
  auto obj = std::make_shared<ListObj>();
  obj->is_tuple = is_tuple;
  uint32_t d = 0;
  for (const Value& x : items) d = std::max(d, x.depth());
  obj->depth = d + 1;
  check_depth(obj->depth);
  obj->items = std::move(items);
  Value v;
  v.kind = Kind::List;
  v.list = std::move(obj);
  return v;
}

Value Value::make_dict(std::vector<std::pair<std::string, Value>> items, bool is_namespace) {
  auto obj = std::make_shared<DictObj>();
  obj->is_namespace = is_namespace;
  for (auto& [k, x] : items) obj->set(k, std::move(x));  // later keys win, as in a Python dict literal
  Value v;
  v.kind = Kind::Dict;
  v.dict = std::move(obj);
  return v;
}

const Value* DictObj::find(std::string_view key) const {
  for (const auto& [k, v] : items) {
    if (k == key) return &v;
  }
  return nullptr;
}

void DictObj::set(const std::string& key, Value v) {
  depth = std::max(depth, v.depth() + 1);
  check_depth(depth);
  for (auto& [k, x] : items) {
    if (k == key) {
      x = std::move(v);
      return;
    }
  }
  items.emplace_back(key, std::move(v));
}

std::string escape_html(const std::string& s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&#34;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

const char* type_name(const Value& v) {
  switch (v.kind) {
    case Kind::Undefined:
      return "undefined";
    case Kind::None:
      return "NoneType";
    case Kind::Bool:
      return "bool";
    case Kind::Int:
      return "int";
    case Kind::Float:
      return "float";
    case Kind::String:
      return "str";
    case Kind::List:
      return "list";
    case Kind::Dict:
      return v.dict->is_namespace ? "Namespace" : "dict";
    case Kind::Callable:
      return "function";
  }
  return "?";
}

bool truthy(const Value& v) {
  switch (v.kind) {
    case Kind::Undefined:
    case Kind::None:
      return false;
    case Kind::Bool:
      return v.b;
    case Kind::Int:
      return v.i != 0;
    case Kind::Float:
      return v.f != 0;
    case Kind::String:
      return !v.s.empty();
    case Kind::List:
      return !v.list->items.empty();
    case Kind::Dict:
      return v.dict->is_namespace || !v.dict->items.empty();
    case Kind::Callable:
      return true;
  }
  return false;
}

std::string float_repr(double v) {
  if (std::isnan(v)) return "nan";
  if (std::isinf(v)) return v < 0 ? "-inf" : "inf";
  if (v == 0) return std::signbit(v) ? "-0.0" : "0.0";
  // Shortest round-trip digits in scientific form, then laid out as Python's repr does: fixed notation for
  // exponents -4 <= e < 16, else d.ddde+XX.
  char buf[64];
  auto res = std::to_chars(buf, buf + sizeof buf, v, std::chars_format::scientific);
  std::string sci(buf, res.ptr);
  const bool neg = sci[0] == '-';
  if (neg) sci.erase(0, 1);
  const size_t e_pos = sci.find('e');
  std::string digits = sci.substr(0, e_pos);
  digits.erase(std::remove(digits.begin(), digits.end(), '.'), digits.end());
  const int exp10 = std::stoi(sci.substr(e_pos + 1));
  std::string out = neg ? "-" : "";
  if (exp10 < -4 || exp10 >= 16) {
    out += digits.substr(0, 1);
    if (digits.size() > 1) out += "." + digits.substr(1);
    char eb[16];
    std::snprintf(eb, sizeof eb, "e%c%02d", exp10 < 0 ? '-' : '+', std::abs(exp10));
    return out + eb;
  }
  const int point = exp10 + 1;  // digits before the decimal point
  if (point <= 0) {
    out += "0." + std::string(static_cast<size_t>(-point), '0') + digits;
  } else if (static_cast<size_t>(point) >= digits.size()) {
    out += digits + std::string(static_cast<size_t>(point) - digits.size(), '0') + ".0";
  } else {
    out += digits.substr(0, static_cast<size_t>(point)) + "." + digits.substr(static_cast<size_t>(point));
  }
  return out;
}

std::vector<uint32_t> decode_utf8(std::string_view s) {
  std::vector<uint32_t> out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size();) {
    const auto c = static_cast<unsigned char>(s[i]);
    size_t n = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
    if (n == 0 || i + n > s.size()) {  // invalid byte: kept as itself so that nothing is lost
      out.push_back(c);
      ++i;
      continue;
    }
    uint32_t cp = n == 1 ? c : n == 2 ? (c & 0x1Fu) : n == 3 ? (c & 0x0Fu) : (c & 0x07u);
    bool ok = true;
    for (size_t k = 1; k < n; ++k) {
      const auto cc = static_cast<unsigned char>(s[i + k]);
      if ((cc >> 6) != 2) ok = false;
      cp = (cp << 6) | (cc & 0x3Fu);
    }
    if (!ok) {
      out.push_back(c);
      ++i;
      continue;
    }
    out.push_back(cp);
    i += n;
  }
  return out;
}

void append_utf8(std::string& out, uint32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | ((cp >> 18) & 0x07));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

size_t utf8_length(std::string_view s) {
  size_t n = 0;
  for (char c : s) n += (static_cast<unsigned char>(c) & 0xC0) != 0x80;
  return n;
}

namespace {

void json_string_ascii(std::string& out, char ch);

std::string string_repr(const std::string& s) {
  const bool use_double = s.find('\'') != std::string::npos && s.find('"') == std::string::npos;
  const char q = use_double ? '"' : '\'';
  std::string out(1, q);
  for (char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    if (ch == q || ch == '\\') {
      out += '\\';
      out += ch;
    } else if (ch == '\n') {
      out += "\\n";
    } else if (ch == '\r') {
      out += "\\r";
    } else if (ch == '\t') {
      out += "\\t";
    } else if (c < 0x20 || c == 0x7F) {
      char b[8];
      std::snprintf(b, sizeof b, "\\x%02x", c);
      out += b;
    } else {
      out += ch;
    }
  }
  out += q;
  return out;
}

void str_into(std::string& out, const Value& v, bool as_repr, Budget& budget) {
  budget.charge();
  budget.check_size(out.size());
  switch (v.kind) {
    case Kind::Undefined:
      if (as_repr) out += "Undefined";
      return;
    case Kind::None:
      out += "None";
      return;
    case Kind::Bool:
      out += v.b ? "True" : "False";
      return;
    case Kind::Int:
      out += std::to_string(v.i);
      return;
    case Kind::Float:
      out += float_repr(v.f);
      return;
    case Kind::String:
      out += as_repr ? string_repr(v.s) : v.s;
      return;
    case Kind::Callable:
      out += "<function>";
      return;
    case Kind::List:
      out += v.list->is_tuple ? '(' : '[';
      for (size_t k = 0; k < v.list->items.size(); ++k) {
        if (k) out += ", ";
        str_into(out, v.list->items[k], true, budget);
      }
      if (v.list->is_tuple && v.list->items.size() == 1) out += ',';
      out += v.list->is_tuple ? ')' : ']';
      return;
    case Kind::Dict:
      out += v.dict->is_namespace ? "<Namespace {" : "{";
      for (size_t k = 0; k < v.dict->items.size(); ++k) {
        if (k) out += ", ";
        out += string_repr(v.dict->items[k].first);
        out += ": ";
        str_into(out, v.dict->items[k].second, true, budget);
      }
      out += v.dict->is_namespace ? "}>" : "}";
      return;
  }
}

void json_string(std::string& out, const std::string& s, bool ensure_ascii) {
  out += '"';
  if (ensure_ascii) {
    for (uint32_t cp : decode_utf8(s)) {
      if (cp < 0x80) {
        json_string_ascii(out, static_cast<char>(cp));
        continue;
      }
      char b[16];
      if (cp >= 0x10000) {
        const uint32_t v = cp - 0x10000;
        std::snprintf(b, sizeof b, "\\u%04x\\u%04x", 0xD800 + (v >> 10), 0xDC00 + (v & 0x3FF));
      } else {
        std::snprintf(b, sizeof b, "\\u%04x", cp);
      }
      out += b;
    }
    out += '"';
    return;
  }
  for (char ch : s) json_string_ascii(out, ch);
  out += '"';
}

void json_string_ascii(std::string& out, char ch) {
  {
    const auto c = static_cast<unsigned char>(ch);
    switch (ch) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      case '\b':
        out += "\\b";
        break;
      case '\f':
        out += "\\f";
        break;
      default:
        if (c < 0x20) {
          char b[8];
          std::snprintf(b, sizeof b, "\\u%04x", c);
          out += b;
        } else {
          out += ch;
        }
    }
  }
}

void newline_indent(std::string& out, const JsonOptions& o, int level) {
  if (o.indent < 0 && !o.indent_is_text) return;
  out += '\n';
  for (int k = 0; k < level; ++k) {
    if (o.indent_is_text) {
      out += o.indent_text;
    } else {
      out.append(static_cast<size_t>(o.indent), ' ');
    }
  }
}

void json_into(std::string& out, const Value& v, const JsonOptions& o, int level, Budget& budget) {
  budget.charge();
  budget.check_size(out.size());
  switch (v.kind) {
    case Kind::None:
      out += "null";
      return;
    case Kind::Bool:
      out += v.b ? "true" : "false";
      return;
    case Kind::Int:
      out += std::to_string(v.i);
      return;
    case Kind::Float:
      if (std::isnan(v.f)) {
        out += "NaN";
      } else if (std::isinf(v.f)) {
        out += v.f < 0 ? "-Infinity" : "Infinity";
      } else {
        out += float_repr(v.f);
      }
      return;
    case Kind::String:
      json_string(out, v.s, o.ensure_ascii);
      return;
    case Kind::List: {
      const auto& items = v.list->items;
      if (items.empty()) {
        out += "[]";
        return;
      }
      out += '[';
      for (size_t k = 0; k < items.size(); ++k) {
        if (k) out += o.item_sep;
        newline_indent(out, o, level + 1);
        json_into(out, items[k], o, level + 1, budget);
      }
      newline_indent(out, o, level);
      out += ']';
      return;
    }
    case Kind::Dict: {
      if (v.dict->is_namespace) break;
      std::vector<const std::pair<std::string, Value>*> items;
      for (const auto& kv : v.dict->items) items.push_back(&kv);
      if (o.sort_keys) {
        std::stable_sort(items.begin(), items.end(), [](auto* a, auto* b) { return a->first < b->first; });
      }
      if (items.empty()) {
        out += "{}";
        return;
      }
      out += '{';
      for (size_t k = 0; k < items.size(); ++k) {
        if (k) out += o.item_sep;
        newline_indent(out, o, level + 1);
        json_string(out, items[k]->first, o.ensure_ascii);
        out += o.key_sep;
        json_into(out, items[k]->second, o, level + 1, budget);
      }
      newline_indent(out, o, level);
      out += '}';
      return;
    }
    case Kind::Undefined:
    case Kind::Callable:
      break;
  }
  throw Error(std::string("chat template: tojson: object of type ") + type_name(v) + " is not JSON serializable");
}

}  // namespace

std::string to_str(const Value& v, Budget& budget) {
  if (v.kind == Kind::String) return v.s;
  std::string out;
  str_into(out, v, false, budget);
  return out;
}

std::string repr(const Value& v, Budget& budget) {
  std::string out;
  str_into(out, v, true, budget);
  return out;
}

bool equals(const Value& a, const Value& b, Budget& budget) {
  budget.charge();
  if (a.is_number() && b.is_number()) {
    if (a.kind == Kind::Float || b.kind == Kind::Float) {
      const double x = a.kind == Kind::Float ? a.f : static_cast<double>(a.kind == Kind::Bool ? a.b : a.i);
      const double y = b.kind == Kind::Float ? b.f : static_cast<double>(b.kind == Kind::Bool ? b.b : b.i);
      return x == y;
    }
    const int64_t x = a.kind == Kind::Bool ? a.b : a.i;
    const int64_t y = b.kind == Kind::Bool ? b.b : b.i;
    return x == y;
  }
  if (a.kind != b.kind) return false;
  switch (a.kind) {
    case Kind::Undefined:
    case Kind::None:
      return true;
    case Kind::String:
      return a.s == b.s;
    case Kind::Callable:
      return a.fn == b.fn;
    case Kind::List: {
      if (a.list == b.list) return true;
      if (a.list->is_tuple != b.list->is_tuple) return false;
      const auto& x = a.list->items;
      const auto& y = b.list->items;
      if (x.size() != y.size()) return false;
      for (size_t k = 0; k < x.size(); ++k) {
        if (!equals(x[k], y[k], budget)) return false;
      }
      return true;
    }
    case Kind::Dict: {
      if (a.dict == b.dict) return true;
      if (a.dict->is_namespace || b.dict->is_namespace) return false;  // namespaces compare by identity
      if (a.dict->items.size() != b.dict->items.size()) return false;
      for (const auto& [k, x] : a.dict->items) {
        const Value* y = b.dict->find(k);
        if (y == nullptr || !equals(x, *y, budget)) return false;
      }
      return true;
    }
    default:
      return false;
  }
}

std::string to_json(const Value& v, const JsonOptions& options, Budget& budget) {
  std::string out;
  json_into(out, v, options, 0, budget);
  return out;
}

}  // namespace ternion::jinja
