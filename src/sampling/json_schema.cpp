#include "ternion/sampling/json_schema.h"

#include <cctype>
#include <cstdio>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <vector>

#include "ternion/core/error.h"
#include "utf8.h"

namespace ternion {

namespace {

using Json = nlohmann::ordered_json;

// llama.cpp's building blocks (common/json-schema-to-grammar.cpp), so that grammars from either read alike; the
// one difference is the exponent of numbers.
struct Primitive {
  const char* name;
  const char* body;
  std::vector<const char*> deps;
};
const Primitive kPrimitives[] = {
    {"space", R"(| " " | "\n" [ \t]{0,20})", {}},
    {"boolean", R"(("true" | "false") space)", {"space"}},
    {"null", R"("null" space)", {"space"}},
    {"decimal-part", "[0-9]{1,16}", {}},
    {"integral-part", "[0] | [1-9] [0-9]{0,15}", {}},
    // The exponent has at most two digits (llama.cpp allows 16): 16-digit mantissas then stay within a double's
    // range, so that every JSON parser reads the number.
    {"number",
     R"(("-"? integral-part) ("." decimal-part)? ([eE] [-+]? [0-9]{1,2})? space)",
     {"integral-part", "decimal-part", "space"}},
    {"integer", R"(("-"? integral-part) space)", {"integral-part", "space"}},
    {"char", R"([^"\\\x7F\x00-\x1F] | [\\] (["\\bfnrt] | "u" [0-9a-fA-F]{4}))", {}},
    {"string", R"("\"" char* "\"" space)", {"char", "space"}},
    {"value",
     "object | array | string | number | boolean | null",
     {"object", "array", "string", "number", "boolean", "null"}},
    {"object",
     R"("{" space ( string ":" space value ("," space string ":" space value)* )? "}" space)",
     {"string", "value", "space"}},
    {"array", R"("[" space ( value ("," space value)* )? "]" space)", {"value", "space"}},
    {"date", R"([0-9]{4} "-" ( "0" [1-9] | "1" [0-2] ) "-" ( "0" [1-9] | [1-2] [0-9] | "3" [0-1] ))", {}},
    {"time",
     R"(([01] [0-9] | "2" [0-3]) ":" [0-5] [0-9] ":" [0-5] [0-9] ( "." [0-9]{3} )? ( "Z" | ( "+" | "-" ) ( [01] [0-9] | "2" [0-3] ) ":" [0-5] [0-9] ))",
     {}},
    {"date-time", R"(date "T" time)", {"date", "time"}},
    {"date-string", R"("\"" date "\"" space)", {"date", "space"}},
    {"time-string", R"("\"" time "\"" space)", {"time", "space"}},
    {"date-time-string", R"("\"" date-time "\"" space)", {"date-time", "space"}},
    {"uuid-string",
     R"("\"" [0-9a-fA-F]{8} "-" [0-9a-fA-F]{4} "-" [0-9a-fA-F]{4} "-" [0-9a-fA-F]{4} "-" [0-9a-fA-F]{12} "\"" space)",
     {"space"}},
};

// Keywords whose meaning the grammar would have to enforce and does not.
const char* const kUnsupported[] = {"pattern",
                                    "allOf",
                                    "not",
                                    "if",
                                    "then",
                                    "else",
                                    "minimum",
                                    "maximum",
                                    "exclusiveMinimum",
                                    "exclusiveMaximum",
                                    "multipleOf",
                                    "patternProperties",
                                    "minProperties",
                                    "maxProperties",
                                    "uniqueItems",
                                    "contains",
                                    "dependentRequired",
                                    "dependentSchemas",
                                    "propertyNames",
                                    "unevaluatedProperties"};

struct Member {
  std::string kv;  // the rule of `"key": value`
  bool required;
};

constexpr int kMaxDepth = 64;          // nested schemas
constexpr size_t kMaxRules = 10'000;   // rules written
constexpr int64_t kMaxCount = 10'000;  // minItems, maxLength and the like (the grammar's repetition limit)

class SchemaConverter {
 public:
  explicit SchemaConverter(const Json& root) : root_(root) {}

  std::string convert() {
    visit(root_, "root", "#", 0);
    std::string out = "root ::= " + rules_.at("root") + "\n";
    for (const auto& [name, body] : rules_) {
      if (name != "root") out += name + " ::= " + body + "\n";
    }
    return out;
  }

 private:
  [[noreturn]] static void fail(const std::string& path, const std::string& message) {
    throw Error("json schema: " + path + ": " + message);
  }

  std::string primitive(const std::string& name) {
    for (const Primitive& p : kPrimitives) {
      if (name != p.name) continue;
      if (rules_.emplace(name, p.body).second) {
        for (const char* dep : p.deps) primitive(dep);
      }
      return name;
    }
    throw Error("json schema: internal: no primitive rule '" + name + "'");
  }

