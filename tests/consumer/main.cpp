// Built against an installed strider by tests/consumer/run.cmake; prints a checkable line.
#include <strider/strider.hpp>

#include <iostream>

int main() {
  using namespace strider;
  Generator gen(3);
  const Tensor a = Tensor::randn({4, 5}, gen);
  const Tensor b = Tensor::ones({5, 2});
  const Tensor c = a.matmul(b);
  // Each column of c sums a row of a, so both columns are equal.
  const double diff = (c.select(1, 0) - c.select(1, 1)).abs().sum().item();
  try {
    (void)a.view({3, 7});
    std::cout << "consumer: missing error\n";
    return 1;
  } catch (const ShapeError&) {
  }
  std::cout << "consumer ok: strider " << STRIDER_VERSION << ", c " << shape_str(c.shape()) << ", diff " << diff
            << "\n";
  return diff == 0 ? 0 : 1;
}
