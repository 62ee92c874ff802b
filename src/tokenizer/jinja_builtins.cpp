// Jinja tests (`is defined`, ...), Python methods of str and dict, and the global functions chat templates call
// (range, namespace, dict, raise_exception, strftime_now).
#include <algorithm>
#include <cmath>

#include "jinja_interp.h"
#include "ternion/core/error.h"

namespace ternion::jinja {

namespace {

bool is_ws(uint32_t c) { return c == ' ' || (c >= 9 && c <= 13) || (c >= 0x1C && c <= 0x1F) || c == 0x85 || c == 0xA0; }

std::string need_string(const Value& v, const char* what) {
  if (!v.is_string()) throw Error(std::string(what) + " expects a string, got " + type_name(v));
  return v.s;
}

// Python str.strip/lstrip/rstrip with optional characters (code points).
std::string strip(const std::string& s, const Value& chars, bool left, bool right) {
  const auto cps = decode_utf8(s);
  std::vector<uint32_t> set;
  const bool custom = chars.is_string();
  if (custom) set = decode_utf8(chars.s);
  auto drop = [&](uint32_t c) { return custom ? std::find(set.begin(), set.end(), c) != set.end() : is_ws(c); };
  size_t b = 0, e = cps.size();
  if (left) {
    while (b < e && drop(cps[b])) ++b;
  }
  if (right) {
    while (e > b && drop(cps[e - 1])) --e;
  }
  std::string out;
  for (size_t k = b; k < e; ++k) append_utf8(out, cps[k]);
  return out;
}

Value split(const std::string& s, const Value& sep, int64_t maxsplit) {
  std::vector<Value> parts;
  if (sep.is_none() || sep.is_undefined()) {  // runs of whitespace, no empty parts
    size_t k = 0;
    while (true) {
      while (k < s.size() && is_ws(static_cast<unsigned char>(s[k]))) ++k;
      if (k >= s.size()) break;
      if (maxsplit >= 0 && static_cast<int64_t>(parts.size()) == maxsplit) {
        size_t e = s.size();
        while (e > k && is_ws(static_cast<unsigned char>(s[e - 1]))) --e;
        parts.push_back(Value::string(s.substr(k, e - k)));
        break;
      }
      size_t e = k;
      while (e < s.size() && !is_ws(static_cast<unsigned char>(s[e]))) ++e;
      parts.push_back(Value::string(s.substr(k, e - k)));
      k = e;
    }
    return Value::make_list(std::move(parts));
  }
  const std::string d = need_string(sep, "split()");
  if (d.empty()) throw Error("split(): empty separator");
  size_t k = 0;
  while (true) {
    const size_t at = s.find(d, k);
    if (at == std::string::npos || (maxsplit >= 0 && static_cast<int64_t>(parts.size()) == maxsplit)) break;
    parts.push_back(Value::string(s.substr(k, at - k)));
    k = at + d.size();
  }
  parts.push_back(Value::string(s.substr(k)));
  return Value::make_list(std::move(parts));
}

bool affix_match(const std::string& s, const Value& affix, bool prefix) {
  auto one = [&](const Value& a) {
    const std::string x = need_string(a, prefix ? "startswith()" : "endswith()");
    if (x.size() > s.size()) return false;
    return prefix ? s.compare(0, x.size(), x) == 0 : s.compare(s.size() - x.size(), x.size(), x) == 0;
  };
  if (affix.is_list()) {
    return std::any_of(affix.list->items.begin(), affix.list->items.end(), one);
  }
  return one(affix);
}

int64_t int_arg(const Value& v, const char* what) {
  if (v.kind == Kind::Int) return v.i;
  if (v.kind == Kind::Bool) return v.b;
  throw Error(std::string(what) + " expects an integer, got " + type_name(v));
}

Value string_method(Interp& in, const std::string& s, const std::string& name, Args& a) {
  if (name == "strip") return Value::string(strip(s, a.get(0, "chars"), true, true));
  if (name == "lstrip") return Value::string(strip(s, a.get(0, "chars"), true, false));
  if (name == "rstrip") return Value::string(strip(s, a.get(0, "chars"), false, true));
  if (name == "split") {
    const Value mx = a.get(1, "maxsplit", Value::integer(-1));
    return split(s, a.get(0, "sep"), int_arg(mx, "split()"));
  }
  if (name == "startswith") return Value::boolean(affix_match(s, a.get(0, "prefix"), true));
  if (name == "endswith") return Value::boolean(affix_match(s, a.get(0, "suffix"), false));
  if (name == "upper" || name == "lower" || name == "title" || name == "capitalize") {
    Args none;
    return apply_filter(in, name, Value::string(s), none);
  }
  if (name == "replace") {
    Args f;
    f.pos = a.pos;
    f.kw = a.kw;
    return apply_filter(in, "replace", Value::string(s), f);
  }
  if (name == "find" || name == "count" || name == "index") {
    const std::string sub = need_string(a.get(0, "sub"), (name + "()").c_str());
    if (name == "count") {
      if (sub.empty()) return Value::integer(static_cast<int64_t>(utf8_length(s)) + 1);
      int64_t n = 0;
      for (size_t k = s.find(sub); k != std::string::npos; k = s.find(sub, k + sub.size())) ++n;
      return Value::integer(n);
    }
    const size_t at = s.find(sub);
    if (at == std::string::npos) {
      if (name == "index") throw Error("substring not found");
      return Value::integer(-1);
    }
    return Value::integer(static_cast<int64_t>(utf8_length(std::string_view(s).substr(0, at))));
  }
  if (name == "join") {
    Args f;
    f.pos.push_back(Value::string(s));
    return apply_filter(in, "join", a.get(0, "iterable"), f);
  }
  if (name == "isdigit" || name == "isalpha" || name == "isalnum" || name == "isspace" || name == "islower" ||
      name == "isupper") {
    if (s.empty()) return Value::boolean(false);
    bool ok = true, cased = false;
    for (char ch : s) {
      const auto c = static_cast<unsigned char>(ch);
      const bool digit = c >= '0' && c <= '9', lower = c >= 'a' && c <= 'z', upper = c >= 'A' && c <= 'Z';
      if (name == "isdigit") ok = ok && digit;
      if (name == "isalpha") ok = ok && (lower || upper);
      if (name == "isalnum") ok = ok && (lower || upper || digit);
      if (name == "isspace") ok = ok && is_ws(c);
      if (name == "islower") {
        ok = ok && !upper;
        cased = cased || lower;
      }
      if (name == "isupper") {
        ok = ok && !lower;
        cased = cased || upper;
      }
    }
    if (name == "islower" || name == "isupper") ok = ok && cased;
    return Value::boolean(ok);
  }
  if (name == "splitlines") return split(s, Value::string("\n"), -1);
  throw Error("unknown string method '" + name + "'");
}

Value dict_method(const Value& d, const std::string& name, Args& a) {
  if (name == "items" || name == "keys" || name == "values") {
    std::vector<Value> out;
    for (const auto& [k, v] : d.dict->items) {
      if (name == "items") {
        out.push_back(Value::make_list({Value::string(k), v}, true));
      } else {
        out.push_back(name == "keys" ? Value::string(k) : v);
      }
    }
    return Value::make_list(std::move(out));
  }
  if (name == "get") {
    const Value key = a.get(0, "key");
    if (key.is_string()) {
      if (const Value* v = d.dict->find(key.s)) return *v;
    }
    return a.get(1, "default", Value::none());
  }
  throw Error("unknown dict method '" + name + "'");
}

class Builtin : public Callable {
 public:
  using Fn = Value (*)(Interp&, Args&);
  explicit Builtin(Fn fn) : fn_(fn) {}
  Value call(Interp& in, Args& args) override { return fn_(in, args); }

