// Python's operators, subscripts, slices and iteration over Jinja values.
#include <cmath>
#include <optional>

#include "jinja_interp.h"
#include "ternion/core/error.h"

namespace ternion::jinja {

namespace {

[[noreturn]] void type_error(const std::string& op, const Value& a, const Value& b) {
  throw Error("unsupported operand types for " + op + ": '" + type_name(a) + "' and '" + type_name(b) + "'");
}

bool is_intlike(const Value& v) { return v.kind == Kind::Int || v.kind == Kind::Bool; }
int64_t as_int(const Value& v) { return v.kind == Kind::Bool ? static_cast<int64_t>(v.b) : v.i; }
double as_double(const Value& v) { return v.kind == Kind::Float ? v.f : static_cast<double>(as_int(v)); }

void check_undefined(const Value& v) {
  if (v.is_undefined()) throw Error("'" + (v.s.empty() ? std::string("value") : v.s) + "' is undefined");
}

Value int_result(bool overflow, int64_t r) {
  if (overflow) throw Error("integer overflow");
  return Value::integer(r);
}

Value repeat(const Value& seq, int64_t n, Budget& budget) {
  if (n <= 0) return seq.is_string() ? Value::string("") : Value::make_list({});
  const size_t count = static_cast<size_t>(n);
  if (seq.is_string()) {
    if (!seq.s.empty() && count > budget.max_string / seq.s.size()) budget.check_size(budget.max_string + 1);
    std::string out;
    out.reserve(seq.s.size() * count);
    budget.charge(seq.s.size() * count / 64);
    for (size_t k = 0; k < count; ++k) out += seq.s;
    Value r = Value::string(std::move(out));
    r.markup = seq.markup;
    return r;
  }
  const auto& items = seq.list->items;
  if (!items.empty() && count > budget.max_items / items.size()) throw Error("list repetition too large");
  size_t bytes = 0;  // strings are copied with their list: bound the total
  for (const Value& x : items) bytes += x.s.size();
  if (bytes > 0 && count > budget.max_string / bytes) throw Error("list repetition too large");
  budget.charge(bytes * count / 64);
  std::vector<Value> out;
  for (size_t k = 0; k < count; ++k) out.insert(out.end(), items.begin(), items.end());
  budget.charge(out.size());
  return Value::make_list(std::move(out));
}

double py_fmod(double a, double b) {
  double m = std::fmod(a, b);
  if (m != 0 && ((m < 0) != (b < 0))) m += b;
  return m;
}

Value arithmetic(const std::string& op, const Value& a, const Value& b) {
  if (is_intlike(a) && is_intlike(b)) {
    const int64_t x = as_int(a), y = as_int(b);
    int64_t r = 0;
    if (op == "+") {
      const bool overflow = __builtin_add_overflow(x, y, &r);  // before reading r
      return int_result(overflow, r);
    }
    if (op == "-") {
      const bool overflow = __builtin_sub_overflow(x, y, &r);  // before reading r
      return int_result(overflow, r);
    }
    if (op == "*") {
      const bool overflow = __builtin_mul_overflow(x, y, &r);  // before reading r
      return int_result(overflow, r);
    }
    if (op == "/") {
      if (y == 0) throw Error("division by zero");
      return Value::number(static_cast<double>(x) / static_cast<double>(y));
    }
    if (op == "//" || op == "%") {
      if (y == 0) throw Error(op == "//" ? "integer division by zero" : "integer modulo by zero");
      if (x == INT64_MIN && y == -1) throw Error("integer overflow");
      int64_t q = x / y, m = x % y;
      if (m != 0 && ((m < 0) != (y < 0))) {
        --q;
        m += y;
      }
      return Value::integer(op == "//" ? q : m);
    }
    if (op == "**") {
      if (y < 0) return Value::number(std::pow(static_cast<double>(x), static_cast<double>(y)));
      int64_t result = 1;
      for (int64_t k = 0; k < y; ++k) {
        if (__builtin_mul_overflow(result, x, &result)) throw Error("integer overflow");
        if (result == 0 || result == 1) break;
        if (result == -1) {
          result = ((y - k - 1) % 2 == 0) ? -1 : 1;
          break;
        }
      }
      return Value::integer(result);
    }
  }
  const double x = as_double(a), y = as_double(b);
  if (op == "+") return Value::number(x + y);
  if (op == "-") return Value::number(x - y);
  if (op == "*") return Value::number(x * y);
  if (op == "/") {
    if (y == 0) throw Error("float division by zero");
    return Value::number(x / y);
  }
  if (op == "//") {
    if (y == 0) throw Error("float floor division by zero");
    return Value::number(std::floor(x / y));
  }
  if (op == "%") {
    if (y == 0) throw Error("float modulo by zero");
    return Value::number(py_fmod(x, y));
  }
  return Value::number(std::pow(x, y));
}

}  // namespace

Value binary_op(const std::string& op, const Value& a, const Value& b, Budget& budget) {
  if (op == "~") {
    std::string s = to_str(a, budget);
    s += to_str(b, budget);
    budget.check_size(s.size());
    budget.charge(s.size() / 64);  // copying is work too
    return Value::string(std::move(s));
  }
  check_undefined(a);
  check_undefined(b);
  if (a.is_number() && b.is_number()) return arithmetic(op, a, b);
  if (op == "+") {
    if (a.is_string() && b.is_string()) {
      if (a.markup || b.markup) {  // Markup + str escapes the str
        Value r = Value::string((a.markup ? a.s : escape_html(a.s)) + (b.markup ? b.s : escape_html(b.s)));
        budget.check_size(r.s.size());
        r.markup = true;
        return r;
      }
      budget.check_size(a.s.size() + b.s.size());
      budget.charge((a.s.size() + b.s.size()) / 64);
      return Value::string(a.s + b.s);
    }
    if (a.is_list() && b.is_list()) {
      std::vector<Value> out = a.list->items;
      out.insert(out.end(), b.list->items.begin(), b.list->items.end());
      if (out.size() > budget.max_items) throw Error("list too long");
      size_t bytes = 0;
      for (const Value& x : out) bytes += x.s.size();
      budget.charge(out.size() + bytes / 64);
      return Value::make_list(std::move(out));
    }
  }
  if (op == "*") {
    if ((a.is_string() || a.is_list()) && is_intlike(b)) return repeat(a, as_int(b), budget);
    if ((b.is_string() || b.is_list()) && is_intlike(a)) return repeat(b, as_int(a), budget);
  }
  if (op == "%" && a.is_string()) throw Error("printf-style string formatting ('%' on a string) is not supported");
  type_error(op, a, b);
}

bool compare_op(const std::string& op, const Value& a, const Value& b, Budget& budget) {
  if (op == "==") return equals(a, b, budget);
  if (op == "!=") return !equals(a, b, budget);
  if (op == "in" || op == "not in") {
    bool found = false;
    if (b.is_string()) {
      if (!a.is_string())
        throw Error(std::string("'in <string>' requires string as left operand, not ") + type_name(a));
      found = b.s.find(a.s) != std::string::npos;
    } else if (b.is_list()) {
      for (const Value& x : b.list->items) {
        if (equals(a, x, budget)) {
          found = true;
          break;
        }
      }
    } else if (b.is_dict() && !b.is_namespace()) {
      found = a.is_string() && b.dict->find(a.s) != nullptr;
    } else if (!b.is_undefined()) {
      throw Error(std::string("argument of type '") + type_name(b) + "' is not iterable");
    }
    return op == "in" ? found : !found;
  }
  int c = 0;
  if (a.is_number() && b.is_number()) {
    if (is_intlike(a) && is_intlike(b)) {
      c = as_int(a) < as_int(b) ? -1 : as_int(a) > as_int(b) ? 1 : 0;
    } else {
      const double x = as_double(a), y = as_double(b);
      if (std::isnan(x) || std::isnan(y)) return false;
      c = x < y ? -1 : x > y ? 1 : 0;
    }
  } else if (a.is_string() && b.is_string()) {
    c = a.s.compare(b.s);  // UTF-8 byte order is code point order
    c = c < 0 ? -1 : c > 0 ? 1 : 0;
  } else if (a.is_list() && b.is_list()) {
    const auto& x = a.list->items;
    const auto& y = b.list->items;
    size_t k = 0;
    while (k < x.size() && k < y.size() && equals(x[k], y[k], budget)) ++k;
    if (k < x.size() && k < y.size()) return compare_op(op, x[k], y[k], budget);
    c = x.size() < y.size() ? -1 : x.size() > y.size() ? 1 : 0;
  } else {
    throw Error("'" + op + "' not supported between instances of '" + type_name(a) + "' and '" + type_name(b) + "'");
  }
  if (op == "<") return c < 0;
  if (op == "<=") return c <= 0;
  if (op == ">") return c > 0;
  return c >= 0;  // ">="
}

Value get_attr(const Value& obj, const std::string& name) {
  check_undefined(obj);
  if (obj.is_dict()) {
    if (const Value* v = obj.dict->find(name)) return *v;
  }
  return Value::undefined(std::string("'") + type_name(obj) + " object' has no attribute '" + name + "'");
}

Value get_item(const Value& obj, const Value& key) {
  check_undefined(obj);
  if (obj.is_dict() && key.is_string()) {
    if (const Value* v = obj.dict->find(key.s)) return *v;
  } else if ((obj.is_list() || obj.is_string()) && (key.kind == Kind::Int || key.kind == Kind::Bool)) {
    int64_t i = as_int(key);
    if (obj.is_list()) {
      const auto n = static_cast<int64_t>(obj.list->items.size());
      if (i < 0) i += n;
      if (i >= 0 && i < n) return obj.list->items[static_cast<size_t>(i)];
    } else {
      const auto cps = decode_utf8(obj.s);
      const auto n = static_cast<int64_t>(cps.size());
      if (i < 0) i += n;
      if (i >= 0 && i < n) {
        std::string s;
        append_utf8(s, cps[static_cast<size_t>(i)]);
        return Value::string(std::move(s));
      }
    }
  }
  return Value::undefined(std::string("'") + type_name(obj) + " object' has no item");
}

Value slice(const Value& obj, const Value& start, const Value& stop, const Value& step) {
  check_undefined(obj);
  auto bound = [](const Value& v, const char* what) -> std::optional<int64_t> {
    if (v.is_undefined() || v.is_none()) return std::nullopt;
    if (!is_intlike(v)) throw Error(std::string("slice ") + what + " must be an integer or None");
    return as_int(v);
  };
  const auto b0 = bound(start, "start"), b1 = bound(stop, "stop"), b2 = bound(step, "step");
  const int64_t st = b2.value_or(1);
  if (st == 0) throw Error("slice step cannot be zero");
  std::vector<uint32_t> cps;
  int64_t n = 0;
  if (obj.is_list()) {
    n = static_cast<int64_t>(obj.list->items.size());
  } else if (obj.is_string()) {
    cps = decode_utf8(obj.s);
    n = static_cast<int64_t>(cps.size());
  } else {
    throw Error(std::string("'") + type_name(obj) + "' object cannot be sliced");
  }
  // Python's slice.indices().
  auto clamp = [&](std::optional<int64_t> v, int64_t dflt) {
    if (!v) return dflt;
    int64_t x = *v;
    if (x < 0) {
      x += n;
      if (x < 0) x = st < 0 ? -1 : 0;
    } else if (x >= n) {
      x = st < 0 ? n - 1 : n;
    }
    return x;
  };
  const int64_t lo = clamp(b0, st < 0 ? n - 1 : 0), hi = clamp(b1, st < 0 ? -1 : n);
  std::vector<size_t> idx;
  for (int64_t k = lo; st > 0 ? k < hi : k > hi; k += st) idx.push_back(static_cast<size_t>(k));
  if (obj.is_list()) {
    std::vector<Value> out;
    out.reserve(idx.size());
    for (size_t k : idx) out.push_back(obj.list->items[k]);
    return Value::make_list(std::move(out));
  }
  std::string out;
  for (size_t k : idx) append_utf8(out, cps[k]);
  return Value::string(std::move(out));
}

std::vector<Value> iterate(const Value& v) {
  switch (v.kind) {
    case Kind::Undefined:
      return {};
    case Kind::List:
      return v.list->items;
    case Kind::Dict: {
      if (v.dict->is_namespace) break;
      std::vector<Value> keys;
      for (const auto& kv : v.dict->items) keys.push_back(Value::string(kv.first));
      return keys;
    }
    case Kind::String: {
      if (v.s.size() > (1u << 20)) throw Error("iterating over a string longer than 1 MiB");
      std::vector<Value> chars;
      for (uint32_t cp : decode_utf8(v.s)) {
        std::string s;
        append_utf8(s, cp);
        chars.push_back(Value::string(std::move(s)));
      }
      return chars;
    }
    default:
      break;
  }
  throw Error(std::string("'") + type_name(v) + "' object is not iterable");
}

int64_t length(const Value& v) {
  switch (v.kind) {
    case Kind::Undefined:
      return 0;
    case Kind::String:
      return static_cast<int64_t>(utf8_length(v.s));
    case Kind::List:
      return static_cast<int64_t>(v.list->items.size());
    case Kind::Dict:
      if (!v.dict->is_namespace) return static_cast<int64_t>(v.dict->items.size());
      break;
    default:
      break;
  }
  throw Error(std::string("object of type '") + type_name(v) + "' has no len()");
}

}  // namespace ternion::jinja
