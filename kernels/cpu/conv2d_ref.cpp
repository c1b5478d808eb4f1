// ref:: float64 reference for kernels/conv2d.hpp: the definition written as loops, one output
// element at a time, single-threaded. Tests judge every other backend against it, so it favours
// being obviously right over being fast. Each pass gathers (never scatters), so every output
// element is written exactly once, and each is a direct transcription of its formula below.
#include <strider/kernels/conv2d.hpp>

#include <cstdint>

#include <strider/core/error.hpp>

namespace strider::kernels::ref {
namespace {

using Idx = std::int64_t;

Idx at4(Idx a, Idx b, Idx c, Idx d, Idx B, Idx Cs, Idx D) { return ((a * B + b) * Cs + c) * D + d; }

// yc[n, co, ho, wo] = bias[co] + sum_{ci, r, s} xc[n, g Cg + ci, ho sh - ph + r dh, wo sw - pw + s dw]
//                                                * w[co, ci, r, s]
void lowered_forward(const Conv2dLowered& l, const double* xc, const double* w, const double* bias, double* yc) {
  const int Cg = l.ci_per_group(), Kg = l.co_per_group();
  for (Idx n = 0; n < l.N; ++n)
    for (Idx co = 0; co < l.Co; ++co)
      for (Idx ho = 0; ho < l.Ho; ++ho)
        for (Idx wo = 0; wo < l.Wo; ++wo) {
          const Idx g = co / Kg;
          double acc = bias ? bias[co] : 0.0;
          for (Idx ci = 0; ci < Cg; ++ci)
            for (Idx r = 0; r < l.R; ++r)
              for (Idx s = 0; s < l.S; ++s) {
                const Idx hi = ho * l.stride_h - l.pad_h + r * l.dil_h;
                const Idx wi = wo * l.stride_w - l.pad_w + s * l.dil_w;
                if (hi < 0 || hi >= l.Hi || wi < 0 || wi >= l.Wi) continue;
                acc += xc[at4(n, g * Cg + ci, hi, wi, l.Ci, l.Hi, l.Wi)] * w[at4(co, ci, r, s, Cg, l.R, l.S)];
              }
          yc[at4(n, co, ho, wo, l.Co, l.Ho, l.Wo)] = acc;
        }
}

// gxc[n, ci, hi, wi] = bias[ci] + sum over (co in the group of ci, r, s) with
//   ho = (hi + ph - r dh) / sh integral and in [0, Ho), wo likewise,
// of gyc[n, co, ho, wo] * w[co, ci - g Cg, r, s]   (the adjoint of lowered_forward)
void lowered_backward_data(const Conv2dLowered& l, const double* gyc, const double* w, const double* bias,
                           double* gxc) {
  const int Cg = l.ci_per_group(), Kg = l.co_per_group();
  for (Idx n = 0; n < l.N; ++n)
    for (Idx ci = 0; ci < l.Ci; ++ci)
      for (Idx hi = 0; hi < l.Hi; ++hi)
        for (Idx wi = 0; wi < l.Wi; ++wi) {
          const Idx g = ci / Cg;
          double acc = bias ? bias[ci] : 0.0;
          for (Idx k = 0; k < Kg; ++k)
            for (Idx r = 0; r < l.R; ++r)
              for (Idx s = 0; s < l.S; ++s) {
                const Idx th = hi + l.pad_h - r * l.dil_h, tw = wi + l.pad_w - s * l.dil_w;
                if (th < 0 || tw < 0 || th % l.stride_h != 0 || tw % l.stride_w != 0) continue;
                const Idx ho = th / l.stride_h, wo = tw / l.stride_w;
                if (ho >= l.Ho || wo >= l.Wo) continue;
                const Idx co = g * Kg + k;
                acc += gyc[at4(n, co, ho, wo, l.Co, l.Ho, l.Wo)] * w[at4(co, ci - g * Cg, r, s, Cg, l.R, l.S)];
              }
          gxc[at4(n, ci, hi, wi, l.Ci, l.Hi, l.Wi)] = acc;
        }
}

// gw[co, ci, r, s] = sum_{n, ho, wo} gyc[n, co, ho, wo] * xc[n, g Cg + ci, ho sh - ph + r dh, wo sw - pw + s dw]
void lowered_backward_weight(const Conv2dLowered& l, const double* xc, const double* gyc, double* gw) {
  const int Cg = l.ci_per_group(), Kg = l.co_per_group();
  for (Idx co = 0; co < l.Co; ++co)
    for (Idx ci = 0; ci < Cg; ++ci)
      for (Idx r = 0; r < l.R; ++r)
        for (Idx s = 0; s < l.S; ++s) {
          const Idx g = co / Kg;
          double acc = 0.0;
          for (Idx n = 0; n < l.N; ++n)
            for (Idx ho = 0; ho < l.Ho; ++ho)
              for (Idx wo = 0; wo < l.Wo; ++wo) {
                const Idx hi = ho * l.stride_h - l.pad_h + r * l.dil_h;
                const Idx wi = wo * l.stride_w - l.pad_w + s * l.dil_w;
                if (hi < 0 || hi >= l.Hi || wi < 0 || wi >= l.Wi) continue;
                acc += gyc[at4(n, co, ho, wo, l.Co, l.Ho, l.Wo)] * xc[at4(n, g * Cg + ci, hi, wi, l.Ci, l.Hi, l.Wi)];
              }
          gw[at4(co, ci, r, s, Cg, l.R, l.S)] = acc;
        }
}

// gb[k] = sum_{n, i} g[n, k, i] over an (N, K, HW) buffer.
void channel_sum(const double* g, Idx N, Idx K, Idx HW, double* gb) {
  for (Idx k = 0; k < K; ++k) {
    double acc = 0.0;
    for (Idx n = 0; n < N; ++n)
      for (Idx i = 0; i < HW; ++i) acc += g[(n * K + k) * HW + i];
    gb[k] = acc;
  }
}

}  // namespace

constexpr bool kConv = false, kTransposed = true;
constexpr const char* kBackend = "ref";

void conv2d_forward(const Conv2dProblem& p, const double* x, const double* weight, const double* bias, double* y) {
  const Conv2dLowered l = conv2d_begin_pass(p, kConv, Conv2dPass::kForward, kBackend, {x, weight, bias, y});
  lowered_forward(l, x, weight, p.has_bias ? bias : nullptr, y);
}

void conv2d_backward_data(const Conv2dProblem& p, const double* grad_y, const double* weight, double* grad_x) {
  const Conv2dLowered l = conv2d_begin_pass(p, kConv, Conv2dPass::kBackwardData, kBackend, {grad_y, weight, grad_x});
  lowered_backward_data(l, grad_y, weight, nullptr, grad_x);
}

void conv2d_backward_weight(const Conv2dProblem& p, const double* x, const double* grad_y, double* grad_weight,
                            double* grad_bias) {
  const Conv2dLowered l =
      conv2d_begin_pass(p, kConv, Conv2dPass::kBackwardWeight, kBackend, {x, grad_y, grad_weight, grad_bias});
  lowered_backward_weight(l, x, grad_y, grad_weight);
  if (p.has_bias) channel_sum(grad_y, p.N, p.K, p.P() * p.Q(), grad_bias);
}

void conv_transpose2d_forward(const Conv2dProblem& p, const double* x, const double* weight, const double* bias,
                              double* y) {
  const Conv2dLowered l = conv2d_begin_pass(p, kTransposed, Conv2dPass::kForward, kBackend, {x, weight, bias, y});
  lowered_backward_data(l, x, weight, p.has_bias ? bias : nullptr, y);
}

void conv_transpose2d_backward_data(const Conv2dProblem& p, const double* grad_y, const double* weight,
                                    double* grad_x) {
  const Conv2dLowered l =
      conv2d_begin_pass(p, kTransposed, Conv2dPass::kBackwardData, kBackend, {grad_y, weight, grad_x});
  lowered_forward(l, grad_y, weight, nullptr, grad_x);
}

void conv_transpose2d_backward_weight(const Conv2dProblem& p, const double* x, const double* grad_y,
                                      double* grad_weight, double* grad_bias) {
  const Conv2dLowered l =
      conv2d_begin_pass(p, kTransposed, Conv2dPass::kBackwardWeight, kBackend, {x, grad_y, grad_weight, grad_bias});
  lowered_backward_weight(l, grad_y, x, grad_weight);
  if (p.has_bias) channel_sum(grad_y, p.N, p.K, p.P() * p.Q(), grad_bias);
}

}  // namespace strider::kernels::ref
