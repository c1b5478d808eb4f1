# Third-party libraries. Every one comes from Debian (scripts/install-deps.sh installs them).
find_package(Threads REQUIRED)
find_package(OpenMP REQUIRED COMPONENTS CXX)

# CPU GEMM: OpenBLAS's cblas_?gemm (STRIDER_BLAS=ON), else kernels/cpu/gemm.cpp's portable GEMM.
# Debian puts cblas.h under /usr/include/<triplet>/openblas-pthread.
set(STRIDER_HAS_BLAS 0)
if(STRIDER_BLAS)
  find_path(STRIDER_CBLAS_INCLUDE cblas.h
    PATH_SUFFIXES openblas openblas-pthread x86_64-linux-gnu/openblas-pthread aarch64-linux-gnu/openblas-pthread)
  find_library(STRIDER_OPENBLAS_LIBRARY NAMES openblas)
  if(NOT STRIDER_CBLAS_INCLUDE OR NOT STRIDER_OPENBLAS_LIBRARY)
    message(FATAL_ERROR "strider needs OpenBLAS (cblas.h and libopenblas): apt-get install libopenblas-dev "
                        "(or run scripts/install-deps.sh), or configure with -DSTRIDER_BLAS=OFF for the portable "
                        "(slower) GEMM.")
  endif()
  set(STRIDER_HAS_BLAS 1)
  set(STRIDER_BLAS_SUMMARY "OpenBLAS ${STRIDER_OPENBLAS_LIBRARY}")
else()
  set(STRIDER_BLAS_SUMMARY "portable GEMM (STRIDER_BLAS=OFF)")
endif()

if(STRIDER_EMULATED_CUDA)
  find_package(Boost 1.70 REQUIRED COMPONENTS context)
endif()
