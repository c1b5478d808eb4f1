# Decides which CUDA flavour this build has:
#   real      nvcc found (or STRIDER_CUDA=ON): .cu files built by nvcc for GPUs, cuDNN if present
#   emulated  STRIDER_CUDA_EMULATION=ON: .cu files built by the host compiler against kernels/emu
#   none      CPU-only build
# Sets STRIDER_HAS_CUDA, STRIDER_EMULATED_CUDA, STRIDER_HAS_CUDNN, STRIDER_CUDA_SUMMARY and
# defines strider_add_cuda_sources(target ...).

set(STRIDER_HAS_CUDA OFF)
set(STRIDER_EMULATED_CUDA OFF)
set(STRIDER_HAS_CUDNN OFF)

if(STRIDER_CUDA_EMULATION)
  if(STRIDER_CUDA STREQUAL "ON")
    message(FATAL_ERROR "STRIDER_CUDA=ON and STRIDER_CUDA_EMULATION=ON exclude each other: "
                        "pick the real GPU build or the emulated one.")
  endif()
  set(STRIDER_HAS_CUDA ON)
  set(STRIDER_EMULATED_CUDA ON)
  set(STRIDER_CUDA_SUMMARY "emulated (kernels/emu, host compiler)")
elseif(NOT STRIDER_CUDA STREQUAL "OFF")
  include(CheckLanguage)
  if(NOT DEFINED CMAKE_CUDA_COMPILER AND NOT DEFINED ENV{CUDACXX} AND EXISTS /usr/local/cuda/bin/nvcc)
    set(CMAKE_CUDA_COMPILER /usr/local/cuda/bin/nvcc)
  endif()
  check_language(CUDA)
  if(CMAKE_CUDA_COMPILER)
    if(NOT DEFINED CMAKE_CUDA_ARCHITECTURES)
      set(CMAKE_CUDA_ARCHITECTURES 80 90 CACHE STRING "GPU architectures to build for")
    endif()
    enable_language(CUDA)
    # CMake 3.25 does not know nvcc's C++20 flag yet.
    if(NOT DEFINED CMAKE_CUDA20_STANDARD_COMPILE_OPTION)
      set(CMAKE_CUDA20_STANDARD_COMPILE_OPTION "-std=c++20")
      set(CMAKE_CUDA20_EXTENSION_COMPILE_OPTION "-std=c++20")
    endif()
    set(CMAKE_CUDA_STANDARD 20)
    set(CMAKE_CUDA_STANDARD_REQUIRED ON)
    find_package(CUDAToolkit REQUIRED)
    set(STRIDER_HAS_CUDA ON)
    find_path(STRIDER_CUDNN_INCLUDE cudnn.h HINTS ${CUDAToolkit_INCLUDE_DIRS} /usr/include /usr/local/cuda/include)
    find_library(STRIDER_CUDNN_LIBRARY cudnn HINTS ${CUDAToolkit_LIBRARY_DIR} /usr/lib/x86_64-linux-gnu /usr/local/cuda/lib64)
    if(STRIDER_CUDNN_INCLUDE AND STRIDER_CUDNN_LIBRARY)
      set(STRIDER_HAS_CUDNN ON)
    endif()
    set(STRIDER_CUDA_SUMMARY "real (nvcc ${CMAKE_CUDA_COMPILER_VERSION}, sm ${CMAKE_CUDA_ARCHITECTURES}, cuDNN ${STRIDER_HAS_CUDNN})")
  elseif(STRIDER_CUDA STREQUAL "ON")
    message(FATAL_ERROR "STRIDER_CUDA=ON but no CUDA compiler (nvcc) was found. Put nvcc on PATH, "
                        "set CMAKE_CUDA_COMPILER, or configure with -DSTRIDER_CUDA=OFF.")
  else()
    set(STRIDER_CUDA_SUMMARY "none")
    message(STATUS "strider: no CUDA compiler (nvcc) found: building the CPU backend only. "
                   "Install the CUDA toolkit for GPU kernels, or use -DSTRIDER_CUDA_EMULATION=ON "
                   "to run the CUDA kernels on the CPU.")
  endif()
else()
  set(STRIDER_CUDA_SUMMARY "none (STRIDER_CUDA=OFF)")
endif()

# Adds .cu sources to a target the way this build runs them: nvcc for a real build, the host
# C++ compiler (with the emulation headers) for an emulated one, nothing for a CPU-only build.
function(strider_add_cuda_sources target)
  if(NOT STRIDER_HAS_CUDA)
    return()
  endif()
  if(STRIDER_EMULATED_CUDA)
    # The property must be set where the target lives (the top level), not in the calling folder.
    set_source_files_properties(${ARGN} TARGET_DIRECTORY ${target} PROPERTIES LANGUAGE CXX)
  endif()
  target_sources(${target} PRIVATE ${ARGN})
endfunction()