 private:
  Fn fn_;
};

Value fn_range(Interp& in, Args& a) {
  if (a.pos.empty() || a.pos.size() > 3) throw Error("range() takes 1 to 3 integer arguments");
  int64_t start = 0, stop = 0, step = 1;
  if (a.pos.size() == 1) {
    stop = int_arg(a.pos[0], "range()");
  } else {
    start = int_arg(a.pos[0], "range()");
    stop = int_arg(a.pos[1], "range()");
    if (a.pos.size() == 3) step = int_arg(a.pos[2], "range()");
  }
  if (step == 0) throw Error("range() step must not be zero");
  std::vector<Value> out;
  for (int64_t k = start; step > 0 ? k < stop : k > stop; k += step) {
    if (out.size() >= in.budget().max_items) throw Error("range() too long");
    out.push_back(Value::integer(k));
    if ((step > 0 && k > INT64_MAX - step) || (step < 0 && k < INT64_MIN - step)) break;
  }
  in.budget().charge(out.size());
  return Value::make_list(std::move(out));
}

Value dict_from_args(const Args& a) {
  std::vector<std::pair<std::string, Value>> items;
  if (!a.pos.empty()) {
    if (a.pos.size() > 1 || !a.pos[0].is_dict() || a.pos[0].is_namespace()) throw Error("dict() expects a dict");
    items = a.pos[0].dict->items;
  }
  for (auto& kv : a.kw) items.push_back(kv);
  return Value::make_dict(std::move(items));
}

Value fn_dict(Interp&, Args& a) { return dict_from_args(a); }

Value fn_namespace(Interp&, Args& a) {
  Value d = dict_from_args(a);
  d.dict->is_namespace = true;
  return d;
}

Value fn_raise_exception(Interp& in, Args& a) {
  throw Error("raise_exception: " + to_str(a.get(0, "message"), in.budget()));
}

Value fn_strftime_now(Interp& in, Args& a) {
  const std::string fmt = need_string(a.get(0, "format"), "strftime_now()");
  if (fmt.size() > 256) throw Error("strftime_now(): format too long");
  std::string buf(fmt.size() * 64 + 64, '\0');
  const size_t n = std::strftime(buf.data(), buf.size(), fmt.c_str(), &in.now());
  buf.resize(n);
  return Value::string(std::move(buf));
}

}  // namespace

bool apply_test(Interp& in, const std::string& name, const Value& v, Args& a) {
  Budget& budget = in.budget();
  const Value arg = a.get(0, "other");
  if (name == "defined") return !v.is_undefined();
  if (name == "undefined") return v.is_undefined();
  if (name == "none") return v.is_none();
  if (name == "string") return v.is_string();
  if (name == "number") return v.is_number();
  if (name == "integer") return v.kind == Kind::Int;
  if (name == "float") return v.kind == Kind::Float;
  if (name == "boolean") return v.kind == Kind::Bool;
  if (name == "true") return v.kind == Kind::Bool && v.b;
  if (name == "false") return v.kind == Kind::Bool && !v.b;
  if (name == "mapping") return v.is_dict() && !v.is_namespace();
  if (name == "iterable") return v.is_string() || v.is_list() || (v.is_dict() && !v.is_namespace()) || v.is_undefined();
  if (name == "sequence") return v.is_string() || v.is_list() || (v.is_dict() && !v.is_namespace()) || v.is_undefined();
  if (name == "callable") return v.kind == Kind::Callable;
  if (name == "lower" || name == "upper") {
    if (!v.is_string()) return false;
    Args none;
    return apply_filter(in, name, v, none).s == v.s;
  }
  if (name == "even" || name == "odd") {
    const int64_t x = int_arg(v, name.c_str());
    return (x % 2 == 0) == (name == "even");
  }
  if (name == "divisibleby") {
    const int64_t d = int_arg(arg, "divisibleby");
    if (d == 0) throw Error("divisibleby: division by zero");
    return d == -1 || int_arg(v, "divisibleby") % d == 0;
  }
  if (name == "eq" || name == "equalto" || name == "==") return compare_op("==", v, arg, budget);
  if (name == "ne" || name == "!=") return compare_op("!=", v, arg, budget);
  if (name == "lt" || name == "lessthan" || name == "<") return compare_op("<", v, arg, budget);
  if (name == "le" || name == "<=") return compare_op("<=", v, arg, budget);
  if (name == "gt" || name == "greaterthan" || name == ">") return compare_op(">", v, arg, budget);
  if (name == "ge" || name == ">=") return compare_op(">=", v, arg, budget);
  if (name == "in") return compare_op("in", v, a.get(0, "seq"), budget);
  if (name == "sameas") {
    if (v.kind != arg.kind) return false;
    if (v.is_list()) return v.list == arg.list;
    if (v.is_dict()) return v.dict == arg.dict;
    return equals(v, arg, budget);
  }
  throw Error("unknown test '" + name + "'");
}

Value call_method(Interp& in, const Value& obj, const std::string& name, Args& args) {
  if (obj.is_undefined()) throw Error("'" + (obj.s.empty() ? std::string("value") : obj.s) + "' is undefined");
  if (obj.is_string()) return string_method(in, obj.s, name, args);
  if (obj.is_dict() && !obj.is_namespace()) return dict_method(obj, name, args);
  if (obj.is_list() && (name == "append" || name == "extend" || name == "insert" || name == "pop" || name == "remove" ||
                        name == "clear" || name == "sort" || name == "reverse")) {
    // The ImmutableSandboxedEnvironment HF uses refuses these too.
    throw Error("access to attribute '" + name + "' of 'list' object is unsafe");
  }
  throw Error(std::string("'") + type_name(obj) + "' object has no method '" + name + "'");
}

void add_globals(Frame& frame) {
  auto add = [&](const char* name, Builtin::Fn fn) {
    Value v;
    v.kind = Kind::Callable;
    v.fn = std::make_shared<Builtin>(fn);
    frame.set(name, std::move(v));
  };
  add("range", fn_range);
  add("dict", fn_dict);
  add("namespace", fn_namespace);
  add("raise_exception", fn_raise_exception);
  add("strftime_now", fn_strftime_now);
}

}  // namespace ternion::jinja
