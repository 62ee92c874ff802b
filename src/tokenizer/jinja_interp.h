// The Jinja tree-walking interpreter: scopes, statements, expressions, and the built-in filters, tests, methods and
// global functions (jinja_builtins.cpp) that chat templates use.
#pragma once

#include <ctime>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "jinja_ast.h"
#include "jinja_value.h"

namespace ternion::jinja {

// One scope: the template's top level, a for-loop iteration or a macro call. Lookups walk to the parents.
struct Frame {
  std::vector<std::pair<std::string, Value>> vars;
  std::shared_ptr<Frame> parent;
  const Value* find(const std::string& name) const;
  void set(const std::string& name, Value v);
};
using FramePtr = std::shared_ptr<Frame>;

// Arguments of a call, filter or test (the filter's input is passed separately).
struct Args {
  std::vector<Value> pos;
  std::vector<std::pair<std::string, Value>> kw;
  // Python's binding of parameter `index`/`name`: positional first, then keyword, else `fallback`.
  Value get(size_t index, const char* name, Value fallback = Value()) const;
  bool has(size_t index, const char* name) const;
};

class Interp;

class Callable {
 public:
  virtual ~Callable() = default;
  virtual Value call(Interp& in, Args& args) = 0;
};

class Interp {
 public:
  Interp(Budget& budget, const std::tm& now) : budget_(budget), now_(now) {}

  // Renders `body` into `out` in scope `frame`.
  void render(const Body& body, const FramePtr& frame, std::string& out);
  Value eval(const Expr& e, const FramePtr& frame);

  Budget& budget() { return budget_; }
  const std::tm& now() const { return now_; }
  // Appends text to an output, enforcing the size limit.
  void emit(std::string& out, std::string_view text);

  // Macro calls: bounds recursion.
  void enter_call();
  void leave_call() { --call_depth_; }

 private:
  enum class Flow { Normal, Break, Continue };
  Flow exec(const Body& body, const FramePtr& frame, std::string& out);
  Flow exec_stmt(const Stmt& s, const FramePtr& frame, std::string& out);
  Flow exec_for(const Stmt& s, const FramePtr& frame, std::string& out);
  void exec_set(const Stmt& s, const FramePtr& frame, Value v);
  Value eval_inner(const Expr& e, const FramePtr& frame);
  Value eval_call(const Expr& e, const FramePtr& frame);
  Value eval_filter(const Expr& e, const FramePtr& frame, Value input);
  Args eval_args(const Expr& e, const FramePtr& frame);

  Budget& budget_;
  std::tm now_;
  int call_depth_ = 0;
  int eval_depth_ = 0;
};

// jinja_builtins.cpp. Each throws Error (without the line prefix; the interpreter adds it) on bad input.
Value apply_filter(Interp& in, const std::string& name, const Value& input, Args& args);
bool apply_test(Interp& in, const std::string& name, const Value& v, Args& args);
Value call_method(Interp& in, const Value& obj, const std::string& name, Args& args);
// The global functions: range, namespace, dict, raise_exception, strftime_now.
void add_globals(Frame& frame);

// jinja_ops.cpp: Python operators over values.
Value binary_op(const std::string& op, const Value& a, const Value& b, Budget& budget);
bool compare_op(const std::string& op, const Value& a, const Value& b, Budget& budget);
Value get_attr(const Value& obj, const std::string& name);
Value get_item(const Value& obj, const Value& key);
Value slice(const Value& obj, const Value& start, const Value& stop, const Value& step);
// The elements a for loop or a filter sees: list items, dict keys, string characters, nothing for undefined.
std::vector<Value> iterate(const Value& v);
// len(v) as Python computes it (code points for strings).
int64_t length(const Value& v);

}  // namespace ternion::jinja
