// Direct convolution forward for small output maps (kernels/cpu/conv2d_direct_x86.cpp).
//
// The implicit GEMM of conv2d.cpp multiplies every tap of every window, including the taps that
// read the zero padding: at k4 s2 p1 that is 12% of the MACs at 8x8 outputs and 23% at 4x4, and it
// stages and packs its operands first. This path reads the input where it lies (NCHW) and skips
// the padding: a register tile is 8 output positions (one output row of 8, or one row of 4 in each
// of two images) x 32 output channels, the input values are broadcast, the weights (repacked once
// per call, 32 output channels contiguous per tap) are the vectors, and a tap whose window row or
// column falls in the padding is never multiplied. Input channels go in blocks of 8 over a few
// images at a time, so each block's weights are reused from L1 across 4 images' tiles.
//
// AVX-512 only; the callers fall back to the implicit GEMM where conv2d_direct_supported() says no.
#pragma once

#include <strider/kernels/conv2d.hpp>

namespace strider::kernels::cpu {

// Whether conv2d_direct_forward handles `l` on this CPU: AVX-512F, output channels per group a
// multiple of 32, input channels per group at least 16, horizontal stride 1 or 2, Wo = 4 or a
// multiple of 8 with Ho Wo <= 256, and padding that cuts at most the first and last position of
// each 8 (4) wide tile row for any kernel column. STRIDER_CONV_DIRECT=0 in the environment (read
// once) turns the path off.
bool conv2d_direct_supported(const Conv2dLowered& l);

// y = conv(x, w) (+ bias per output channel), all NCHW / (Co, Ci / groups, R, S) float32, on up to
// `threads` OpenMP threads. ValueError when !conv2d_direct_supported(l). Each output is summed in
// one fixed order whatever the thread count.
void conv2d_direct_forward(const Conv2dLowered& l, const float* x, const float* w, const float* bias, float* y,
                           int threads);

}  // namespace strider::kernels::cpu
