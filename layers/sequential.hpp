// Sequential: runs its children in order. Children are named "0", "1", ... (or by the name given to
// append), so their paths are "discriminator.0", "discriminator.1", ...
//
//   auto seq = std::make_shared<nn::Sequential>(
//       std::make_shared<nn::Conv2d>(nn::Conv2dOptions(1, 64, 4).stride(2).padding(1)),
//       std::make_shared<nn::LeakyReLU>(0.2));
//   seq->append(std::make_shared<nn::Flatten>());
//   for (const auto& layer : *seq) std::cout << *layer << "\n";
//
// forward() tracks the shapes each layer produced (shapes only), so a layer that cannot take its
// input says how the layers before it produced that shape (diagnose.hpp).
#pragma once

#include <cstddef>
#include <memory>
#include <strider/core/error.hpp>
#include <strider/layers/module.hpp>
#include <string>
#include <vector>

namespace strider::nn {

class Sequential : public Module {
 public:
  Sequential() : Module("Sequential") {}
  template <class... M>
  explicit Sequential(std::shared_ptr<M>... modules) : Module("Sequential") {
    (append(std::move(modules)), ...);
  }
  explicit Sequential(const std::vector<std::shared_ptr<Module>>& modules);

  // Adds a child named by its index, or by `name`. Returns *this.
  Sequential& append(std::shared_ptr<Module> module);
  Sequential& append(const std::string& name, std::shared_ptr<Module> module);

  std::size_t size() const { return modules_.size(); }
  bool empty() const { return modules_.empty(); }
  // IndexError naming the valid range when out of range.
  const std::shared_ptr<Module>& operator[](std::size_t index) const;
  const std::shared_ptr<Module>& at(std::size_t index) const { return (*this)[index]; }
  // The child as a concrete layer type; ValueError naming both types when it is another.
  template <class M>
  std::shared_ptr<M> at(std::size_t index) const {
    auto m = std::dynamic_pointer_cast<M>((*this)[index]);
    STRIDER_CHECK(m != nullptr, ValueError,
                  (path().empty() ? "Sequential" : path())
                      << "[" << index << "] is a " << (*this)[index]->type() << ", not the requested type");
    return m;
  }
  auto begin() const { return modules_.begin(); }
  auto end() const { return modules_.end(); }

  Tensor forward(const Tensor& x) override;

 private:
  std::vector<std::shared_ptr<Module>> modules_;
};

}  // namespace strider::nn
