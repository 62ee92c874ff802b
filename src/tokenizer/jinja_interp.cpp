// The Jinja interpreter: statements (for, if, set, macro, filter blocks, loop controls) and expressions, with
// jinja2's scoping (each for-loop iteration and macro call gets its own frame; namespaces carry state out).
#include "jinja_interp.h"

#include "ternion/core/error.h"

namespace ternion::jinja {

namespace {

constexpr int kMaxCallDepth = 64;
constexpr int kMaxEvalDepth = 400;

// Prefixes the line, and keeps the message on one line (it can quote strings from the template or context).
std::string with_line(int line, const std::string& msg) {
  std::string out = msg.rfind("chat template", 0) == 0 ? "" : "chat template line " + std::to_string(line) + ": ";
  for (char c : msg) {
    if (c == '\n') {
      out += "\\n";
    } else if (c == '\r') {
      out += "\\r";
    } else {
      out += c;
    }
  }
  return out;
}

// A macro defined in the template. It holds its defining frame weakly: frames own the macros defined in them,
// and a macro cannot outlive that frame (set only writes the current frame; namespaces refuse callables).
class Macro : public Callable {
 public:
  Macro(const Stmt& def, const FramePtr& scope) : def_(def), scope_(scope) {}

  Value call(Interp& in, Args& args) override {
    FramePtr parent = scope_.lock();
    if (!parent) throw Error("macro '" + def_.name + "' called outside the scope it was defined in");
    if (args.pos.size() > def_.params.size()) {
      throw Error("macro '" + def_.name + "' takes " + std::to_string(def_.params.size()) + " arguments, " +
                  std::to_string(args.pos.size()) + " given");
    }
    auto frame = std::make_shared<Frame>();
    frame->parent = parent;
    for (const auto& [key, v] : args.kw) {
      bool known = false;
      for (const auto& p : def_.params) known = known || p.name == key;
      if (!known) throw Error("macro '" + def_.name + "' has no argument '" + key + "'");
    }
    for (size_t k = 0; k < def_.params.size(); ++k) {
      const MacroParam& p = def_.params[k];
      if (args.has(k, p.name.c_str())) {
        frame->set(p.name, args.get(k, p.name.c_str()));
      } else if (p.default_value) {
        frame->set(p.name, in.eval(*p.default_value, frame));
      } else {
        frame->set(p.name, Value::undefined(p.name));
      }
    }
    in.enter_call();
    std::string out;
    try {
      in.render(def_.body, frame, out);
    } catch (...) {
      in.leave_call();
      throw;
    }
    in.leave_call();
    return Value::string(std::move(out));
  }

 private:
  const Stmt& def_;
  std::weak_ptr<Frame> scope_;
};

// True when `v` holds a namespace or a callable anywhere; those may not be stored in a namespace (no cycles).
bool holds_reference(const Value& v, Budget& budget) {
  budget.charge();
  if (v.kind == Kind::Callable || v.is_namespace()) return true;
  if (v.is_list()) {
    for (const Value& x : v.list->items) {
      if (holds_reference(x, budget)) return true;
    }
  } else if (v.is_dict()) {
    for (const auto& kv : v.dict->items) {
      if (holds_reference(kv.second, budget)) return true;
    }
  }
  return false;
}

// loop.cycle(a, b, ...): the argument at the iteration's index, modulo their count.
class LoopCycle : public Callable {
 public:
  explicit LoopCycle(size_t index) : index_(index) {}
  Value call(Interp&, Args& args) override {
    if (args.pos.empty()) throw Error("loop.cycle needs at least one argument");
    return args.pos[index_ % args.pos.size()];
  }