  // A fresh rule name from a hint (letters, digits and '-' only), not yet used.
  std::string fresh_name(const std::string& hint) {
    std::string base;
    for (char c : hint) base += std::isalnum(static_cast<unsigned char>(c)) ? c : '-';
    if (base.empty()) base = "r";
    std::string name = base;
    int& next = suffix_[base];  // where to go on counting, so that many rules of one hint stay linear
    while (rules_.count(name) || reserved(name)) name = base + std::to_string(++next);
    return name;
  }
  static bool reserved(const std::string& name) {
    for (const Primitive& p : kPrimitives) {
      if (name == p.name) return true;
    }
    return false;
  }

  std::string add_rule(const std::string& name, std::string body) {
    if (rules_.count(name) == 0 && rules_.size() >= kMaxRules)
      throw Error("json schema: more than " + std::to_string(kMaxRules) + " rules");
    rules_[name] = std::move(body);
    return name;
  }

  static int64_t count(const Json& s, const char* key, int64_t fallback, const std::string& path) {
    if (!s.contains(key)) return fallback;
    const Json& v = s[key];
    if (!v.is_number_integer() || v.get<int64_t>() < 0) fail(path, std::string("'") + key + "' must be a count");
    if (v.get<int64_t>() > kMaxCount) {
      fail(path, std::string("'") + key + "' above the limit of " + std::to_string(kMaxCount));
    }
    return v.get<int64_t>();
  }

  // x{min,max} in GBNF (max < 0: unbounded).
  static std::string repeat(const std::string& item, int64_t min, int64_t max) {
    if (max < 0) return "(" + item + "){" + std::to_string(min) + ",}";
    return "(" + item + "){" + std::to_string(min) + "," + std::to_string(max) + "}";
  }

  // Writes the rule `name` for `schema` and returns the name (a $ref's rule may already exist).
  std::string visit(const Json& schema, const std::string& name, const std::string& path, int depth) {
    if (depth > kMaxDepth) fail(path, "nested deeper than " + std::to_string(kMaxDepth));
    if (schema.is_boolean()) {
      if (!schema.get<bool>()) fail(path, "the schema 'false' matches nothing");
      return add_rule(name, primitive("value"));
    }
    if (!schema.is_object()) fail(path, "a schema must be an object or a boolean");
    for (const char* key : kUnsupported) {
      if (schema.contains(key)) fail(path, std::string("'") + key + "' is not supported");
    }
    add_rule(name, "");  // reserve the name (recursive references)
    return add_rule(name, body(schema, name, path, depth));
  }

  std::string ref(const std::string& target, const std::string& path, int depth) {
    auto known = refs_.find(target);
    if (known != refs_.end()) return known->second;
    if (target.rfind("#/", 0) != 0) fail(path, "only local references (#/...) are supported, got '" + target + "'");
    const Json* resolved = nullptr;
    try {
      resolved = &root_.at(nlohmann::ordered_json::json_pointer(target.substr(1)));
    } catch (const std::exception&) {
      fail(path, "reference '" + target + "' does not resolve");
    }
    const std::string name = fresh_name(target.substr(target.find_last_of('/') + 1));
    refs_[target] = name;
    return visit(*resolved, name, target, depth + 1);
  }

  std::string alternatives(const Json& list, const std::string& name, const std::string& path, int depth) {
    if (!list.is_array() || list.empty()) fail(path, "expected a non-empty array of schemas");
    std::string out;
    for (size_t i = 0; i < list.size(); ++i) {
      if (i) out += " | ";
      out += visit(list[i], fresh_name(name + "-" + std::to_string(i)), path + "/" + std::to_string(i), depth + 1);
    }
    return out;
  }

  std::string body(const Json& s, const std::string& name, const std::string& path, int depth) {
    if (s.contains("$ref")) {
      if (!s["$ref"].is_string()) fail(path, "'$ref' must be a string");
      return ref(s["$ref"].get<std::string>(), path, depth);
    }
    if (s.contains("const")) return gbnf_literal(s["const"].dump()) + " " + primitive("space");
    if (s.contains("enum")) {
      const Json& e = s["enum"];
      if (!e.is_array() || e.empty()) fail(path + "/enum", "expected a non-empty array");
      std::string out = "(";
      for (size_t i = 0; i < e.size(); ++i) out += (i ? " | " : "") + gbnf_literal(e[i].dump());
      return out + ") " + primitive("space");
    }
    if (s.contains("anyOf")) return alternatives(s["anyOf"], name, path + "/anyOf", depth);
    if (s.contains("oneOf")) return alternatives(s["oneOf"], name, path + "/oneOf", depth);
    if (s.contains("type") && s["type"].is_array()) {
      Json variants = Json::array();
      for (const Json& t : s["type"]) {
        Json v = s;
        v["type"] = t;
        variants.push_back(std::move(v));
      }
      return alternatives(variants, name, path + "/type", depth);
    }
    std::string type;
    if (s.contains("type")) {
      if (!s["type"].is_string()) fail(path, "'type' must be a string or an array of strings");
      type = s["type"].get<std::string>();
    } else if (s.contains("properties")) {
      type = "object";
    }
    if (type.empty()) return primitive("value");
    if (type == "object") return object(s, name, path, depth);
    if (type == "array") return array(s, name, path, depth);
    if (type == "string") return string(s, path);
    if (type == "number" || type == "integer" || type == "boolean" || type == "null") return primitive(type);
    fail(path, "unknown type '" + type + "'");
  }

