// conv2d / conv_transpose2d on the CPU: the fast float32 path against the float64 reference on
// every problem of conv_problems.hpp (random data with tolerances, small integers exactly, both
// thread splits), and the reference itself against the adjoint identities and finite differences.
#include <cmath>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "conv_backends.hpp"
#include "conv_problems.hpp"

namespace strider::test {
namespace {

using kernels::cpu::Conv2dParallel;

std::string param_name(const ::testing::TestParamInfo<NamedProblem>& info) { return info.param.name; }

class ConvCpu : public ::testing::TestWithParam<NamedProblem> {};

TEST_P(ConvCpu, RandomMatchesReference) {
  const ConvCase c(GetParam().p, 11);
  for (Conv2dParallel mode : {Conv2dParallel::kAuto, Conv2dParallel::kBatch, Conv2dParallel::kWithin}) {
    CpuBackend be(mode);
    check_backend(be, c);
  }
}

// Small integers make every float sum exact: both thread splits must equal the reference, with
// three threads so that the splits are uneven (3 divides few of the sizes here).
TEST_P(ConvCpu, IntegersExactThreeThreads) {
  OmpThreads threads(3);
  const ConvCase c(GetParam().p, 12, /*integers=*/true);
  for (Conv2dParallel mode : {Conv2dParallel::kBatch, Conv2dParallel::kWithin}) {
    CpuBackend be(mode);
    check_backend(be, c, {.exact = true});
  }
}

INSTANTIATE_TEST_SUITE_P(Problems, ConvCpu, ::testing::ValuesIn(all_problems()), param_name);
INSTANTIATE_TEST_SUITE_P(MultiImageTiles, ConvCpu, ::testing::ValuesIn(multi_image_problems()), param_name);

// The float64 reference obeys the adjoint identities of the three lowered operations:
//   <conv2d_forward(x), u> = <x, conv2d_backward_data(u)>           (no bias)
//   conv_transpose2d_forward(t, u) == conv2d_backward_data(p, u)    (t = matching_transposed(p))
//   conv_transpose2d_backward_data(t, v) == conv2d_forward(p, v)
//   conv_transpose2d_backward_weight(t, u, x) == conv2d_backward_weight(p, x, u)
// and the cpu path reproduces the three equalities bit for bit (same code underneath).
class ConvAdjoint : public ::testing::TestWithParam<NamedProblem> {};

double dot(const std::vector<double>& a, const std::vector<double>& b) {
  double s = 0.0;
  for (std::size_t i = 0; i < a.size(); ++i) s += a[i] * b[i];
  return s;
}
double abs_dot(const std::vector<double>& a, const std::vector<double>& b) {
  double s = 0.0;
  for (std::size_t i = 0; i < a.size(); ++i) s += std::abs(a[i] * b[i]);
  return s;
}

TEST_P(ConvAdjoint, Identities) {
  Conv2dProblem p = GetParam().p;
  p.has_bias = false;
  Conv2dProblem t;
  ASSERT_TRUE(matching_transposed(p, &t)) << p;
  namespace ref = kernels::ref;
  const auto x = random_values<double>(p.input_size(), 21), w = random_values<double>(p.weight_size(), 22);
  const auto u = random_values<double>(p.output_size(), 23);
  std::vector<double> y(p.output_size()), dx(p.input_size()), dw(p.weight_size());
  ref::conv2d_forward(p, x.data(), w.data(), nullptr, y.data());
  ref::conv2d_backward_data(p, u.data(), w.data(), dx.data());
  ref::conv2d_backward_weight(p, x.data(), u.data(), dw.data(), nullptr);
  const double lhs = dot(y, u), rhs = dot(x, dx);
  EXPECT_NEAR(lhs, rhs, 1e-12 * (abs_dot(y, u) + 1.0)) << p;
  // <dw, w> = <y, u> too: the loss <conv(x, w), u> is linear in w.
  EXPECT_NEAR(dot(dw, w), lhs, 1e-12 * (abs_dot(y, u) + 1.0)) << p;

  ASSERT_EQ(t.input_size(), p.output_size());
  ASSERT_EQ(t.output_size(), p.input_size());
  std::vector<double> ty(t.output_size()), tdx(t.input_size()), tdw(t.weight_size());
  ref::conv_transpose2d_forward(t, u.data(), w.data(), nullptr, ty.data());
  ref::conv_transpose2d_backward_data(t, x.data(), w.data(), tdx.data());
  ref::conv_transpose2d_backward_weight(t, u.data(), x.data(), tdw.data(), nullptr);
  EXPECT_EQ(ty, dx) << "conv_transpose2d forward != conv2d backward-data for " << t;
  EXPECT_EQ(tdx, y) << "conv_transpose2d backward-data != conv2d forward for " << t;
  EXPECT_EQ(tdw, dw) << "conv_transpose2d backward-weight != conv2d backward-weight for " << t;

  // The same three equalities on the cpu path, bit for bit.
  const auto xf = cast<float>(x), wf = cast<float>(w), uf = cast<float>(u);
  std::vector<float> a(p.input_size()), b(p.input_size());
  kernels::cpu::conv2d_backward_data(p, uf.data(), wf.data(), a.data());
  kernels::cpu::conv_transpose2d_forward(t, uf.data(), wf.data(), nullptr, b.data());
  EXPECT_EQ(a, b);
  std::vector<float> c(p.output_size()), d(p.output_size());
  kernels::cpu::conv2d_forward(p, xf.data(), wf.data(), nullptr, c.data());
  kernels::cpu::conv_transpose2d_backward_data(t, xf.data(), wf.data(), d.data());
  EXPECT_EQ(c, d);
  std::vector<float> e(p.weight_size()), f(p.weight_size());
  kernels::cpu::conv2d_backward_weight(p, xf.data(), uf.data(), e.data(), nullptr);
  kernels::cpu::conv_transpose2d_backward_weight(t, uf.data(), xf.data(), f.data(), nullptr);
  EXPECT_EQ(e, f);
  // And the float adjoint identity, in float tolerance.
  const double lf = dot(cast<double>(c), u), rf = dot(x, cast<double>(a));
  EXPECT_NEAR(lf, rf, 1e-5 * (abs_dot(y, u) + 1.0)) << p;
}

std::vector<NamedProblem> conv_only(std::vector<NamedProblem> in) {
  std::vector<NamedProblem> out;
  for (auto& np : in)
    if (!np.p.transposed && np.p.N > 0) out.push_back(np);
  return out;
}

// The awkward problems cover every geometry; the full-width DCGAN layers would only add time.
INSTANTIATE_TEST_SUITE_P(Problems, ConvAdjoint, ::testing::ValuesIn(conv_only(awkward_problems())), param_name);

// Finite differences of the float64 reference on tiny problems. The loss
//   L(x, w, b) = <op_forward(x, w, b), u>
// is linear in each argument, so central differences are exact up to rounding and must equal the
// backward passes to ~1e-9.
class ConvGradcheck : public ::testing::TestWithParam<NamedProblem> {};

double loss(const Conv2dProblem& p, const std::vector<double>& x, const std::vector<double>& w,
            const std::vector<double>& b, const std::vector<double>& u) {
  std::vector<double> y(p.output_size());
  if (p.transposed) {
    kernels::ref::conv_transpose2d_forward(p, x.data(), w.data(), b.data(), y.data());
  } else {
    kernels::ref::conv2d_forward(p, x.data(), w.data(), b.data(), y.data());
  }
  return dot(y, u);
}

// Checks d loss / d v[i] by central differences against analytic[i] for every element of v.
void check_fd(const char* what, std::vector<double>& v, const std::vector<double>& analytic,
              const std::function<double()>& f) {
  const double h = 1e-3;
  for (std::size_t i = 0; i < v.size(); ++i) {
    const double keep = v[i];
    v[i] = keep + h;
    const double up = f();
    v[i] = keep - h;
    const double down = f();
    v[i] = keep;
    const double fd = (up - down) / (2 * h);
    ASSERT_NEAR(fd, analytic[i], 1e-9 * (1.0 + std::abs(fd))) << what << "[" << i << "]";
  }
}

TEST_P(ConvGradcheck, ReferenceMatchesFiniteDifferences) {
  const Conv2dProblem p = GetParam().p;
  auto x = random_values<double>(p.input_size(), 31), w = random_values<double>(p.weight_size(), 32);
  auto b = random_values<double>(p.bias_size(), 33);
  const auto u = random_values<double>(p.output_size(), 34);
  std::vector<double> dx(p.input_size()), dw(p.weight_size()), db(p.bias_size());
  namespace ref = kernels::ref;
  if (p.transposed) {
    ref::conv_transpose2d_backward_data(p, u.data(), w.data(), dx.data());
    ref::conv_transpose2d_backward_weight(p, x.data(), u.data(), dw.data(), db.data());
  } else {
    ref::conv2d_backward_data(p, u.data(), w.data(), dx.data());
    ref::conv2d_backward_weight(p, x.data(), u.data(), dw.data(), db.data());
  }
  auto f = [&] { return loss(p, x, w, b, u); };
  check_fd("grad_x", x, dx, f);
  check_fd("grad_weight", w, dw, f);
  check_fd("grad_bias", b, db, f);
}

INSTANTIATE_TEST_SUITE_P(
    Tiny, ConvGradcheck,
    ::testing::Values(NamedProblem{"conv", conv(2, 2, 5, 4, 3).kernel(3, 2).stride(2, 1).pad(1).dil(1, 2).bias()},
                      NamedProblem{"conv_groups", conv(1, 4, 4, 5, 2).kernel(2).pad(1, 0).groups(2).bias()},
                      NamedProblem{"t", conv_t(2, 3, 3, 2, 2).kernel(3, 2).stride(2).pad(1, 0).out_pad(1).bias()},
                      NamedProblem{"t_groups_dil",
                                   conv_t(1, 4, 3, 3, 2).kernel(2).dil(2).groups(2).out_pad(1).bias()}),
    param_name);

}  // namespace
}  // namespace strider::test
