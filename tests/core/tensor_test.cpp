// Tensor factories, views, copies, element access and printing, on every device present.
#include <gtest/gtest.h>

#include "common/test_util.hpp"

namespace strider {
namespace {

using testing::device_name;
using testing::test_devices;

class TensorTest : public ::testing::TestWithParam<Device> {
 protected:
  Device dev() const { return GetParam(); }
  // 0, 1, 2, ... as a tensor of `shape` on the test device.
  Tensor iota(const Shape& shape, DType t = DType::Float32) const {
    return Tensor::arange(static_cast<double>(checked_numel(shape)), TensorOptions(t).device(dev())).reshape(shape);
  }
};

TEST_P(TensorTest, Factories) {
  const auto z = Tensor::zeros({2, 3}, dev());
  EXPECT_EQ(z.shape(), (Shape{2, 3}));
  EXPECT_EQ(z.strides(), (Shape{3, 1}));
  EXPECT_EQ(z.dtype(), DType::Float32);
  EXPECT_EQ(z.device(), dev());
  EXPECT_EQ(z.to_vector<float>(), std::vector<float>(6, 0.f));
  EXPECT_EQ(Tensor::ones({4}, dev()).to_vector<double>(), std::vector<double>(4, 1.0));
  EXPECT_EQ(Tensor::full({2}, 2.5, TensorOptions(DType::Float64).device(dev())).to_vector<double>(),
            (std::vector<double>{2.5, 2.5}));
  EXPECT_DOUBLE_EQ(Tensor::scalar(3.0, dev()).item(), 3.0);
  EXPECT_EQ(Tensor::scalar(3.0).dim(), 0);
  EXPECT_EQ(Tensor::arange(0, 1, 0.25, dev()).to_vector<float>(), (std::vector<float>{0, .25f, .5f, .75f}));
  EXPECT_EQ(Tensor::arange(5, 0, -2, dev()).to_vector<float>(), (std::vector<float>{5, 3, 1}));
  EXPECT_EQ(Tensor::empty({0, 3}, dev()).numel(), 0);
  const auto v = Tensor::from_vector(std::vector<float>{1, 2, 3, 4, 5, 6}, {2, 3}, dev());
  EXPECT_DOUBLE_EQ(v.at({1, 2}), 6.0);
  const auto d = Tensor::from_vector(std::vector<double>{1.5, 2.5}, {2}, TensorOptions(DType::Float32).device(dev()));
  EXPECT_EQ(d.dtype(), DType::Float32);
  EXPECT_EQ(d.to_vector<float>(), (std::vector<float>{1.5f, 2.5f}));
}

TEST_P(TensorTest, FactoryErrors) {
  STRIDER_EXPECT_THROW_MSG(Tensor::zeros({2, -1}, dev()), ShapeError, "negative size -1");
  STRIDER_EXPECT_THROW_MSG(Tensor::empty({1LL << 40, 1LL << 40}, dev()), ShapeError, "overflow");
  STRIDER_EXPECT_THROW_MSG(Tensor::from_vector(std::vector<float>{1, 2, 3}, {2, 2}, dev()), ShapeError, "3 values",
                           "[2, 2]", "4 elements");
  STRIDER_EXPECT_THROW_MSG(Tensor::arange(0, 1, 0, dev()), ValueError, "step non-zero");
  STRIDER_EXPECT_THROW_MSG(Tensor::arange(0, 5, -1, dev()), ValueError, "other sign");
  Tensor undefined;
  EXPECT_FALSE(undefined.defined());
  STRIDER_EXPECT_THROW_MSG(undefined.shape(), ValueError, "undefined");
  STRIDER_EXPECT_THROW_MSG(undefined.sum(), ValueError, "sum", "undefined");
  STRIDER_EXPECT_THROW_MSG(Tensor::zeros({2}, dev()).data<double>(), DTypeError, "float32", "data<float>");
}

TEST_P(TensorTest, ViewsShareStorageAndHaveTheRightStrides) {
  const auto x = iota({2, 3, 4});
  const auto t = x.transpose(0, 2);  // (4, 3, 2)
  EXPECT_EQ(t.shape(), (Shape{4, 3, 2}));
  EXPECT_EQ(t.strides(), (Shape{1, 4, 12}));
  EXPECT_FALSE(t.is_contiguous());
  EXPECT_DOUBLE_EQ(t.at({3, 2, 1}), x.at({1, 2, 3}));
  EXPECT_EQ(t.storage().get(), x.storage().get());
  const auto p = x.permute({1, 2, 0});
  EXPECT_EQ(p.shape(), (Shape{3, 4, 2}));
  EXPECT_DOUBLE_EQ(p.at({2, 1, 1}), x.at({1, 2, 1}));
  const auto n = x.narrow(2, 1, 2);
  EXPECT_EQ(n.shape(), (Shape{2, 3, 2}));
  EXPECT_EQ(n.offset(), 1);
  EXPECT_EQ(n.contiguous().to_vector<float>(),
            (std::vector<float>{1, 2, 5, 6, 9, 10, 13, 14, 17, 18, 21, 22}));
  const auto s = x.slice(2, 0, 4, 3);
  EXPECT_EQ(s.shape(), (Shape{2, 3, 2}));
  EXPECT_DOUBLE_EQ(s.at({1, 2, 1}), 23);
  EXPECT_EQ(x.slice(1, -2, 100).shape(), (Shape{2, 2, 4}));
  EXPECT_DOUBLE_EQ(x.select(1, -1).at({1, 3}), 23);
  EXPECT_EQ(x.unsqueeze(0).shape(), (Shape{1, 2, 3, 4}));
  EXPECT_EQ(x.unsqueeze(-1).shape(), (Shape{2, 3, 4, 1}));
  EXPECT_EQ(x.unsqueeze(1).squeeze(1).shape(), x.shape());
  EXPECT_EQ(iota({1, 3, 1}).squeeze().shape(), (Shape{3}));
  EXPECT_EQ(x.squeeze(0).shape(), x.shape());  // size 2: no-op, as PyTorch
  EXPECT_EQ(x.flatten(1).shape(), (Shape{2, 12}));
  EXPECT_EQ(x.flatten().shape(), (Shape{24}));
  // A write through a view is seen by the base.
  auto v = x.view({6, 4});
  v.set({5, 3}, -1.0);
  EXPECT_DOUBLE_EQ(x.at({1, 2, 3}), -1.0);
}

TEST_P(TensorTest, ViewVersusReshape) {
  const auto x = iota({4, 6});
  EXPECT_EQ(x.view({2, -1, 3}).shape(), (Shape{2, 4, 3}));
  EXPECT_EQ(Tensor::scalar(2, dev()).view({1, 1}).shape(), (Shape{1, 1}));
  EXPECT_EQ(Tensor::ones({1, 1}, dev()).view({}).dim(), 0);
  EXPECT_EQ(x.view({2, 2, 6}).storage().get(), x.storage().get());
  const auto t = x.t();  // (6, 4), not contiguous
  STRIDER_EXPECT_THROW_MSG(t.view({24}), ShapeError, "not compatible with a view", "reshape()");
  const auto r = t.reshape({24});
  EXPECT_NE(r.storage().get(), x.storage().get());
  EXPECT_DOUBLE_EQ(r.at({1}), 6);
  // Viewable even when not contiguous: splitting a transposed dim.
  EXPECT_EQ(t.view({3, 2, 4}).strides(), (Shape{2, 1, 6}));
  STRIDER_EXPECT_THROW_MSG(x.view({5, -1}), ShapeError, "not a multiple of 5");
  STRIDER_EXPECT_THROW_MSG(x.view({-1, -1}), ShapeError, "only one size may be -1");
  STRIDER_EXPECT_THROW_MSG(x.reshape({5, 5}), ShapeError, "24 elements", "25 elements");
  STRIDER_EXPECT_THROW_MSG(x.view({-2, 12}), ShapeError, "size -2");
}

TEST_P(TensorTest, ViewErrors) {
  const auto x = iota({2, 3});
  STRIDER_EXPECT_THROW_MSG(x.permute({0}), ShapeError, "got 1 dims", "2 dims");
  STRIDER_EXPECT_THROW_MSG(x.permute({1, 1}), ShapeError, "appears twice");
  STRIDER_EXPECT_THROW_MSG(x.transpose(0, 2), IndexError, "dimension 2", "[-2, 1]");
  STRIDER_EXPECT_THROW_MSG(x.narrow(1, 2, 2), IndexError, "start + length <= 3");
  STRIDER_EXPECT_THROW_MSG(x.select(0, 2), IndexError, "index 2", "size 2");
  STRIDER_EXPECT_THROW_MSG(x.slice(0, 0, 2, 0), ValueError, "step 0");
  STRIDER_EXPECT_THROW_MSG(x.expand({4, 3}), ShapeError, "size 2", "only expand when it is 1");
  STRIDER_EXPECT_THROW_MSG(x.expand({3}), ShapeError, "fewer dims");
  STRIDER_EXPECT_THROW_MSG(iota({2, 2, 2}).t(), ShapeError, "at most 2 dims");
  STRIDER_EXPECT_THROW_MSG(x.at({0}), IndexError, "1 coordinates", "2 dims");
  STRIDER_EXPECT_THROW_MSG(x.at({0, 3}), IndexError, "index 3", "size 3");
  STRIDER_EXPECT_THROW_MSG(x.item(), ShapeError, "exactly one element", "[2, 3]");
  STRIDER_EXPECT_THROW_MSG(x.as_strided({2, 3}, {3, 2}, 0), IndexError, "reaches element 7", "6 elements");
  STRIDER_EXPECT_THROW_MSG(Tensor::scalar(1, dev()).slice(0, 0, 1), ShapeError, "0-dim");
  STRIDER_EXPECT_THROW_MSG(iota({1, 1, 1, 1, 1, 1, 1, 1}).unsqueeze(0), ShapeError, "at most 8");
}

TEST_P(TensorTest, ExpandBroadcastsWithZeroStride) {
  const auto x = iota({3, 1});
  const auto e = x.expand({2, 3, 4});
  EXPECT_EQ(e.strides(), (Shape{0, 1, 0}));
  EXPECT_DOUBLE_EQ(e.at({1, 2, 3}), 2);
  EXPECT_EQ(e.contiguous().numel(), 24);
  EXPECT_EQ(x.expand({-1, 2}).shape(), (Shape{3, 2}));
}

TEST_P(TensorTest, CopiesConversionsAndDevices) {
  const auto x = iota({3, 4}, DType::Float64);
  const auto c = x.clone();
  EXPECT_NE(c.storage().get(), x.storage().get());
  EXPECT_EQ(c.to_vector<double>(), x.to_vector<double>());
  const auto f = x.to(DType::Float32);
  EXPECT_EQ(f.dtype(), DType::Float32);
  EXPECT_EQ(f.to_vector<float>()[11], 11.f);
  EXPECT_TRUE(x.to(DType::Float64).same(x));
  // Round trip through every device, through a non-contiguous view.
  for (Device other : test_devices()) {
    const auto moved = x.t().to(other);
    EXPECT_EQ(moved.device(), other);
    EXPECT_EQ(moved.to(dev()).to_vector<double>(), x.t().contiguous().to_vector<double>());
  }
  // copy_ into a strided view, broadcasting the source, converting dtype.
  auto dst = Tensor::zeros({4, 3}, dev());
  auto col = dst.t().narrow(1, 1, 1);  // (3, 1) view of dst[1, :]
  col.copy_(Tensor::from_vector(std::vector<double>{7, 8, 9}, {3, 1}, TensorOptions(DType::Float64).device(dev())));
  EXPECT_EQ(dst.to_vector<float>(), (std::vector<float>{0, 0, 0, 7, 8, 9, 0, 0, 0, 0, 0, 0}));
  dst.slice(0, 2, 4).copy_(Tensor::scalar(5, dev()));
  EXPECT_DOUBLE_EQ(dst.at({3, 2}), 5);
  STRIDER_EXPECT_THROW_MSG(dst.copy_(Tensor::zeros({5}, dev())), ShapeError, "[5]", "[4, 3]");
  dst.fill_(2).zero_();
  EXPECT_DOUBLE_EQ(dst.sum().item(), 0);
}

TEST_P(TensorTest, Printing) {
  const auto x = Tensor::from_vector(std::vector<float>{1, 2.5f, -3, 4}, {2, 2}, dev());
  const std::string s = x.str();
  EXPECT_NE(s.find("[[ 1.0000,  2.5000],\n        [-3.0000,  4.0000]]"), std::string::npos) << s;
  EXPECT_NE(s.find("shape=[2, 2], dtype=float32, device=" + dev().str()), std::string::npos) << s;
  EXPECT_NE(iota({3}).str().find("tensor([0., 1., 2.]"), std::string::npos) << iota({3}).str();
  const std::string big = iota({2000}).str();
  EXPECT_NE(big.find("[   0.,    1.,    2., ..., 1997., 1998., 1999.]"), std::string::npos) << big;
  EXPECT_NE(Tensor::scalar(0.5, dev()).str().find("tensor(0.5000, shape=[]"), std::string::npos);
  EXPECT_EQ(Tensor().str(), "tensor(undefined)");
}

TEST_P(TensorTest, RandomIsTheSameOnEveryDevice) {
  Generator g1(5), g2(5);
  const auto here = Tensor::rand({1001}, g1, dev()).to_vector<float>();
  const auto cpu = Tensor::rand({1001}, g2).to_vector<float>();
  EXPECT_EQ(here, cpu);
  const auto nh = Tensor::randn({1001}, g1, dev()).to_vector<double>();
  const auto nc = Tensor::randn({1001}, g2).to_vector<double>();
  EXPECT_TRUE(testing::all_close(nh, nc, 1e-6, 1e-6));
}

INSTANTIATE_TEST_SUITE_P(Devices, TensorTest, ::testing::ValuesIn(test_devices()), device_name);

}  // namespace
}  // namespace strider