  std::string string(const Json& s, const std::string& path) {
    if (s.contains("format") && s["format"].is_string()) {
      const std::string f = s["format"].get<std::string>();
      if (f == "date" || f == "time" || f == "date-time" || f == "uuid") return primitive(f + "-string");
    }
    const int64_t min = count(s, "minLength", 0, path);
    const int64_t max = count(s, "maxLength", -1, path);
    if (max >= 0 && max < min) fail(path, "maxLength is below minLength");
    if (min == 0 && max < 0) return primitive("string");
    return R"("\"" )" + repeat(primitive("char"), min, max) + R"( "\"" )" + primitive("space");
  }

  std::string array(const Json& s, const std::string& name, const std::string& path, int depth) {
    const std::string open = R"("[" )" + primitive("space") + " ";
    const std::string close = R"("]" )" + primitive("space");
    const std::string comma = R"("," )" + primitive("space") + " ";
    const Json* tuple = s.contains("prefixItems")                        ? &s["prefixItems"]
                        : (s.contains("items") && s["items"].is_array()) ? &s["items"]
                                                                         : nullptr;
    if (tuple != nullptr) {
      if (!tuple->is_array()) fail(path, "'prefixItems' must be an array");
      std::string out = open;
      for (size_t i = 0; i < tuple->size(); ++i) {
        if (i) out += comma;
        out += visit((*tuple)[i], fresh_name(name + "-" + std::to_string(i)),
                     path + "/prefixItems/" + std::to_string(i), depth + 1) +
               " ";
      }
      return out + close;
    }
    const std::string item = s.contains("items")
                                 ? visit(s["items"], fresh_name(name + "-item"), path + "/items", depth + 1)
                                 : primitive("value");
    const int64_t min = count(s, "minItems", 0, path);
    const int64_t max = count(s, "maxItems", -1, path);
    if (max >= 0 && max < min) fail(path, "maxItems is below minItems");
    if (max == 0) return open + close;
    const std::string rest = repeat(comma + item, min == 0 ? 0 : min - 1, max < 0 ? -1 : max - 1);
    const std::string items = item + " " + rest;
    return open + (min == 0 ? "(" + items + ")? " : items + " ") + close;
  }

  std::string object(const Json& s, const std::string& name, const std::string& path, int depth) {
    std::set<std::string> required;
    if (s.contains("required")) {
      if (!s["required"].is_array()) fail(path, "'required' must be an array of names");
      for (const Json& r : s["required"]) {
        if (!r.is_string()) fail(path, "'required' must be an array of names");
        required.insert(r.get<std::string>());
      }
    }
    std::vector<Member> props;
    std::vector<std::string> names;
    const std::string colon = R"(":" )" + primitive("space") + " ";
    if (s.contains("properties")) {
      if (!s["properties"].is_object()) fail(path, "'properties' must be an object");
      for (const auto& [key, sub] : s["properties"].items()) {
        const std::string value = visit(sub, fresh_name(name + "-" + key), path + "/properties/" + key, depth + 1);
        const std::string kv =
            add_rule(fresh_name(name + "-" + key + "-kv"),
                     gbnf_literal(Json(key).dump()) + " " + primitive("space") + " " + colon + value);
        props.push_back({kv, required.count(key) > 0});
        names.push_back(key);
        required.erase(key);
      }
    }
    if (!required.empty()) fail(path, "required property '" + *required.begin() + "' is not in 'properties'");
    // Extra keys: none for additionalProperties false, else string keys with the given (or any) values.
    std::string extra;
    const Json additional = s.contains("additionalProperties") ? s["additionalProperties"] : Json(true);
    if (!(additional.is_boolean() && !additional.get<bool>())) {
      const std::string value = additional.is_boolean() ? primitive("value")
                                                        : visit(additional, fresh_name(name + "-additional"),
                                                                path + "/additionalProperties", depth + 1);
      extra = add_rule(fresh_name(name + "-additional-kv"), other_key(names, name) + " " + colon + value);
    }
    std::map<std::pair<bool, size_t>, std::string> memo;
    return R"("{" )" + primitive("space") + " " + members(props, extra, name, false, 0, memo) + R"( "}" )" +
           primitive("space");
  }

