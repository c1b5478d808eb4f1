// Tensor math: elementwise arithmetic with broadcasting, unary math, reductions, matmul.
// Each op checks its arguments (same device, same dtype, broadcastable shapes) and dispatches to
// kernels/ for the tensors' device: cpu:: loops or the hand-written CUDA kernels.
#pragma once

#include <cstdint>
#include <vector>

#include <strider/core/tensor.hpp>

namespace strider {

// ---- binary, broadcasting ---------------------------------------------------------------------
Tensor add(const Tensor& a, const Tensor& b);
Tensor sub(const Tensor& a, const Tensor& b);
Tensor mul(const Tensor& a, const Tensor& b);
Tensor div(const Tensor& a, const Tensor& b);
Tensor pow(const Tensor& a, const Tensor& b);
Tensor maximum(const Tensor& a, const Tensor& b);
Tensor minimum(const Tensor& a, const Tensor& b);

Tensor operator+(const Tensor& a, const Tensor& b);
Tensor operator-(const Tensor& a, const Tensor& b);
Tensor operator*(const Tensor& a, const Tensor& b);
Tensor operator/(const Tensor& a, const Tensor& b);
Tensor operator+(const Tensor& a, double s);
Tensor operator-(const Tensor& a, double s);
Tensor operator*(const Tensor& a, double s);
Tensor operator/(const Tensor& a, double s);
Tensor operator+(double s, const Tensor& a);
Tensor operator-(double s, const Tensor& a);
Tensor operator*(double s, const Tensor& a);
Tensor operator/(double s, const Tensor& a);

// In place; `a` must have the broadcast shape (b broadcasts into a).
Tensor& add_(Tensor& a, const Tensor& b);
Tensor& mul_(Tensor& a, double s);

// ---- unary -------------------------------------------------------------------------------------
Tensor neg(const Tensor& x);
Tensor exp(const Tensor& x);
Tensor log(const Tensor& x);
Tensor sqrt(const Tensor& x);
Tensor rsqrt(const Tensor& x);
Tensor abs(const Tensor& x);
Tensor tanh(const Tensor& x);
Tensor sigmoid(const Tensor& x);
Tensor relu(const Tensor& x);
Tensor leaky_relu(const Tensor& x, double negative_slope = 0.01);
Tensor sin(const Tensor& x);
Tensor cos(const Tensor& x);
Tensor square(const Tensor& x);
Tensor reciprocal(const Tensor& x);
Tensor sign(const Tensor& x);
Tensor pow(const Tensor& x, double exponent);
Tensor clamp(const Tensor& x, double lo, double hi);
Tensor clamp_min(const Tensor& x, double lo);
Tensor clamp_max(const Tensor& x, double hi);

// ---- reductions: over `dims` (all dims when empty) -----------------------------------------------
Tensor sum(const Tensor& x, const std::vector<std::int64_t>& dims = {}, bool keepdim = false);
Tensor mean(const Tensor& x, const std::vector<std::int64_t>& dims = {}, bool keepdim = false);
Tensor amax(const Tensor& x, const std::vector<std::int64_t>& dims = {}, bool keepdim = false);
Tensor amin(const Tensor& x, const std::vector<std::int64_t>& dims = {}, bool keepdim = false);

// ---- matrix product (torch.matmul semantics) ----------------------------------------------------
// 1-D x 1-D: dot; 2-D x 2-D: matrix product; N-D: batched with broadcast batch dims; a 1-D
// operand is promoted to a matrix and the added dim removed afterwards.
Tensor matmul(const Tensor& a, const Tensor& b);

// ---- comparisons for tests ------------------------------------------------------------------------
// |a - b| <= atol + rtol * |b| everywhere (shapes must match; NaNs never close).
bool allclose(const Tensor& a, const Tensor& b, double rtol = 1e-5, double atol = 1e-8);

}  // namespace strider
