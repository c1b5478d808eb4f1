// CUDA's built-in vector types for the emulated build: dim3, uint3, float2, float4, int2, ...
// with the same member names, sizes and alignments as <vector_types.h>, and the make_* helpers.
// Included through <strider/kernels/cuda_runtime.hpp>; never directly by kernel code.
#pragma once

#include <cstddef>

// CUDA aligns a 2-component type to twice its element, a 4-component one to min(4x, 16) bytes;
// 1- and 3-component types keep the element's alignment.
#define STRIDER_EMU_VEC1(T, name)                                                  \
  struct alignas(sizeof(T)) name { T x; };                                         \
  inline constexpr name make_##name(T x) { return name{x}; }
#define STRIDER_EMU_VEC2(T, name)                                                  \
  struct alignas(2 * sizeof(T)) name { T x, y; };                                  \
  inline constexpr name make_##name(T x, T y) { return name{x, y}; }
#define STRIDER_EMU_VEC3(T, name)                                                  \
  struct name { T x, y, z; };                                                      \
  inline constexpr name make_##name(T x, T y, T z) { return name{x, y, z}; }
#define STRIDER_EMU_VEC4(T, name)                                                  \
  struct alignas(4 * sizeof(T) < 16 ? 4 * sizeof(T) : 16) name { T x, y, z, w; }; \
  inline constexpr name make_##name(T x, T y, T z, T w) { return name{x, y, z, w}; }
#define STRIDER_EMU_VEC_ALL(T, name) \
  STRIDER_EMU_VEC1(T, name##1)       \
  STRIDER_EMU_VEC2(T, name##2)       \
  STRIDER_EMU_VEC3(T, name##3)       \
  STRIDER_EMU_VEC4(T, name##4)

STRIDER_EMU_VEC_ALL(signed char, char)
STRIDER_EMU_VEC_ALL(unsigned char, uchar)
STRIDER_EMU_VEC_ALL(short, short)
STRIDER_EMU_VEC_ALL(unsigned short, ushort)
STRIDER_EMU_VEC_ALL(int, int)
STRIDER_EMU_VEC_ALL(unsigned int, uint)
STRIDER_EMU_VEC_ALL(long, long)
STRIDER_EMU_VEC_ALL(unsigned long, ulong)
STRIDER_EMU_VEC_ALL(long long, longlong)
STRIDER_EMU_VEC_ALL(unsigned long long, ulonglong)
STRIDER_EMU_VEC_ALL(float, float)
STRIDER_EMU_VEC_ALL(double, double)

#undef STRIDER_EMU_VEC_ALL
#undef STRIDER_EMU_VEC4
#undef STRIDER_EMU_VEC3
#undef STRIDER_EMU_VEC2
#undef STRIDER_EMU_VEC1

// Launch geometry: every component defaults to 1, as in CUDA.
struct dim3 {
  unsigned int x, y, z;
  constexpr dim3(unsigned int vx = 1, unsigned int vy = 1, unsigned int vz = 1) : x(vx), y(vy), z(vz) {}
  constexpr dim3(uint3 v) : x(v.x), y(v.y), z(v.z) {}  // NOLINT(google-explicit-constructor): as CUDA
  constexpr operator uint3() const { return uint3{x, y, z}; }
};