 private:
  size_t index_;
};

Value make_loop(size_t k, const std::vector<Value>& items) {
  Value cycle;
  cycle.kind = Kind::Callable;
  cycle.fn = std::make_shared<LoopCycle>(k);
  const auto n = static_cast<int64_t>(items.size());
  const auto i = static_cast<int64_t>(k);
  std::vector<std::pair<std::string, Value>> fields = {
      {"index", Value::integer(i + 1)},
      {"index0", Value::integer(i)},
      {"revindex", Value::integer(n - i)},
      {"revindex0", Value::integer(n - i - 1)},
      {"first", Value::boolean(k == 0)},
      {"last", Value::boolean(i == n - 1)},
      {"length", Value::integer(n)},
      {"depth", Value::integer(1)},
      {"depth0", Value::integer(0)},
      {"previtem", k > 0 ? items[k - 1] : Value::undefined("loop.previtem")},
      {"nextitem", i + 1 < n ? items[k + 1] : Value::undefined("loop.nextitem")},
      {"cycle", std::move(cycle)},
  };
  return Value::make_dict(std::move(fields));
}

}  // namespace

const Value* Frame::find(const std::string& name) const {
  for (const Frame* f = this; f != nullptr; f = f->parent.get()) {
    for (const auto& [k, v] : f->vars) {
      if (k == name) return &v;
    }
  }
  return nullptr;
}

void Frame::set(const std::string& name, Value v) {
  for (auto& [k, x] : vars) {
    if (k == name) {
      x = std::move(v);
      return;
    }
  }
  vars.emplace_back(name, std::move(v));
}

bool Args::has(size_t index, const char* name) const {
  if (index < pos.size()) return true;
  for (const auto& kv : kw) {
    if (kv.first == name) return true;
  }
  return false;
}

Value Args::get(size_t index, const char* name, Value fallback) const {
  if (index < pos.size()) return pos[index];
  for (const auto& kv : kw) {
    if (kv.first == name) return kv.second;
  }
  return fallback;
}

void Interp::emit(std::string& out, std::string_view text) {
  budget_.check_size(out.size() + text.size());
  budget_.charge(text.size() / 64);
  out += text;
}

void Interp::enter_call() {
  if (++call_depth_ > kMaxCallDepth) {
    --call_depth_;
    throw Error("macro calls nested more than " + std::to_string(kMaxCallDepth) + " deep (endless recursion?)");
  }
}

void Interp::render(const Body& body, const FramePtr& frame, std::string& out) {
  if (exec(body, frame, out) != Flow::Normal)
    throw Error("chat template: {% break %} or {% continue %} outside a loop");
}

Interp::Flow Interp::exec(const Body& body, const FramePtr& frame, std::string& out) {
  for (const StmtPtr& s : body) {
    Flow f;
    try {
      f = exec_stmt(*s, frame, out);
    } catch (const Error& e) {
      throw Error(with_line(s->line, e.what()));
    }
    if (f != Flow::Normal) return f;
  }
  return Flow::Normal;
}

Interp::Flow Interp::exec_stmt(const Stmt& s, const FramePtr& frame, std::string& out) {
  budget_.charge();
  switch (s.kind) {
    case StmtKind::Text:
      emit(out, s.text);
      break;
    case StmtKind::Output: {
      const Value v = eval(*s.expr, frame);
      if (v.is_string()) {
        emit(out, v.s);
      } else {
        emit(out, to_str(v, budget_));
      }
      break;
    }
    case StmtKind::If:
      for (const auto& [cond, body] : s.branches) {
        if (truthy(eval(*cond, frame))) return exec(body, frame, out);
      }
      return exec(s.else_body, frame, out);
    case StmtKind::For:
      return exec_for(s, frame, out);
    case StmtKind::Set:
      exec_set(s, frame, eval(*s.expr, frame));
      break;
    case StmtKind::SetBlock:
    case StmtKind::FilterBlock: {
      std::string text;
      const Flow f = exec(s.body, frame, text);
      if (f != Flow::Normal) return f;
      Value v = Value::string(std::move(text));
      if (s.expr) v = eval_filter(*s.expr, frame, std::move(v));
      if (s.kind == StmtKind::SetBlock) {
        exec_set(s, frame, std::move(v));
      } else {
        emit(out, to_str(v, budget_));
      }
      break;
    }
    case StmtKind::Macro: {
      Value v;
      v.kind = Kind::Callable;
      v.fn = std::make_shared<Macro>(s, frame);
      frame->set(s.name, std::move(v));
      break;
    }
    case StmtKind::Break:
      return Flow::Break;
    case StmtKind::Continue:
      return Flow::Continue;
  }
  return Flow::Normal;
}

Interp::Flow Interp::exec_for(const Stmt& s, const FramePtr& frame, std::string& out) {
  std::vector<Value> items = iterate(eval(*s.expr, frame));
  if (s.cond) {  // `for x in xs if cond`: filtered first, so loop.index and loop.length count the kept items
    std::vector<Value> kept;
    for (Value& item : items) {
      auto f = std::make_shared<Frame>();
      f->parent = frame;
      exec_set(s, f, item);
      if (truthy(eval(*s.cond, f))) kept.push_back(std::move(item));
    }
    items = std::move(kept);
  }
  for (size_t k = 0; k < items.size(); ++k) {
    budget_.charge();
    auto f = std::make_shared<Frame>();
    f->parent = frame;
    f->set("loop", make_loop(k, items));
    exec_set(s, f, items[k]);
    if (exec(s.body, f, out) == Flow::Break) break;
  }
  if (items.empty()) return exec(s.else_body, frame, out);
  return Flow::Normal;
}

void Interp::exec_set(const Stmt& s, const FramePtr& frame, Value v) {
  if (!s.attr.empty()) {
    const Value* ns = frame->find(s.targets[0]);
    if (ns == nullptr || !ns->is_namespace()) {
      throw Error("cannot assign attribute '" + s.attr + "' of '" + s.targets[0] + "': not a namespace");
    }
    if (holds_reference(v, budget_)) throw Error("a namespace attribute cannot hold a namespace or a macro");
    ns->dict->set(s.attr, std::move(v));
    return;
  }
  if (s.targets.size() == 1) {
    frame->set(s.targets[0], std::move(v));
    return;
  }
  const std::vector<Value> parts = iterate(v);
  if (parts.size() != s.targets.size()) {
    throw Error("cannot unpack " + std::to_string(parts.size()) + " values into " + std::to_string(s.targets.size()) +
                " names");
  }
  for (size_t k = 0; k < parts.size(); ++k) frame->set(s.targets[k], parts[k]);
}

Value Interp::eval(const Expr& e, const FramePtr& frame) {
  budget_.charge();
  if (++eval_depth_ > kMaxEvalDepth) {
    --eval_depth_;
    throw Error("expressions nested too deep");
  }
  try {
    Value v = eval_inner(e, frame);
    --eval_depth_;
    if (v.is_string()) budget_.charge(v.s.size() / 256);  // values are copied: a big string costs its size
    return v;
  } catch (...) {
    --eval_depth_;
    throw;
  }
}

Args Interp::eval_args(const Expr& e, const FramePtr& frame) {
  Args a;
  for (const auto& x : e.args) a.pos.push_back(eval(*x, frame));
  for (const auto& [k, x] : e.kwargs) a.kw.emplace_back(k, eval(*x, frame));
  return a;
}

Value Interp::eval_filter(const Expr& e, const FramePtr& frame, Value input) {
  // The innermost filter of a {% filter %} or block-set chain has no input expression: it takes the body.
  if (e.a && e.a->kind == ExprKind::Filter) {
    input = eval_filter(*e.a, frame, std::move(input));
  } else if (e.a) {
    input = eval(*e.a, frame);
  }
  Args args = eval_args(e, frame);
  return apply_filter(*this, e.name, input, args);
}

Value Interp::eval_call(const Expr& e, const FramePtr& frame) {
  if (e.a->kind == ExprKind::Attr) {  // a method call: obj.name(args)
    Value obj = eval(*e.a->a, frame);
    if (obj.is_dict() && !obj.is_namespace()) {
      const Value* member = obj.dict->find(e.a->name);
      if (member != nullptr && member->kind == Kind::Callable) {
        Args args = eval_args(e, frame);
        return member->fn->call(*this, args);
      }
    }
    if (obj.is_namespace()) {
      const Value* member = obj.dict->find(e.a->name);
      if (member == nullptr || member->kind != Kind::Callable) {
        throw Error("namespace has no callable attribute '" + e.a->name + "'");
      }
    }
    Args args = eval_args(e, frame);
    return call_method(*this, obj, e.a->name, args);
  }
  Value fn = eval(*e.a, frame);
  if (fn.kind != Kind::Callable) {
    if (fn.is_undefined()) throw Error("'" + (fn.s.empty() ? std::string("value") : fn.s) + "' is undefined");
    throw Error(std::string("'") + type_name(fn) + "' object is not callable");
  }
  Args args = eval_args(e, frame);
  return fn.fn->call(*this, args);
}

Value Interp::eval_inner(const Expr& e, const FramePtr& frame) {
  switch (e.kind) {
    case ExprKind::Literal:
      return e.value;
    case ExprKind::Name: {
      const Value* v = frame->find(e.name);
      return v ? *v : Value::undefined(e.name);
    }
    case ExprKind::List: {
      std::vector<Value> items;
      items.reserve(e.args.size());
      for (const auto& x : e.args) items.push_back(eval(*x, frame));
      return Value::make_list(std::move(items), e.is_tuple);
    }
    case ExprKind::Dict: {
      std::vector<std::pair<std::string, Value>> items;
      for (size_t k = 0; k + 1 < e.args.size(); k += 2) {
        Value key = eval(*e.args[k], frame);
        if (!key.is_string()) throw Error("dict keys must be strings in chat templates");
        items.emplace_back(std::move(key.s), eval(*e.args[k + 1], frame));
      }
      return Value::make_dict(std::move(items));
    }
    case ExprKind::Attr:
      return get_attr(eval(*e.a, frame), e.name);
    case ExprKind::Item:
      return get_item(eval(*e.a, frame), eval(*e.b, frame));
    case ExprKind::Slice: {
      Value obj = eval(*e.a, frame);
      Value parts[3];
      for (size_t k = 0; k < 3; ++k) {
        if (e.args[k]) parts[k] = eval(*e.args[k], frame);
      }
      return slice(obj, parts[0], parts[1], parts[2]);
    }
    case ExprKind::Call:
      return eval_call(e, frame);
    case ExprKind::Filter:
      return eval_filter(e, frame, Value());
    case ExprKind::Test: {
      Value v = eval(*e.a, frame);
      Args args = eval_args(e, frame);
      return Value::boolean(apply_test(*this, e.name, v, args) != e.negated);
    }
    case ExprKind::Unary: {
      Value v = eval(*e.a, frame);
      if (e.name == "not") return Value::boolean(!truthy(v));
      if (!v.is_number()) throw Error(std::string("bad operand type for unary ") + e.name + ": '" + type_name(v) + "'");
      if (e.name == "+") return v.kind == Kind::Bool ? Value::integer(v.b) : v;
      if (v.kind == Kind::Float) return Value::number(-v.f);
      return binary_op("-", Value::integer(0), v, budget_);
    }
    case ExprKind::Binary: {
      if (e.name == "and") {
        Value l = eval(*e.a, frame);
        return truthy(l) ? eval(*e.b, frame) : l;
      }
      if (e.name == "or") {
        Value l = eval(*e.a, frame);
        return truthy(l) ? l : eval(*e.b, frame);
      }
      return binary_op(e.name, eval(*e.a, frame), eval(*e.b, frame), budget_);
    }
    case ExprKind::Compare: {
      Value left = eval(*e.a, frame);
      for (size_t k = 0; k < e.ops.size(); ++k) {
        Value right = eval(*e.args[k], frame);
        if (!compare_op(e.ops[k], left, right, budget_)) return Value::boolean(false);
        left = std::move(right);
      }
      return Value::boolean(true);
    }
    case ExprKind::Cond:
      if (truthy(eval(*e.b, frame))) return eval(*e.a, frame);
      return e.c ? eval(*e.c, frame) : Value::undefined();
  }
  return Value();
}

}  // namespace ternion::jinja