  // A key (with its quotes and space) that is none of `names` as written plainly: a trie of the names, each node
  // allowing any character but its children's, or a child and what may follow it; a node where a name ends may
  // not end the key. (A name spelled with escapes, \u0061 for a, is not recognised.) Names that need escapes
  // themselves are not excluded at all.
  std::string other_key(const std::vector<std::string>& names, const std::string& hint) {
    if (names.empty()) return primitive("string");
    struct Node {
      std::map<uint32_t, size_t> next;
      bool end = false;
    };
    std::vector<Node> trie(1);
    for (const std::string& n : names) {
      if (Json(n).dump().size() != n.size() + 2) return primitive("string");  // needs escapes
      size_t at = 0;
      for (size_t i = 0; i < n.size();) {
        const Utf8Step step = decode_utf8_at(n, i);
        if (step.length == 0) return primitive("string");
        i += step.length;
        auto it = trie[at].next.find(step.code_point);
        if (it == trie[at].next.end()) {
          it = trie[at].next.emplace(step.code_point, trie.size()).first;
          trie.emplace_back();
        }
        at = it->second;
      }
      trie[at].end = true;
    }
    primitive("char");
    std::vector<std::string> rule(trie.size());  // one rule per node, each name taken before any is written
    for (size_t i = 0; i < trie.size(); ++i) rule[i] = add_rule(fresh_name(hint + "-other-key"), "");
    for (size_t i = 0; i < trie.size(); ++i) {
      std::string excluded = R"([^"\\\x7F\x00-\x1F)";
      std::string alts;
      for (const auto& [cp, child] : trie[i].next) {
        char buf[16];
        std::snprintf(buf, sizeof buf, cp > 0xFFFF ? "\\U%08X" : "\\u%04X", cp);
        excluded += buf;
        alts += std::string(" | [") + buf + "] " + rule[child];
      }
      add_rule(rule[i], "(" + excluded + R"(] | [\\] (["\\bfnrt] | "u" [0-9a-fA-F]{4})) char*)" + alts +
                            (trie[i].end ? "" : R"( | "")"));
    }
    return R"("\"" )" + rule[0] + R"( "\"" )" + primitive("space");
  }

  // The members from index i on, in order, optional ones left out at will: `after` says whether one was written
  // before (so the next needs a comma). One rule per (i, after), so the grammar grows linearly.
  std::string members(const std::vector<Member>& props, const std::string& extra, const std::string& name, bool after,
                      size_t i, std::map<std::pair<bool, size_t>, std::string>& memo) {
    auto known = memo.find({after, i});
    if (known != memo.end()) return known->second;
    const std::string comma = after ? R"("," )" + primitive("space") + " " : "";
    if (i == props.size()) {
      if (extra.empty()) return "\"\"";
      const std::string more = "(" + std::string(R"("," )") + primitive("space") + " " + extra + ")*";
      return after ? more : "(" + extra + " " + more + ")?";
    }
    const std::string rule = fresh_name(name + "-" + (after ? "b" : "a") + std::to_string(i));
    add_rule(rule, "");
    memo[{after, i}] = rule;
    const std::string with = comma + props[i].kv + " " + members(props, extra, name, true, i + 1, memo);
    const std::string body = props[i].required ? with : with + " | " + members(props, extra, name, after, i + 1, memo);
    return add_rule(rule, body);
  }

  const Json& root_;
  std::map<std::string, std::string> rules_;
  std::map<std::string, std::string> refs_;  // $ref target -> rule
  std::map<std::string, int> suffix_;        // per name hint, the last number appended
};

}  // namespace

std::string gbnf_literal(std::string_view text) {
  std::string out = "\"";
  for (char c : text) {
    switch (c) {
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
      default:
        if (static_cast<unsigned char>(c) < 0x20 || c == 0x7F) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\x%02X", static_cast<unsigned>(static_cast<unsigned char>(c)));
          out += buf;
        } else {
          out += c;
        }
    }
  }
  return out + "\"";
}

std::string json_schema_to_gbnf(const nlohmann::ordered_json& schema) { return SchemaConverter(schema).convert(); }

std::string json_schema_to_gbnf(std::string_view schema_text) {
  Json schema;
  try {
    schema = Json::parse(schema_text);
  } catch (const std::exception& e) {
    throw Error(std::string("json schema: not valid JSON: ") + e.what());
  }
  return json_schema_to_gbnf(schema);
}

std::string json_object_gbnf() { return json_schema_to_gbnf(Json::parse(R"({"type": "object"})")); }

}  // namespace ternion
