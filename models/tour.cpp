// strider_tour: a short walk through what the library does today, printed as it runs.
// scripts/demo.sh runs it until the dcgan demo binary exists.
#include <iostream>

#include <strider/strider.hpp>

int main() {
  using namespace strider;
  std::cout << "strider " << STRIDER_VERSION << " (CUDA device: "
            << (cuda_is_available() ? "yes" : cuda_unavailable_reason()) << ")\n\n";
  Generator gen(0);
  const Tensor x = Tensor::randn({2, 3}, gen);
  std::cout << "x = randn(2, 3):\n" << x << "\n\n";
  std::cout << "x.t() @ x:\n" << x.t().matmul(x) << "\n\n";
  std::cout << "sigmoid(x).sum(dim 1):\n" << x.sigmoid().sum({1}) << "\n\n";
  try {
    (void)x.view({4, 2});
  } catch (const Error& e) {
    std::cout << "errors explain themselves, e.g. x.view({4, 2}):\n  " << e.what() << "\n";
  }
  return 0;
}
