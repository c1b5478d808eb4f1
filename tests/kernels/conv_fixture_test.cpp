// PyTorch golden fixtures (tests/fixtures/conv, written by tests/make_conv_fixtures.py): the
// float64 reference must reproduce PyTorch's float64 results to ~1e-12 relative, and the fast CPU
// path to float tolerance, for all passes of every fixture.
#include <string>

#include <gtest/gtest.h>

#include "conv_backends.hpp"
#include "conv_fixtures.hpp"

namespace strider::test {
namespace {

TEST(ConvFixtures, ManifestIsComplete) {
  // 37 cases: every DCGAN layer of the three variants (reduced channels) and the awkward ones.
  EXPECT_GE(conv_fixture_names().size(), 37u) << "in " << conv_fixture_dir();
}

class ConvFixture : public ::testing::TestWithParam<std::string> {};

// Reference vs PyTorch: both compute in float64 on the same float32-valued inputs; only the
// summation order differs.
TEST_P(ConvFixture, ReferenceMatchesPyTorch) {
  const ConvCase f = fixture_case(load_conv_fixture(GetParam()));
  std::vector<double> y(f.p.output_size()), dx(f.p.input_size()), dw(f.p.weight_size()), db(f.p.bias_size());
  namespace ref = kernels::ref;
  if (f.p.transposed) {
    ref::conv_transpose2d_forward(f.p, f.x.data(), f.w.data(), f.b.data(), y.data());
    ref::conv_transpose2d_backward_data(f.p, f.dy.data(), f.w.data(), dx.data());
    ref::conv_transpose2d_backward_weight(f.p, f.x.data(), f.dy.data(), dw.data(), db.data());
  } else {
    ref::conv2d_forward(f.p, f.x.data(), f.w.data(), f.b.data(), y.data());
    ref::conv2d_backward_data(f.p, f.dy.data(), f.w.data(), dx.data());
    ref::conv2d_backward_weight(f.p, f.x.data(), f.dy.data(), dw.data(), db.data());
  }
  // 1e-14 per term and 1e-12 relative: float64 rounding of sums of at most a few thousand terms.
  auto g = [](const std::vector<double>& v) { Guarded<double> out(v); return out; };
  SCOPED_TRACE(f.p.str());
  EXPECT_TRUE(matches(f.y_spec, g(y), f.y, false, 1e-14, 1e-12));
  EXPECT_TRUE(matches(f.dx_spec, g(dx), f.dx, false, 1e-14, 1e-12));
  EXPECT_TRUE(matches(f.dw_spec, g(dw), f.dw, false, 1e-14, 1e-12));
  if (f.p.has_bias) {
    EXPECT_TRUE(matches(f.db_spec, g(db), f.db, false, 1e-14, 1e-12));
  }
}

TEST_P(ConvFixture, CpuMatchesPyTorch) {
  const ConvCase f = fixture_case(load_conv_fixture(GetParam()));
  for (auto mode : {kernels::cpu::Conv2dParallel::kBatch, kernels::cpu::Conv2dParallel::kWithin}) {
    CpuBackend be(mode);
    check_backend(be, f);
  }
}

std::string fixture_name(const ::testing::TestParamInfo<std::string>& p) { return p.param; }

INSTANTIATE_TEST_SUITE_P(PyTorch, ConvFixture, ::testing::ValuesIn(conv_fixture_names()), fixture_name);

}  // namespace
}  // namespace strider::test
