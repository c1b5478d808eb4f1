// Sequential (sequential.hpp).
#include <strider/layers/diagnose.hpp>
#include <strider/layers/sequential.hpp>

namespace strider::nn {

Sequential::Sequential(const std::vector<std::shared_ptr<Module>>& modules) : Module("Sequential") {
  for (const auto& m : modules) append(m);
}

Sequential& Sequential::append(std::shared_ptr<Module> module) {
  return append(std::to_string(modules_.size()), std::move(module));
}

Sequential& Sequential::append(const std::string& name, std::shared_ptr<Module> module) {
  register_module(name, module);
  modules_.push_back(std::move(module));
  return *this;
}

const std::shared_ptr<Module>& Sequential::operator[](std::size_t index) const {
  STRIDER_CHECK(index < modules_.size(), IndexError,
                (path().empty() ? "Sequential" : path())
                    << "[" << index << "]: index out of range; "
                    << (modules_.empty() ? std::string("it is empty")
                                         : "it has " + std::to_string(modules_.size()) + " layers, indices 0.." +
                                               std::to_string(modules_.size() - 1)));
  return modules_[index];
}

Tensor Sequential::forward(const Tensor& x) {
  x.check_defined("Sequential::forward");
  ForwardScope scope(*this, x.shape());
  Tensor cur = x;
  for (const auto& m : modules_) {
    const std::size_t before = ForwardScope::steps_recorded();
    Tensor next = m->forward(cur);
    // A nested container recorded its own layers; anything else is one step.
    if (ForwardScope::steps_recorded() == before) scope.step(*m, cur.shape(), next.shape());
    cur = std::move(next);
  }
  return cur;
}

}  // namespace strider::nn
