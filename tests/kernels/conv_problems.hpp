// The shared list of conv2d / conv_transpose2d problems every backend's tests run (CUTLASS
// conv2d_problems.h-style): the awkward cases first, then every DCGAN layer at a small batch.
//
// Problems are built with a small fluent helper so each line reads like the layer it describes:
//   conv(N, C, H, W, K).kernel(3, 2).stride(2, 1).pad(1, 0).dil(2, 1).groups(2).bias()
//   conv_t(N, C, H, W, K).kernel(4).stride(2).pad(1).out_pad(1)
// Every conv2d problem without output-size ambiguity also yields its "matching" transposed problem
// (the conv_transpose2d whose forward is this conv's backward-data, see matching_transposed()).
#pragma once

#include <algorithm>
#include <cstdint>
#include <ostream>
#include <string>
#include <vector>

#include <strider/kernels/conv2d.hpp>

namespace strider::test {

using kernels::Conv2dProblem;

struct ProblemBuilder {
  Conv2dProblem p;
  ProblemBuilder& kernel(int r, int s) { p.R = r; p.S = s; return *this; }
  ProblemBuilder& kernel(int k) { return kernel(k, k); }
  ProblemBuilder& stride(int h, int w) { p.stride_h = h; p.stride_w = w; return *this; }
  ProblemBuilder& stride(int s) { return stride(s, s); }
  ProblemBuilder& pad(int h, int w) { p.pad_h = h; p.pad_w = w; return *this; }
  ProblemBuilder& pad(int v) { return pad(v, v); }
  ProblemBuilder& dil(int h, int w) { p.dil_h = h; p.dil_w = w; return *this; }
  ProblemBuilder& dil(int d) { return dil(d, d); }
  ProblemBuilder& groups(int g) { p.groups = g; return *this; }
  ProblemBuilder& out_pad(int h, int w) { p.out_pad_h = h; p.out_pad_w = w; return *this; }
  ProblemBuilder& out_pad(int v) { return out_pad(v, v); }
  ProblemBuilder& bias(bool b = true) { p.has_bias = b; return *this; }
  operator Conv2dProblem() const { return p; }  // NOLINT: implicit on purpose
};

inline ProblemBuilder conv(int N, int C, int H, int W, int K) {
  ProblemBuilder b;
  b.p.N = N; b.p.C = C; b.p.H = H; b.p.W = W; b.p.K = K;
  return b;
}
inline ProblemBuilder conv_t(int N, int C, int H, int W, int K) {
  ProblemBuilder b = conv(N, C, H, W, K);
  b.p.transposed = true;
  return b;
}

// The conv_transpose2d problem whose forward equals conv problem `c`'s backward-data (same weight
// buffer, same hyper-parameters, output_padding picked so its output is c's H x W). Returns false
// when no legal output_padding gives H x W.
inline bool matching_transposed(const Conv2dProblem& c, Conv2dProblem* t) {
  *t = c;
  t->transposed = true;
  t->C = c.K;
  t->K = c.C;
  t->H = static_cast<int>(c.P());
  t->W = static_cast<int>(c.Q());
  t->out_pad_h = 0;
  t->out_pad_w = 0;
  t->out_pad_h = static_cast<int>(c.H - t->P());
  t->out_pad_w = static_cast<int>(c.W - t->Q());
  const bool ok_h = t->out_pad_h < t->stride_h || t->out_pad_h < t->dil_h;
  const bool ok_w = t->out_pad_w < t->stride_w || t->out_pad_w < t->dil_w;
  return ok_h && ok_w;
}

struct NamedProblem {
  std::string name;
  Conv2dProblem p;
  // Small enough for every CUDA test under emulation (fibers + ASan): see conv_cuda_test.cpp.
  bool small = true;
};

// gtest prints a failing parameter with this instead of its bytes.
inline void PrintTo(const NamedProblem& np, std::ostream* os) { *os << np.name << ": " << np.p.str(); }

// The hand-written awkward cases (conv2d and conv_transpose2d), all cheap.
inline std::vector<NamedProblem> awkward_problems() {
  return {
      {"basic_3x3", conv(2, 3, 8, 8, 4).kernel(3).pad(1).bias()},
      {"odd_nonsquare", conv(2, 3, 7, 11, 5).kernel(3, 2).stride(2, 1).pad(1, 0)},
      {"stride3_dil2", conv(1, 2, 13, 9, 3).kernel(3).stride(3).dil(2).pad(2, 1).bias()},
      {"dil3_pad_k", conv(2, 3, 10, 12, 2).kernel(2, 3).dil(3, 2).pad(2, 3)},
      {"pad_eq_kernel", conv(1, 2, 5, 6, 3).kernel(3).pad(3).bias()},
      {"groups2", conv(2, 4, 9, 7, 6).kernel(3).stride(2).pad(1).groups(2).bias()},
      {"groups4_dil", conv(1, 8, 9, 9, 8).kernel(3).dil(2).pad(2).groups(4)},
      {"depthwise", conv(2, 4, 6, 5, 4).kernel(3).pad(1).groups(4).bias()},
      {"batch1_1x1_input", conv(1, 5, 1, 1, 7).kernel(1).bias()},
      {"1x1_input_padded", conv(2, 3, 1, 1, 4).kernel(3).pad(1)},
      {"kernel_eq_padded_input", conv(2, 3, 3, 2, 4).kernel(5, 4).pad(1).bias()},
      {"kernel_eq_input", conv(3, 2, 4, 4, 3).kernel(4)},
      {"kernel_eq_input_groups", conv(3, 4, 3, 2, 6).kernel(3, 2).groups(2).bias()},
      {"pointwise_1x1", conv(2, 16, 5, 7, 12).kernel(1).bias()},
      {"pointwise_1x1_groups", conv(2, 8, 4, 3, 6).kernel(1).groups(2)},
      {"pointwise_strided", conv(2, 6, 9, 8, 5).kernel(1).stride(2)},
      {"channels_1", conv(2, 1, 9, 10, 1).kernel(3).stride(2).pad(1).bias()},
      {"channels_64", conv(1, 64, 6, 6, 64).kernel(3).pad(1).bias()},
      {"channels_67_odd", conv(2, 67, 5, 4, 33).kernel(2).stride(1).pad(1)},
      {"wide_kernel_1x7", conv(1, 3, 4, 15, 2).kernel(1, 7).pad(0, 3).bias()},
      {"stride_gt_kernel", conv(2, 2, 11, 11, 3).kernel(2).stride(3)},
      {"stride2_last_column_unread", conv(2, 3, 6, 7, 4).kernel(2).stride(2).bias()},  // stage rows shorter than Wi / 2
      {"first_layer_batch4", conv(4, 1, 8, 8, 64).kernel(4).stride(2).pad(1)},  // few taps, many images per tile
      // First layers with several images per tile at 2 threads (8 tiles): backward-weight's
      // transposed form, per-thread gW copies summed in a fixed order (the adjoint test compares
      // two runs bit for bit).
      {"first_layer_8_tiles", conv(16, 1, 16, 18, 64).kernel(4).stride(2).pad(1)},
      {"first_layer_rgb_8_tiles", conv(16, 3, 10, 14, 64).kernel(4).stride(2).pad(1)},
      {"empty_batch", conv(0, 3, 5, 5, 2).kernel(3).bias()},
      // transposed-only: output_padding, both rules of it, and stride > kernel.
      {"t_out_pad", conv_t(2, 4, 5, 6, 3).kernel(3).stride(2).pad(1).out_pad(1).bias()},
      {"t_out_pad_nonsquare", conv_t(1, 3, 4, 5, 2).kernel(3, 2).stride(3, 2).pad(1, 0).out_pad(2, 1)},
      {"t_out_pad_below_dilation", conv_t(2, 2, 5, 4, 3).kernel(3).dil(2).out_pad(1).bias()},
      {"t_groups2_dil", conv_t(2, 4, 5, 5, 6).kernel(3).stride(2).pad(2).dil(2).groups(2).out_pad(1)},
      {"t_groups4", conv_t(1, 8, 3, 4, 4).kernel(2).stride(2).groups(4).bias()},
      {"t_stride_gt_kernel", conv_t(2, 3, 4, 3, 2).kernel(2).stride(3).bias()},
      {"t_1x1_input", conv_t(2, 6, 1, 1, 5).kernel(3).bias()},
      {"t_1x1_input_groups", conv_t(3, 4, 1, 1, 6).kernel(3, 2).groups(2).bias()},
      {"t_pointwise", conv_t(2, 5, 4, 6, 7).kernel(1)},
      {"t_big_pad", conv_t(1, 2, 6, 6, 2).kernel(5).pad(4)},
      {"t_empty_batch", conv_t(0, 2, 3, 3, 2).kernel(2).stride(2).bias()},
  };
}

// Every layer of the DCGAN generators and discriminators strider trains, at batch `n`.
//   64x64 RGB:  G 100-512-256-128-64-3, D 3-64-128-256-512-1 (kernel 4, stride 2, padding 1;
//               the first G and last D layers stride 1, padding 0)
//   32x32 grey: G 100-256-128-64-1, D 1-64-128-256-1
//   28x28 grey: G 100-256 (k7) -128-1, D 1-64-128-1 (k7)
// `small` marks the layers cheap enough for emulated CUDA at this batch (not the 1x1-input
// generator layers, whose weights have up to 1.3M elements).
inline std::vector<NamedProblem> dcgan_problems(int n, const std::string& suffix) {
  auto layer = [&](std::string name, Conv2dProblem p) {
    // Emulated CUDA pays ~1 us per thread under ASan, and the direct kernels run one thread per
    // output element: bound the buffer sizes as well as the flops.
    const bool small = p.flops() <= 40'000'000 &&
                       std::max({p.input_size(), p.output_size(), p.weight_size()}) <= 300'000;
    return NamedProblem{name + suffix, p, small};
  };
  return {
      layer("dcgan64_g1", conv_t(n, 100, 1, 1, 512).kernel(4)),
      layer("dcgan64_g2", conv_t(n, 512, 4, 4, 256).kernel(4).stride(2).pad(1)),
      layer("dcgan64_g3", conv_t(n, 256, 8, 8, 128).kernel(4).stride(2).pad(1)),
      layer("dcgan64_g4", conv_t(n, 128, 16, 16, 64).kernel(4).stride(2).pad(1)),
      layer("dcgan64_g5", conv_t(n, 64, 32, 32, 3).kernel(4).stride(2).pad(1).bias()),
      layer("dcgan64_d1", conv(n, 3, 64, 64, 64).kernel(4).stride(2).pad(1)),
      layer("dcgan64_d2", conv(n, 64, 32, 32, 128).kernel(4).stride(2).pad(1)),
      layer("dcgan64_d3", conv(n, 128, 16, 16, 256).kernel(4).stride(2).pad(1)),
      layer("dcgan64_d4", conv(n, 256, 8, 8, 512).kernel(4).stride(2).pad(1)),
      layer("dcgan64_d5", conv(n, 512, 4, 4, 1).kernel(4).bias()),
      layer("dcgan32_g1", conv_t(n, 100, 1, 1, 256).kernel(4)),
      layer("dcgan32_g2", conv_t(n, 256, 4, 4, 128).kernel(4).stride(2).pad(1)),
      layer("dcgan32_g3", conv_t(n, 128, 8, 8, 64).kernel(4).stride(2).pad(1)),
      layer("dcgan32_g4", conv_t(n, 64, 16, 16, 1).kernel(4).stride(2).pad(1).bias()),
      layer("dcgan32_d1", conv(n, 1, 32, 32, 64).kernel(4).stride(2).pad(1)),
      layer("dcgan32_d2", conv(n, 64, 16, 16, 128).kernel(4).stride(2).pad(1)),
      layer("dcgan32_d3", conv(n, 128, 8, 8, 256).kernel(4).stride(2).pad(1)),
      layer("dcgan32_d4", conv(n, 256, 4, 4, 1).kernel(4).bias()),
      layer("dcgan28_g1", conv_t(n, 100, 1, 1, 256).kernel(7)),
      layer("dcgan28_g2", conv_t(n, 256, 7, 7, 128).kernel(4).stride(2).pad(1)),
      layer("dcgan28_g3", conv_t(n, 128, 14, 14, 1).kernel(4).stride(2).pad(1).bias()),
      layer("dcgan28_d1", conv(n, 1, 28, 28, 64).kernel(4).stride(2).pad(1)),
      layer("dcgan28_d2", conv(n, 64, 14, 14, 128).kernel(4).stride(2).pad(1)),
      layer("dcgan28_d3", conv(n, 128, 7, 7, 1).kernel(7).bias()),
  };
}

// Batches whose CPU column tiles hold several whole images, where the CPU path's fastest code runs
// (backward-data's rows ordered for register stores, gy gathered and dcol scattered in place; the
// generator's forwards through the same): DCGAN's 4x4-output layers at batch 4 with their real
// channels, and an 8x8-output layer and its transpose at batch 16 with fewer channels (two
// 12-channel blocks and a remainder; the real ones at batch 16 cost the float64 reference ~3 s
// each). Batch 1 never reaches these tiles. For the CPU tests (too slow for the emulated device).
inline std::vector<NamedProblem> multi_image_problems() {
  std::vector<NamedProblem> out;
  for (const NamedProblem& np : dcgan_problems(4, "_b4"))
    if (np.name == "dcgan32_d3_b4" || np.name == "dcgan32_g2_b4") out.push_back(np);
  out.push_back({"like_dcgan_8x8_out_b16", conv(16, 28, 16, 16, 40).kernel(4).stride(2).pad(1), false});
  out.push_back({"like_dcgan_t_8x8_in_b16", conv_t(16, 40, 8, 8, 28).kernel(4).stride(2).pad(1).bias(), false});
  return out;
}

// The full list: awkward cases, their matching transposed problems, DCGAN layers at batch 1
// (batch > 1 is covered by the awkward cases and the PyTorch fixtures; batch 1 keeps the float64
// reference on the full-width DCGAN layers affordable under the sanitizers).
inline std::vector<NamedProblem> all_problems() {
  std::vector<NamedProblem> out;
  for (const NamedProblem& np : awkward_problems()) {
    out.push_back(np);
    Conv2dProblem t;
    if (!np.p.transposed && np.p.N > 0 && matching_transposed(np.p, &t)) {
      out.push_back({"t_of_" + np.name, t, np.small});
    }
  }
  for (const NamedProblem& np : dcgan_problems(1, "_b1")) out.push_back(np);
  return out;
}

}  // namespace strider::test
