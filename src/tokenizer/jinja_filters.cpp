// Jinja filters as jinja2 3.1 defines them, plus HF's tojson (json.dumps with ensure_ascii=False by default).
#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <utility>

#include "jinja_interp.h"
#include "ternion/core/error.h"

namespace ternion::jinja {

namespace {

uint32_t ascii_upper(uint32_t c) { return c >= 'a' && c <= 'z' ? c - 32 : c; }
uint32_t ascii_lower(uint32_t c) { return c >= 'A' && c <= 'Z' ? c + 32 : c; }

std::string map_case(const std::string& s, bool upper) {
  std::string out = s;
  for (char& c : out) {
    c = static_cast<char>(upper ? ascii_upper(static_cast<unsigned char>(c))
                                : ascii_lower(static_cast<unsigned char>(c)));
  }
  return out;
}

bool is_space(char c) { return c == ' ' || (c >= 9 && c <= 13); }

// jinja2's do_title: each piece after a run of whitespace, '-', '(', '{', '[' or '<' gets an upper-case first
// letter and lower-case rest.
std::string title(const std::string& s) {
  std::string out;
  bool start = true;
  for (char c : s) {
    const bool sep = is_space(c) || c == '-' || c == '(' || c == '{' || c == '[' || c == '<';
    const auto u = static_cast<unsigned char>(c);
    out += static_cast<char>(sep ? u : start ? ascii_upper(u) : ascii_lower(u));
    start = sep;
  }
  return out;
}

int64_t to_int(const Value& v, const char* what) {
  if (v.kind == Kind::Int) return v.i;
  if (v.kind == Kind::Bool) return v.b;
  throw Error(std::string(what) + " expects an integer, got " + type_name(v));
}

std::string replace(const std::string& s, const std::string& from, const std::string& to, int64_t count,
                    Budget& budget) {
  std::string out;
  int64_t n = 0;
  if (from.empty()) {  // Python inserts `to` around every character
    const auto cps = decode_utf8(s);
    for (size_t k = 0; k <= cps.size(); ++k) {
      if (count < 0 || n < count) {
        out += to;
        ++n;
      }
      if (k < cps.size()) append_utf8(out, cps[k]);
      budget.check_size(out.size());
    }
    return out;
  }
  size_t k = 0;
  while (true) {
    const size_t at = (count < 0 || n < count) ? s.find(from, k) : std::string::npos;
    if (at == std::string::npos) break;
    out.append(s, k, at - k);
    out += to;
    budget.check_size(out.size());
    k = at + from.size();
    ++n;
  }
  out.append(s, k, std::string::npos);
  return out;
}

// jinja2's attribute getter: "a.b.0" walks attributes and integer indices.
Value attr_path(const Value& v, const std::string& path) {
  Value cur = v;
  size_t k = 0;
  while (k <= path.size()) {
    const size_t dot = std::min(path.find('.', k), path.size());
    const std::string part = path.substr(k, dot - k);
    const bool digits =
        !part.empty() && std::all_of(part.begin(), part.end(), [](char c) { return c >= '0' && c <= '9'; });
    if (digits && part.size() < 10) {
      cur = get_item(cur, Value::integer(std::stoll(part)));
    } else {
      cur = get_item(cur, Value::string(part));
    }
    k = dot + 1;
  }
  return cur;
}

// Sort key comparison for sort/dictsort/unique/min/max: strings compare case-insensitively unless asked not to.
Value sort_key(const Value& v, bool case_sensitive) {
  if (!case_sensitive && v.is_string()) return Value::string(map_case(v.s, false));
  return v;
}

Value tojson(Interp& in, const Value& v, Args& a) {
  JsonOptions o;
  o.ensure_ascii = truthy(a.get(0, "ensure_ascii", Value::boolean(false)));
  const Value indent = a.get(1, "indent", Value::none());
  if (indent.is_string()) {
    o.indent_is_text = true;
    o.indent_text = indent.s;
  } else if (!indent.is_none()) {
    o.indent = static_cast<int>(std::clamp<int64_t>(to_int(indent, "tojson indent"), 0, 64));
  }
  if (o.indent >= 0 || o.indent_is_text) o.item_sep = ",";
  const Value seps = a.get(2, "separators", Value::none());
  if (!seps.is_none()) {
    if (!seps.is_list() || seps.list->items.size() != 2 || !seps.list->items[0].is_string() ||
        !seps.list->items[1].is_string()) {
      throw Error("tojson separators must be a pair of strings");
    }
    o.item_sep = seps.list->items[0].s;
    o.key_sep = seps.list->items[1].s;
  }
  o.sort_keys = truthy(a.get(3, "sort_keys", Value::boolean(false)));
  return Value::string(to_json(v, o, in.budget()));
}

std::string indent(const std::string& input, const Value& width, bool first, bool blank) {
  const std::string pad =
      width.is_string() ? width.s
                        : std::string(static_cast<size_t>(std::clamp<int64_t>(to_int(width, "indent"), 0, 256)), ' ');
  // Python's splitlines on s + "\n" (\n, \r\n and \r end lines).
  std::vector<std::string> lines;
  const std::string s = input + "\n";
  size_t k = 0;
  while (k < s.size()) {
    size_t e = k;
    while (e < s.size() && s[e] != '\n' && s[e] != '\r') ++e;
    lines.push_back(s.substr(k, e - k));
    if (e < s.size() && s[e] == '\r' && e + 1 < s.size() && s[e + 1] == '\n') ++e;
    k = e + 1;
  }
  std::string out;
  for (size_t i = 0; i < lines.size(); ++i) {
    if (i > 0) {
      out += '\n';
      if (blank || !lines[i].empty()) out += pad;
    }
    out += lines[i];
  }
  if (first) out = pad + out;
  return out;
}

Value select(Interp& in, const std::string& name, const Value& input, Args& a) {
  if (!truthy(input)) return Value::make_list({});  // jinja2 yields nothing for a falsy input (None included)
  const bool by_attr = name == "selectattr" || name == "rejectattr";
  const bool keep_if = name == "select" || name == "selectattr";
  std::string attr;
  size_t next = 0;
  if (by_attr) {
    const Value at = a.get(0, "attribute");
    if (!at.is_string()) throw Error(name + " expects an attribute name");
    attr = at.s;
    next = 1;
  }
  std::string test;
  Args targs;
  if (next < a.pos.size()) {
    if (!a.pos[next].is_string()) throw Error(name + " expects a test name");
    test = a.pos[next].s;
    targs.pos.assign(a.pos.begin() + static_cast<std::ptrdiff_t>(next + 1), a.pos.end());
  }
  std::vector<Value> out;
  for (const Value& item : iterate(input)) {
    in.budget().charge();
    const Value v = by_attr ? attr_path(item, attr) : item;
    const bool pass = test.empty() ? truthy(v) : apply_test(in, test, v, targs);
    if (pass == keep_if) out.push_back(item);
  }
  return Value::make_list(std::move(out));
}

Value map_filter(Interp& in, const Value& input, Args& a) {
  std::vector<Value> out;
  if (!truthy(input)) return Value::make_list({});
  const Value at = a.get(99, "attribute");
  if (at.is_string()) {
    const Value dflt = a.get(99, "default");
    for (const Value& item : iterate(input)) {
      Value v = attr_path(item, at.s);
      out.push_back(v.is_undefined() && !dflt.is_undefined() ? dflt : v);
    }
    return Value::make_list(std::move(out));
  }
  if (a.pos.empty() || !a.pos[0].is_string()) throw Error("map expects a filter name or attribute=");
  Args fargs;
  fargs.pos.assign(a.pos.begin() + 1, a.pos.end());
  fargs.kw = a.kw;
  for (const Value& item : iterate(input)) out.push_back(apply_filter(in, a.pos[0].s, item, fargs));
  return Value::make_list(std::move(out));
}

Value sorted(Interp& in, const Value& input, Args& a) {
  const bool reverse = truthy(a.get(0, "reverse", Value::boolean(false)));
  const bool cs = truthy(a.get(1, "case_sensitive", Value::boolean(false)));
  const Value at = a.get(2, "attribute");
  std::vector<Value> items = iterate(input);
  std::vector<std::pair<Value, size_t>> keyed;
  for (size_t k = 0; k < items.size(); ++k) {
    keyed.emplace_back(sort_key(at.is_string() ? attr_path(items[k], at.s) : items[k], cs), k);
  }
  Budget& b = in.budget();
  std::stable_sort(keyed.begin(), keyed.end(), [&](const auto& x, const auto& y) {
    return reverse ? compare_op("<", y.first, x.first, b) : compare_op("<", x.first, y.first, b);
  });
  std::vector<Value> out;
  for (const auto& kv : keyed) out.push_back(items[kv.second]);
  return Value::make_list(std::move(out));
}

Value extreme(Interp& in, const Value& input, Args& a, bool want_max) {
  const bool cs = truthy(a.get(0, "case_sensitive", Value::boolean(false)));
  const Value at = a.get(1, "attribute");
  Value best, best_key;
  bool have = false;
  for (const Value& item : iterate(input)) {
    const Value key = sort_key(at.is_string() ? attr_path(item, at.s) : item, cs);
    if (!have || compare_op(want_max ? ">" : "<", key, best_key, in.budget())) {
      best = item;
      best_key = key;
      have = true;
    }
  }
  return have ? best : Value::undefined("no items");
}

}  // namespace

namespace {

Value apply_filter_inner(Interp& in, const std::string& name, const Value& v, Args& a);

// Filters whose result stays Markup when their input is (markupsafe wraps these str methods).
bool keeps_markup(const std::string& name) {
  return name == "trim" || name == "upper" || name == "lower" || name == "title" || name == "capitalize" ||
         name == "indent" || name == "string";
}

}  // namespace

Value apply_filter(Interp& in, const std::string& name, const Value& v, Args& a) {
  Value r = apply_filter_inner(in, name, v, a);
  if (v.markup && r.is_string() && keeps_markup(name)) r.markup = true;
  return r;
}

namespace {

Value apply_filter_inner(Interp& in, const std::string& name, const Value& v, Args& a) {
  Budget& budget = in.budget();
  budget.charge();
  if (name == "safe") {
    Value r = Value::string(to_str(v, budget));
    r.markup = true;
    return r;
  }
  if (name == "string") return v.is_string() ? v : Value::string(to_str(v, budget));
  if (name == "trim") {
    Args m;
    m.pos.push_back(a.get(0, "chars"));
    return call_method(in, Value::string(to_str(v, budget)), "strip", m);
  }
  if (name == "upper" || name == "lower") return Value::string(map_case(to_str(v, budget), name == "upper"));
  if (name == "title") return Value::string(title(to_str(v, budget)));
  if (name == "capitalize") {
    const std::string s = to_str(v, budget);
    if (s.empty()) return Value::string("");
    return Value::string(map_case(s.substr(0, 1), true) + map_case(s.substr(1), false));
  }
  if (name == "tojson") return tojson(in, v, a);
  if (name == "length" || name == "count") return Value::integer(length(v));
  if (name == "default" || name == "d") {
    const bool boolean = truthy(a.get(1, "boolean", Value::boolean(false)));
    if (v.is_undefined() || (boolean && !truthy(v))) return a.get(0, "default_value", Value::string(""));
    return v;
  }
  if (name == "join") {
    const Value sep = a.get(0, "d", Value::string(""));
    const Value at = a.get(1, "attribute");
    std::string out;
    bool first = true;
    for (const Value& item : iterate(v)) {
      if (!first) out += to_str(sep, budget);
      first = false;
      out += to_str(at.is_string() ? attr_path(item, at.s) : item, budget);
      budget.check_size(out.size());
    }
    return Value::string(std::move(out));
  }
  if (name == "replace") {
    const Value from = a.get(0, "old"), to = a.get(1, "new"), count = a.get(2, "count", Value::none());
    if (!from.is_string() || !to.is_string()) throw Error("replace expects two strings");
    return Value::string(
        replace(to_str(v, budget), from.s, to.s, count.is_none() ? -1 : to_int(count, "replace count"), budget));
  }
  if (name == "items") {
    if (v.is_undefined()) return Value::make_list({});
    if (!v.is_dict() || v.is_namespace()) throw Error(std::string("items expects a mapping, got ") + type_name(v));
    Args none;
    return call_method(in, v, "items", none);
  }
  if (name == "list") return Value::make_list(iterate(v));
  if (name == "first" || name == "last") {
    const std::vector<Value> items = iterate(v);
    if (items.empty()) return Value::undefined(name + " of an empty sequence");
    return name == "first" ? items.front() : items.back();
  }
  if (name == "select" || name == "reject" || name == "selectattr" || name == "rejectattr") {
    return select(in, name, v, a);
  }
  if (name == "map") return map_filter(in, v, a);
  if (name == "int") {
    const Value dflt = a.get(0, "default", Value::integer(0));
    if (v.kind == Kind::Int) return v;
    if (v.kind == Kind::Bool) return Value::integer(v.b);
    if (v.kind == Kind::Float) {
      if (!std::isfinite(v.f) || std::fabs(v.f) >= 9.2e18) return dflt;
      return Value::integer(static_cast<int64_t>(v.f));
    }
    if (v.is_string()) {
      Args none;
      const std::string s = call_method(in, v, "strip", none).s;
      char* end = nullptr;
      errno = 0;
      const long long x = std::strtoll(s.c_str(), &end, 10);
      if (!s.empty() && end == s.c_str() + s.size() && errno == 0) return Value::integer(x);
      const double d = std::strtod(s.c_str(), &end);  // jinja2 falls back to int(float(s))
      if (!s.empty() && end == s.c_str() + s.size() && std::isfinite(d) && std::fabs(d) < 9.2e18) {
        return Value::integer(static_cast<int64_t>(d));
      }
    }
    return dflt;
  }
  if (name == "float") {
    const Value dflt = a.get(0, "default", Value::number(0.0));
    if (v.kind == Kind::Float) return v;
    if (v.kind == Kind::Int || v.kind == Kind::Bool)
      return Value::number(static_cast<double>(v.kind == Kind::Int ? v.i : v.b));
    if (v.is_string()) {
      char* end = nullptr;
      const double d = std::strtod(v.s.c_str(), &end);
      if (!v.s.empty() && end == v.s.c_str() + v.s.size()) return Value::number(d);
    }
    return dflt;
  }
  if (name == "abs") {
    if (v.kind == Kind::Float) return Value::number(std::fabs(v.f));
    const int64_t x = to_int(v, "abs");
    if (x == INT64_MIN) throw Error("integer overflow");
    return Value::integer(x < 0 ? -x : x);
  }
  if (name == "round") {
    const int64_t precision = to_int(a.get(0, "precision", Value::integer(0)), "round");
    const Value method = a.get(1, "method", Value::string("common"));
    if (!v.is_number()) throw Error(std::string("round expects a number, got ") + type_name(v));
    const double x = v.kind == Kind::Float ? v.f : static_cast<double>(v.kind == Kind::Int ? v.i : v.b);
    const double scale = std::pow(10.0, static_cast<double>(std::clamp<int64_t>(precision, -300, 300)));
    double r = x * scale;
    if (method.is_string() && method.s == "floor") {
      r = std::floor(r);
    } else if (method.is_string() && method.s == "ceil") {
      r = std::ceil(r);
    } else {
      r = std::nearbyint(r);  // Python rounds half to even
    }
    return Value::number(r / scale);
  }
  if (name == "unique") {
    const bool cs = truthy(a.get(0, "case_sensitive", Value::boolean(false)));
    const Value at = a.get(1, "attribute");
    std::vector<Value> out, seen;
    for (const Value& item : iterate(v)) {
      const Value key = sort_key(at.is_string() ? attr_path(item, at.s) : item, cs);
      bool dup = false;
      for (const Value& s : seen) dup = dup || equals(s, key, budget);
      if (!dup) {
        seen.push_back(key);
        out.push_back(item);
      }
    }
    return Value::make_list(std::move(out));
  }
  if (name == "reverse") {
    if (v.is_string()) {
      auto cps = decode_utf8(v.s);
      std::string out;
      for (auto it = cps.rbegin(); it != cps.rend(); ++it) append_utf8(out, *it);
      return Value::string(std::move(out));
    }
    std::vector<Value> items = iterate(v);
    std::reverse(items.begin(), items.end());
    return Value::make_list(std::move(items));
  }
  if (name == "sort") return sorted(in, v, a);
  if (name == "dictsort") {
    if (!v.is_dict() || v.is_namespace()) throw Error("dictsort expects a mapping");
    const bool cs = truthy(a.get(0, "case_sensitive", Value::boolean(false)));
    const Value by = a.get(1, "by", Value::string("key"));
    const bool reverse = truthy(a.get(2, "reverse", Value::boolean(false)));
    const size_t pos = by.is_string() && by.s == "value" ? 1 : 0;
    Args none;
    std::vector<Value> pairs = call_method(in, v, "items", none).list->items;
    std::stable_sort(pairs.begin(), pairs.end(), [&](const Value& x, const Value& y) {
      const Value kx = sort_key(x.list->items[pos], cs), ky = sort_key(y.list->items[pos], cs);
      return reverse ? compare_op("<", ky, kx, budget) : compare_op("<", kx, ky, budget);
    });
    return Value::make_list(std::move(pairs));
  }
  if (name == "escape" || name == "e" || name == "forceescape") {
    if (v.markup && name != "forceescape") return v;
    Value r = Value::string(escape_html(to_str(v, budget)));
    r.markup = true;
    return r;
  }
  if (name == "indent") {
    return Value::string(indent(to_str(v, budget), a.get(0, "width", Value::integer(4)),
                                truthy(a.get(1, "first", Value::boolean(false))),
                                truthy(a.get(2, "blank", Value::boolean(false)))));
  }
  if (name == "wordcount") {
    int64_t n = 0;
    bool in_word = false;
    for (char c : to_str(v, budget)) {
      const auto u = static_cast<unsigned char>(c);
      const bool w =
          u >= 0x80 || u == '_' || (u >= '0' && u <= '9') || (u >= 'a' && u <= 'z') || (u >= 'A' && u <= 'Z');
      if (w && !in_word) ++n;
      in_word = w;
    }
    return Value::integer(n);
  }
  if (name == "min" || name == "max") return extreme(in, v, a, name == "max");
  if (name == "sum") {
    const Value at = a.get(0, "attribute");
    Value total = a.get(1, "start", Value::integer(0));
    for (const Value& item : iterate(v))
      total = binary_op("+", total, at.is_string() ? attr_path(item, at.s) : item, budget);
    return total;
  }
  if (name == "batch") {
    const int64_t n = to_int(a.get(0, "linecount"), "batch");
    if (n <= 0) throw Error("batch size must be positive");
    const Value fill = a.get(1, "fill_with", Value::none());
    std::vector<Value> out, cur;
    for (const Value& item : iterate(v)) {
      cur.push_back(item);
      if (static_cast<int64_t>(cur.size()) == n) out.push_back(Value::make_list(std::exchange(cur, {})));
    }
    if (!cur.empty()) {
      while (!fill.is_none() && static_cast<int64_t>(cur.size()) < n) cur.push_back(fill);
      out.push_back(Value::make_list(std::move(cur)));
    }
    return Value::make_list(std::move(out));
  }
  if (name == "attr") {
    const Value n = a.get(0, "name");
    if (!n.is_string()) throw Error("attr expects an attribute name");
    if (v.is_namespace()) return get_attr(v, n.s);  // plain getattr: a dict's keys are not attributes
    if (v.is_undefined()) return get_attr(v, n.s);
    return Value::undefined(std::string("'") + type_name(v) + " object' has no attribute '" + n.s + "'");
  }
  throw Error("unknown filter '" + name + "'");
}

}  // namespace

}  // namespace ternion::jinja
