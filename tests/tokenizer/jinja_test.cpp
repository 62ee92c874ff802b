// Unit tests of the Jinja interpreter: lexer whitespace control, parser precedence, values, filters, tests,
// methods, scoping, error messages and limits. Expected strings were checked against Python jinja2 3.1.6 configured
// as HF transformers configures it.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>

#include "ternion/core/error.h"
#include "ternion/tokenizer/chat_template.h"
#include "tokenizer/jinja_ast.h"
#include "tokenizer/jinja_value.h"

namespace ternion {
namespace {

const nlohmann::ordered_json& ctx() {
  static const auto c = nlohmann::ordered_json::parse(R"({
    "messages": [{"role": "system", "content": "Be nice."}, {"role": "user", "content": "Hi"},
                 {"role": "assistant", "content": "Hello"}],
    "n": 3, "f": 2.5, "s": "Hello World  ", "d": {"b": 1, "a": {"x": [1, 2]}, "c": "é"}, "e": [],
    "u8": "héllo ✓", "bos_token": "<s>"
  })");
  return c;
}

std::string render(const std::string& src, ChatTemplateLimits limits = {}) {
  ChatTemplate t(src);
  t.set_limits(limits);
  return t.render(ctx());
}

// The Error message of rendering `src` ("" when it renders).
std::string error_of(const std::string& src, ChatTemplateLimits limits = {}) {
  try {
    render(src, limits);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST(JinjaLexer, TokensAndLines) {
  const auto toks = jinja::lex("a\n{{ x.y[1] }}\n{% if 1.5 %}");
  ASSERT_GE(toks.size(), 10u);
  EXPECT_EQ(toks[0].type, jinja::Tok::Data);
  EXPECT_EQ(toks[1].type, jinja::Tok::VarBegin);
  EXPECT_EQ(toks[1].line, 2);
  EXPECT_EQ(toks[2].text, "x");
  EXPECT_EQ(toks[3].text, ".");
  EXPECT_EQ(toks[6].type, jinja::Tok::Int);
  const auto& f = toks[toks.size() - 3];
  EXPECT_EQ(f.type, jinja::Tok::Float);
  EXPECT_EQ(f.line, 3);
}

TEST(JinjaLexer, StringEscapes) {
  EXPECT_EQ(render(R"({{ 'it\'s' }}|{{ "tab\there" }}|{{ "\x41\u00e9" }}|{{ "a" "b" }})"), "it's|tab\there|Aé|ab");
}

TEST(JinjaLexer, WhitespaceControl) {
  EXPECT_EQ(render("a  {{- 'b' -}}  \n c"), "abc");
  EXPECT_EQ(render("a\n  {%- if true %}x{% endif %}"), "ax");
  // trim_blocks eats the newline after a block tag; lstrip_blocks the indentation before it.
  EXPECT_EQ(render("\n  {% if true %}\n  x\n  {% endif %}\n"), "\n  x\n");
  EXPECT_EQ(render("{% for i in [1,2] %}\n  {{ i }}\n{% endfor %}"), "  1\n  2\n");
  // `+` keeps the indentation; comments behave like blocks.
  EXPECT_EQ(render("a\n  {%+ if true %}b{% endif %}"), "a\n  b");
  EXPECT_EQ(render("{# c1 #}\n  {# c2 #}  \nend"), "  \nend");
  // Only one trailing newline of the template is dropped; \r\n reads as \n.
  EXPECT_EQ(render("{{ 'a' }}\n\n"), "a\n");
  EXPECT_EQ(render("x\r\ny\r\n"), "x\ny");
  EXPECT_EQ(render("{% raw %}{{ not parsed }}{% endraw %}"), "{{ not parsed }}");
  EXPECT_EQ(render("{% raw -%}   {{ x }}   {%- endraw %}"), "{{ x }}");
}

TEST(JinjaParser, Precedence) {
  EXPECT_EQ(render("{{ 1 + 2 * 3 }}|{{ 2 ** 3 ** 2 }}|{{ 10 - 2 - 3 }}|{{ - n ** 2 }}|{{ 2 * 3 ~ 4 }}"), "7|64|5|9|64");
  EXPECT_EQ(render("{{ not 1 == 2 }}|{{ 1 < 2 < 3 }}|{{ 3 > 2 > 5 }}|{{ -3|abs }}"), "True|True|False|3");
  EXPECT_EQ(render("{{ n if n > 2 else 'small' }}|{{ 'y' if false }}|{{ 0 or 'x' }}|{{ n and s }}"),
            "3||x|Hello World  ");
  EXPECT_EQ(render("{{ messages | length is divisibleby 3 }}|{{ n is not none }}"), "True|True");
}

TEST(JinjaValues, PythonStrAndRepr) {
  EXPECT_EQ(
      render("{{ none }}|{{ true }}|{{ [none, true, 1.0, \"x'y\", 'q'] }}|{{ {'a': 1} }}|{{ (1, 2) }}|{{ (1,) }}"),
      "None|True|[None, True, 1.0, \"x'y\", 'q']|{'a': 1}|(1, 2)|(1,)");
  EXPECT_EQ(render("{{ 0.1 + 0.2 }}|{{ 1e16 }}|{{ 1e15 }}|{{ 0.0001 }}|{{ 0.00001 }}|{{ 7 / 2 }}|{{ 10 / 2 }}"),
            "0.30000000000000004|1e+16|1000000000000000.0|0.0001|1e-05|3.5|5.0");
  EXPECT_EQ(render("{{ -7 // 2 }}|{{ -7 % 3 }}|{{ 2 ** -1 }}|{{ 'ab' * 2 }}|{{ [1] + [2] }}"), "-4|2|0.5|abab|[1, 2]");
  EXPECT_EQ(jinja::float_repr(123456789.123), "123456789.123");
  EXPECT_EQ(jinja::float_repr(-2.5e-7), "-2.5e-07");
}

TEST(JinjaFilters, ToJson) {
  EXPECT_EQ(render("{{ d|tojson }}"), R"({"b": 1, "a": {"x": [1, 2]}, "c": "é"})");
  EXPECT_EQ(render("{{ d|tojson(sort_keys=true) }}"), R"({"a": {"x": [1, 2]}, "b": 1, "c": "é"})");
  EXPECT_EQ(render("{{ d|tojson(separators=(',', ':')) }}"), R"({"b":1,"a":{"x":[1,2]},"c":"é"})");
  EXPECT_EQ(render("{{ d.a|tojson(indent=2) }}"), "{\n  \"x\": [\n    1,\n    2\n  ]\n}");
  EXPECT_EQ(render("{{ e|tojson(indent=2) }}|{{ 'é\\n\\u0001\"'|tojson }}|{{ [2.0, 1e20]|tojson }}"),
            "[]|\"é\\n\\u0001\\\"\"|[2.0, 1e+20]");
}

TEST(JinjaFilters, Strings) {
  EXPECT_EQ(render("{{ s|trim }}|{{ s|upper }}|{{ 'hello wORLD-foo'|title }}|{{ 'hELLO'|capitalize }}|{{ u8|length }}"),
            "Hello World|HELLO WORLD  |Hello World-Foo|Hello|7");
  EXPECT_EQ(
      render("{{ s|replace('l', 'L', 1) }}|{{ 'abc'|replace('', '-') }}|{{ '<a>&'|escape }}|{{ 'a b  c'|wordcount }}"),
      "HeLlo World  |-a-b-c-|&lt;a&gt;&amp;|3");
  EXPECT_EQ(render("{{ 'l1\\nl2\\n\\nl4'|indent(2) }}|{{ 'a\\nb'|indent(2, first=true) }}"),
            "l1\n  l2\n\n  l4|  a\n  b");
  // Markup + str escapes the str (functionary v3.1 relies on it).
  EXPECT_EQ(render("{{ 'Hi'|safe + ' <b>' }}|{{ '<i>'|escape ~ '<j>' }}"), "Hi &lt;b&gt;|&lt;i&gt;<j>");
}

TEST(JinjaFilters, Sequences) {
  EXPECT_EQ(render("{{ messages|map(attribute='role')|join(',') }}|"
                   "{{ messages|selectattr('role', 'equalto', 'user')|list|length }}|"
                   "{{ messages|rejectattr('role', 'equalto', 'user')|map(attribute='role')|list }}"),
            "system,user,assistant|1|['system', 'assistant']");
  EXPECT_EQ(
      render("{{ [3,1,2]|sort }}|{{ ['b','A','a']|sort }}|{{ ['b','A','a']|unique|list }}|{{ [1,2]|reverse|list }}"),
      "[1, 2, 3]|['A', 'a', 'b']|['b', 'A']|[2, 1]");
  EXPECT_EQ(render("{{ d|dictsort }}|{{ d|items|list|first }}|{{ [1,2,3]|sum }}|{{ [1,2,3,4,5]|batch(2)|list }}"),
            "[('a', {'x': [1, 2]}), ('b', 1), ('c', 'é')]|('b', 1)|6|[[1, 2], [3, 4], [5]]");
  EXPECT_EQ(
      render("{{ none|selectattr('x')|list }}|{{ x|default('d') }}|{{ ''|default('e', true) }}|{{ '3'|int + 1 }}"),
      "[]|d|e|4");
  EXPECT_EQ(render("{{ 2.5|round }}|{{ 3.14159|round(2) }}|{{ 3.7|int }}|{{ '3.7'|float }}"), "2.0|3.14|3|3.7");
}

TEST(JinjaMethods, StringAndDict) {
  EXPECT_EQ(render("{{ s.strip() }}|{{ s.split() }}|{{ 'a,b,,c'.split(',') }}|{{ 'a,b,c'.split(',', 1) }}"),
            "Hello World|['Hello', 'World']|['a', 'b', '', 'c']|['a', 'b,c']");
  EXPECT_EQ(render("{{ s.startswith('He') }}|{{ 'xxhixx'.strip('x') }}|{{ s.find('World') }}|{{ "
                   "'a</think>b'.split('</think>')[-1] }}"),
            "True|hi|6|b");
  EXPECT_EQ(render("{{ d.get('b') }}|{{ d.get('zz') }}|{{ d.get('zz', 5) }}|{{ d.keys()|list }}|{{ d.a.x.0 }}"),
            "1|None|5|['b', 'a', 'c']|1");
  EXPECT_EQ(render("{{ u8[1:4] }}|{{ u8[-1] }}|{{ [1,2,3,4,5][::-2] }}|{{ messages[1:]|length }}"),
            "éll|✓|[5, 3, 1]|2");
}

TEST(JinjaTests, IsTests) {
  EXPECT_EQ(render("{{ x is defined }}{{ n is defined }}{{ none is none }}{{ n is number }}{{ f is float }}"
                   "{{ n is integer }}{{ true is boolean }}{{ s is string }}{{ d is mapping }}{{ e is iterable }}"),
            "FalseTrueTrueTrueTrueTrueTrueTrueTrueTrue");
  EXPECT_EQ(render("{{ n is even }}{{ n is odd }}{{ n is divisibleby 3 }}{{ n is eq 3 }}{{ n is lt 4 }}"
                   "{{ n is ge 4 }}{{ 2 is in [1, 2] }}{{ 1 is true }}{{ 'a' in 'cat' }}{{ 'z' not in d }}"),
            "FalseTrueTrueTrueTrueFalseTrueFalseTrueTrue");
}

TEST(JinjaStatements, LoopsAndScopes) {
  EXPECT_EQ(render("{% for m in messages %}{{ loop.index }}{{ loop.first }}{{ loop.last }}{{ loop.revindex }}"
                   "{{ loop.previtem.role if loop.previtem }}{{ loop.nextitem is defined }} {% endfor %}"),
            "1TrueFalse3True 2FalseFalse2systemTrue 3FalseTrue1userFalse ");
  EXPECT_EQ(render("{% for m in messages if m.role != 'system' %}{{ loop.index }}/{{ loop.length }} {% endfor %}"),
            "1/2 2/2 ");
  EXPECT_EQ(render("{% for i in range(10) %}{% if i == 2 %}{% continue %}{% endif %}{% if i == 5 %}{% break %}"
                   "{% endif %}{{ i }}{% endfor %}|{% for x in e %}x{% else %}empty{% endfor %}"),
            "0134|empty");
  EXPECT_EQ(render("{% for k, v in d.items() %}{{ k }}={{ v }};{% endfor %}"), "b=1;a={'x': [1, 2]};c=é;");
  // A set inside a loop stays in that iteration; a namespace carries state out.
  EXPECT_EQ(render("{% set x = 1 %}{% for i in range(2) %}{% set x = x + 10 %}{{ x }}{% endfor %}{{ x }}"), "11111");
  EXPECT_EQ(
      render("{% set ns = namespace(x=1) %}{% for i in range(3) %}{% set ns.x = ns.x + i %}{% endfor %}{{ ns.x }}"),
      "4");
  EXPECT_EQ(
      render(
          "{% set t %}b{{ n }}{% endset %}{{ t }}|{% filter upper %}hi{% endfilter %}|{% set a, b = [1, 2] %}{{ b }}"),
      "b3|HI|2");
}

TEST(JinjaStatements, Macros) {
  EXPECT_EQ(
      render("{% macro m(a, b=2, c='c') %}[{{ a }}{{ b }}{{ c }}]{% endmacro %}{{ m(1) }}{{ m(1, 3) }}{{ m(1, c=5) }}"),
      "[12c][13c][125]");
  EXPECT_EQ(render("{% macro r(k) %}{% if k > 0 %}{{ k }}{{ r(k - 1) }}{% endif %}{% endmacro %}{{ r(4) }}"), "4321");
  EXPECT_EQ(render("{% macro m() %}{{ late }}{% endmacro %}{% set late = 9 %}{{ m() }}"), "9");
}

TEST(JinjaGlobals, RaiseAndStrftime) {
  EXPECT_EQ(error_of("line1\n{{ raise_exception('Roles must alternate') }}"),
            "chat template line 2: raise_exception: Roles must alternate");
  ChatTemplate t("{{ strftime_now('%d %b %Y') }}");
  std::tm now{};
  now.tm_year = 126;
  now.tm_mday = 15;
  t.set_now(now);
  EXPECT_EQ(t.render(nlohmann::ordered_json::object()), "15 Jan 2026");
}

TEST(JinjaErrors, UndefinedSemantics) {
  EXPECT_EQ(
      render(
          "[{{ x }}]{{ d.missing }}{{ d.missing is defined }}{{ x|length }}{{ [1][5] }}{% for i in x %}{% endfor %}"),
      "[]False0");
  EXPECT_EQ(error_of("{{ x.attr }}"), "chat template line 1: 'x' is undefined");
  EXPECT_NE(error_of("{{ x + 1 }}").find("undefined"), std::string::npos);
  EXPECT_NE(error_of("{{ x|tojson }}").find("not JSON serializable"), std::string::npos);
}

TEST(JinjaErrors, NameTheConstructAndLine) {
  EXPECT_EQ(error_of("a\n\n{% include 'x' %}"), "chat template line 3: unsupported tag {% include %}");
  EXPECT_EQ(error_of("{{ [1]|nosuchfilter }}"), "chat template line 1: unknown filter 'nosuchfilter'");
  EXPECT_EQ(error_of("{{ 1 is nosuchtest }}"), "chat template line 1: unknown test 'nosuchtest'");
  EXPECT_EQ(error_of("{% if true %}"), "chat template line 1: unexpected end of template, expected {% elif %}");
  EXPECT_EQ(error_of("{{ 1 +* 2 }}"), "chat template line 1: unexpected '*' in an expression");
  EXPECT_EQ(error_of("{{ messages.append(1) }}"),
            "chat template line 1: access to attribute 'append' of 'list' object is unsafe");
  EXPECT_EQ(error_of("{{ '%d' % 3 }}"),
            "chat template line 1: printf-style string formatting ('%' on a string) is not supported");
  EXPECT_EQ(error_of("{{ 1 / 0 }}"), "chat template line 1: division by zero");
  EXPECT_EQ(error_of("{{ 'a' < 1 }}"), "chat template line 1: '<' not supported between instances of 'str' and 'int'");
  EXPECT_EQ(error_of("{{ 'a\\nb'.nomethod() }}"), "chat template line 1: unknown string method 'nomethod'");
  EXPECT_EQ(error_of("{{ raise_exception('two\\nlines') }}"), "chat template line 1: raise_exception: two\\nlines");
}

TEST(JinjaLimits, HostileTemplates) {
  ChatTemplateLimits small;
  small.max_steps = 100'000;
  small.max_bytes = 1u << 16;
  EXPECT_NE(error_of("{% for i in range(1000000) %}{% for j in range(1000000) %}{% endfor %}{% endfor %}", small)
                .find("steps"),
            std::string::npos);
  EXPECT_NE(error_of("{% for i in range(10000) %}xxxxxxxxxx{% endfor %}", small).find("exceed"), std::string::npos);
  EXPECT_NE(error_of("{{ 'x' * 100000000000 }}", small).find("exceed"), std::string::npos);
  EXPECT_NE(error_of("{% macro f() %}{{ f() }}{% endmacro %}{{ f() }}").find("nested more than"), std::string::npos);
  EXPECT_NE(error_of("{{ " + std::string(500, '(') + "1" + std::string(500, ')') + " }}").find("nesting deeper"),
            std::string::npos);
  std::string deep = "{% set ns = namespace(v=[]) %}{% for i in range(300) %}{% set ns.v = [ns.v] %}{% endfor %}";
  EXPECT_NE(error_of(deep).find("nested more than"), std::string::npos);
  EXPECT_NE(error_of("{% set ns = namespace(a=1) %}{% set ns.a = ns %}").find("cannot hold a namespace"),
            std::string::npos);
  EXPECT_NE(error_of("{{ 9223372036854775807 + 1 }}").find("integer overflow"), std::string::npos);
  EXPECT_NE(error_of("{{ d.99999999999999999999 }}").find("out of range"), std::string::npos);  // found by fuzzing
  EXPECT_NE(error_of("{{ 99999999999999999999 }}").find("out of range"), std::string::npos);
}

}  // namespace
}  // namespace ternion
