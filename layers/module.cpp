// Module mechanics: children and paths, parameters and buffers, modes, in-place device moves,
// state dicts, printing, and the default shape-planning hooks.
#include <algorithm>
#include <map>
#include <ostream>
#include <set>
#include <sstream>
#include <strider/core/autograd.hpp>
#include <strider/layers/diagnose.hpp>
#include <strider/layers/module.hpp>

namespace strider::nn {
namespace {

std::string join(const std::string& prefix, const std::string& name) {
  if (prefix.empty() || name.empty()) return prefix + name;
  return prefix + "." + name;
}

std::string list(const std::vector<std::string>& names) {
  std::string s;
  for (const auto& n : names) s += (s.empty() ? "" : ", ") + n;
  return s;
}

// Indents every line after the first by two spaces (nested module printing).
std::string indent(const std::string& s) {
  std::string out;
  for (char c : s) {
    out += c;
    if (c == '\n') out += "  ";
  }
  return out;
}

// Points `t`'s own TensorImpl at a copy on `device` in `dtype`, so every handle sharing it follows.
void move_in_place(Tensor& t, Device device, DType dtype) {
  if (!t.defined() || (t.device() == device && t.dtype() == dtype)) return;
  NoGradGuard no_grad;
  const Tensor moved = t.detach().to(device, dtype);
  const Tensor grad = t.grad();
  TensorImpl* impl = t.impl();
  impl->storage = moved.storage();
  impl->shape = moved.shape();
  impl->strides = moved.strides();
  impl->offset = moved.offset();
  impl->dtype = moved.dtype();
  if (grad.defined()) t.set_grad(grad.to(device, dtype));
}

}  // namespace

Module::Module(std::string type) : type_(std::move(type)) {}

Tensor Module::forward(const Tensor&) {
  STRIDER_THROW(ValueError, (path_.empty() ? type_ : path_ + ": " + type_)
                                << " has no forward(): a module class must override Module::forward");
}

// ---- identity ----------------------------------------------------------------------------------------

Module& Module::set_name(const std::string& name) {
  STRIDER_CHECK(name.find('.') == std::string::npos, ValueError,
                "set_name(\"" << name << "\"): a module name cannot contain '.' (it separates path components)");
  name_ = name;
  set_path(name);
  return *this;
}

void Module::set_path(const std::string& path) {
  path_ = path;
  for (auto& [n, c] : children_) c->set_path(join(path_, n));
}

// ---- children, parameters, buffers ----------------------------------------------------------------------

void Module::check_new_name(const std::string& name, const char* what) const {
  const std::string where = path_.empty() ? type_ : path_;
  STRIDER_CHECK(!name.empty() && name.find('.') == std::string::npos, ValueError,
                where << ": " << what << " name \"" << name << "\" must be non-empty and contain no '.'");
  const bool taken = std::any_of(children_.begin(), children_.end(), [&](const auto& c) { return c.first == name; }) ||
                     std::any_of(params_.begin(), params_.end(), [&](const auto& p) { return p.first == name; }) ||
                     std::any_of(buffers_.begin(), buffers_.end(), [&](const auto& b) { return b.name == name; });
  STRIDER_CHECK(!taken, ValueError,
                where << ": cannot register " << what << " \"" << name
                      << "\": the name is already used by a child, parameter or buffer; pick another");
}

void Module::add_child(const std::string& name, std::shared_ptr<Module> module) {
  STRIDER_CHECK(module != nullptr, ValueError,
                (path_.empty() ? type_ : path_) << ": register_module(\"" << name << "\") got a null module");
  STRIDER_CHECK(module.get() != this, ValueError,
                "register_module(\"" << name << "\"): a module cannot contain itself");
  check_new_name(name, "module");
  module->name_ = name;
  module->set_path(join(path_, name));
  children_.emplace_back(name, std::move(module));
}

Tensor Module::register_parameter(const std::string& name, Tensor t, bool requires_grad) {
  check_new_name(name, "parameter");
  t.check_defined("register_parameter");
  if (requires_grad) t.requires_grad_(true);
  params_.emplace_back(name, t);
  return t;
}

Tensor Module::register_buffer(const std::string& name, Tensor t, bool keep_dtype) {
  check_new_name(name, "buffer");
  t.check_defined("register_buffer");
  buffers_.push_back({name, t, keep_dtype});
  return t;
}

std::vector<std::shared_ptr<Module>> Module::children() const {
  std::vector<std::shared_ptr<Module>> out;
  for (const auto& c : children_) out.push_back(c.second);
  return out;
}

std::vector<std::pair<std::string, std::shared_ptr<const Module>>> Module::named_modules() const {
  std::vector<std::pair<std::string, std::shared_ptr<const Module>>> out;
  // Owned by a shared_ptr as usual; a module on the stack is listed without ownership.
  std::shared_ptr<const Module> self = weak_from_this().lock();
  out.emplace_back("", self ? self : std::shared_ptr<const Module>(std::shared_ptr<const Module>(), this));
  for (const auto& [n, c] : children_) {
    for (auto& [sub, m] : c->named_modules()) out.emplace_back(join(n, sub), m);
  }
  return out;
}

std::shared_ptr<Module> Module::child(const std::string& name) const {
  for (const auto& c : children_) {
    if (c.first == name) return c.second;
  }
  std::vector<std::string> names;
  for (const auto& c : children_) names.push_back(c.first);
  STRIDER_THROW(IndexError, (path_.empty() ? type_ : path_) << " has no child \"" << name << "\"; its children: "
                                                            << (names.empty() ? "none" : list(names)));
}

void Module::collect(const std::string& prefix, bool recurse, bool params, bool bufs, NamedTensors& out) const {
  if (params) {
    for (const auto& [n, t] : params_) out.emplace_back(join(prefix, n), t);
  }
  if (bufs) {
    for (const auto& b : buffers_) out.emplace_back(join(prefix, b.name), b.tensor);
  }
  if (!recurse) return;
  for (const auto& [n, c] : children_) c->collect(join(prefix, n), true, params, bufs, out);
}

NamedTensors Module::named_parameters(bool recurse) const {
  NamedTensors out;
  collect("", recurse, true, false, out);
  // A parameter shared by two modules (tied weights) is listed once, under its first name.
  NamedTensors unique;
  for (auto& p : out) {
    if (std::none_of(unique.begin(), unique.end(), [&](const auto& u) { return u.second.same(p.second); }))
      unique.push_back(std::move(p));
  }
  return unique;
}

std::vector<Tensor> Module::parameters(bool recurse) const {
  std::vector<Tensor> out;
  for (auto& p : named_parameters(recurse)) out.push_back(p.second);
  return out;
}

NamedTensors Module::named_buffers(bool recurse) const {
  NamedTensors out;
  collect("", recurse, false, true, out);
  return out;
}

std::vector<Tensor> Module::buffers(bool recurse) const {
  std::vector<Tensor> out;
  for (auto& b : named_buffers(recurse)) out.push_back(b.second);
  return out;
}

std::int64_t Module::num_parameters(bool recurse) const {
  std::int64_t n = 0;
  for (const auto& p : named_parameters(recurse)) n += p.second.numel();
  return n;
}

// ---- modes and devices ------------------------------------------------------------------------------------

void Module::train(bool on) {
  training_ = on;
  for (auto& c : children_) c.second->train(on);
}

void Module::move_to(std::optional<Device> device, std::optional<DType> dtype) {
  auto move = [&](Tensor& t, bool keep_dtype) {
    if (t.defined()) move_in_place(t, device.value_or(t.device()), keep_dtype ? t.dtype() : dtype.value_or(t.dtype()));
  };
  for (auto& p : params_) move(p.second, false);
  for (auto& b : buffers_) move(b.tensor, b.keep_dtype);
  for (auto& c : children_) c.second->move_to(device, dtype);
}

void Module::to(Device device) { move_to(device, std::nullopt); }
void Module::to(DType dtype) { move_to(std::nullopt, dtype); }
void Module::to(Device device, DType dtype) { move_to(device, dtype); }

void Module::zero_grad(bool set_to_none) {
  for (auto& p : parameters()) p.zero_grad(set_to_none);
}

// ---- state dicts ---------------------------------------------------------------------------------------------

NamedTensors Module::state_dict() const {
  NamedTensors out;
  collect("", true, true, true, out);
  for (auto& e : out) e.second = e.second.detach();
  return out;
}

LoadResult Module::load_state_dict(const NamedTensors& state, bool strict) {
  const NamedTensors own = [this] {
    NamedTensors o;
    collect("", true, true, true, o);
    return o;
  }();
  std::map<std::string, const Tensor*> given;
  for (const auto& [n, t] : state) given[n] = &t;
  LoadResult r;
  std::vector<std::string> misshaped;
  std::set<std::string> known;
  for (const auto& [n, t] : own) {
    known.insert(n);
    auto it = given.find(n);
    if (it == given.end() || !it->second->defined()) {
      r.missing.push_back(n);
    } else if (it->second->shape() != t.shape()) {
      misshaped.push_back(n + ": state dict " + shape_str(it->second->shape()) + ", module " + shape_str(t.shape()));
    }
  }
  for (const auto& [n, t] : state) {
    if (!known.count(n)) r.unexpected.push_back(n);
  }
  const bool names_bad = strict && (!r.missing.empty() || !r.unexpected.empty());
  if (names_bad || !misshaped.empty()) {
    std::ostringstream os;
    os << "load_state_dict into " << (path_.empty() ? type_ : path_ + " (" + type_ + ")") << ":";
    if (strict && !r.missing.empty())
      os << "\n  " << r.missing.size() << " missing (in the module, not in the state dict): " << list(r.missing);
    if (strict && !r.unexpected.empty())
      os << "\n  " << r.unexpected.size()
         << " unexpected (in the state dict, not in the module): " << list(r.unexpected);
    if (!misshaped.empty()) os << "\n  " << misshaped.size() << " mis-shaped: " << list(misshaped);
    os << "\n  nothing was loaded. Fixes: load a state dict saved from the same architecture (compare with "
          "state_dict() names and shapes)";
    if (names_bad) os << ", or pass strict = false to skip missing and unexpected entries";
    if (names_bad) throw ValueError(os.str());
    throw ShapeError(os.str());
  }
  NoGradGuard no_grad;
  for (const auto& [n, t] : own) {
    auto it = given.find(n);
    if (it == given.end() || !it->second->defined()) continue;
    Tensor dst = t;
    dst.copy_(*it->second);
  }
  return r;
}

// ---- printing and planning ------------------------------------------------------------------------------------

std::string Module::str() const {
  if (children_.empty()) return spec().str();
  std::ostringstream os;
  os << type_ << '(';
  const std::string extra = extra_repr();
  if (!extra.empty()) os << extra;
  for (const auto& [n, c] : children_) os << "\n  (" << n << "): " << indent(c->str());
  os << "\n)";
  return os.str();
}

std::ostream& operator<<(std::ostream& os, const Module& m) { return os << m.str(); }

LayerSpec Module::make_spec(decltype(LayerSpec::detail) detail) const {
  LayerSpec s;
  s.type = type_;
  s.path = path_;
  s.params = num_parameters(false);
  s.detail = std::move(detail);
  return s;
}

LayerSpec Module::spec() const {
  return make_spec(CustomSpec{extra_repr(), [this](const Shape& in) { return output_shape(in); }});
}

void Module::append_specs(std::vector<LayerSpec>& out) const {
  if (children_.empty()) {
    out.push_back(spec());
    return;
  }
  for (const auto& c : children_) c.second->append_specs(out);
}

std::vector<LayerSpec> Module::layer_specs() const {
  std::vector<LayerSpec> out;
  append_specs(out);
  return out;
}

ShapeCheck Module::output_shape(const Shape&) const {
  ShapeCheck c;
  c.issue = ShapeIssue::kUnknown;
  c.arithmetic =
      "has no shape function, so its output shape is unknown (a custom layer can override "
      "Module::output_shape)";
  return c;
}

void Module::check_input(const Shape& input) const {
  const LayerSpec s = spec();
  const ShapeCheck c = check_shape(s, input);
  if (!c.ok()) throw_shape_error(*this, s, input, c);
}

}  // namespace strider::nn
