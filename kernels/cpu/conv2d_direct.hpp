// Direct convolution passes for small maps (kernels/cpu/conv2d_direct_x86.cpp): the lowered
// forward, backward-data and backward-weight of conv2d.cpp, for the shapes the *_supported
// functions accept (DCGAN's 16x16, 8x8 and 4x4 layers).
//
// The implicit GEMM of conv2d.cpp multiplies every tap of every window, including the taps that
// read the zero padding: at k4 s2 p1 that is 12% of the MACs at 8x8 outputs and 23% at 4x4, and it
// stages and packs its operands first. This path reads the input where it lies (NCHW) and skips
// the padding: a register tile is 8 output positions (one output row of 8, or one row of 4 in each
// of two images) x 32 output channels, the input values are broadcast, the weights (repacked once
// per call, 32 output channels contiguous per tap) are the vectors, and a tap whose window row or
// column falls in the padding is never multiplied. Input channels go in blocks of 128 taps (8
// channels of a 4x4 kernel) over 4 images at a time, so each block's weights are reused from L1.
//
// Backward-data runs the same kernel once per stride phase: the input positions of one phase
// (every s-th row and column) receive only the taps of that phase, a stride-1 convolution of gy
// with those taps flipped; no multiply by an inserted zero or the padding, and each element of
// grad_x written once.
//
// Backward-weight tiles 32 output channels x 8 input channels at one tap, with the 8 x 32
// accumulators in registers over the positions (of a chunk of images) whose window is inside the
// input, and back to the item's sums between chunks.
//
// AVX-512 only; the callers fall back to the implicit GEMM where the *_supported functions say no.
#pragma once

#include <strider/kernels/conv2d.hpp>

namespace strider::kernels::cpu {

// Whether conv2d_direct_forward handles `l` on this CPU: AVX-512F, output channels per group a
// multiple of 32, input channels per group at least 16, horizontal stride 1 or 2, Wo = 4 or a
// multiple of 8 with Ho Wo <= 256, and padding that cuts at most the first and last position (or all) of
// each 8 (4) wide tile row for any kernel column. STRIDER_CONV_DIRECT=0 in the environment (read
// once) turns the path off.
bool conv2d_direct_supported(const Conv2dLowered& l);

// y = conv(x, w) (+ bias per output channel), all NCHW / (Co, Ci / groups, R, S) float32, on up to
// `threads` OpenMP threads. ValueError when !conv2d_direct_supported(l). Each output is summed in
// one fixed order whatever the thread count.
void conv2d_direct_forward(const Conv2dLowered& l, const float* x, const float* w, const float* bias, float* y,
                           int threads);

// Whether conv2d_direct_backward_data handles `l`: no dilation, stride at most the kernel size in
// each direction, and each stride phase a problem conv2d_direct_supported's rules accept (input
// channels per group = l's output channels per group, at least 16; output channels per group = l's
// input channels per group, a multiple of 32; the phase's columns 4 or a multiple of 8).
bool conv2d_direct_backward_data_supported(const Conv2dLowered& l);

// grad_x = conv2d backward-data of grad_y (+ bias per input channel: a conv_transpose2d forward's
// bias), every element written (no need to clear grad_x first). ValueError when
// !conv2d_direct_backward_data_supported(l). Same bits on any thread count.
void conv2d_direct_backward_data(const Conv2dLowered& l, const float* grad_y, const float* w, const float* bias,
                                 float* grad_x, int threads);

// Whether conv2d_direct_backward_weight handles `l`: AVX-512F, output channels per group a
// multiple of 32, input channels per group a multiple of 8 and at least 16, Ho Wo <= 256.
bool conv2d_direct_backward_weight_supported(const Conv2dLowered& l);

// grad_w (Co, Ci / groups, R, S) = sum over the batch of gy (x) x windows, every element written:
// a tile is 32 output channels x 8 input channels at one tap, summed over the positions whose
// window reads inside the input only (no padding MAC, no im2col). ValueError when
// !conv2d_direct_backward_weight_supported(l). Same bits on any thread count.
void conv2d_direct_backward_weight(const Conv2dLowered& l, const float* x, const float* grad_y, float* grad_w,
                                   int threads);

}  // namespace strider::kernels::cpu
