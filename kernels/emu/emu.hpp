// The CUDA emulator's public face: everything a .cu file sees in the emulated build.
// Include <strider/kernels/cuda_runtime.hpp> instead of this header: it picks the real CUDA
// runtime or this one and adds the launch and error-check macros.
#pragma once

#include <strider/kernels/emu/vector_types.hpp>
#include <strider/kernels/emu/runtime.hpp>
#include <strider/kernels/emu/device.hpp>
#include <strider/kernels/emu/atomics.hpp>
#include <strider/kernels/emu/math.hpp>
#include <strider/kernels/emu/launch.hpp>
