# Third-party libraries. Every one comes from Debian (scripts/install-deps.sh installs them).
find_package(Threads REQUIRED)
find_package(OpenMP REQUIRED COMPONENTS CXX)

# CPU GEMM: OpenBLAS's cblas_sgemm. Debian puts cblas.h under /usr/include/<triplet>/openblas-pthread.
find_path(STRIDER_CBLAS_INCLUDE cblas.h
  PATH_SUFFIXES openblas openblas-pthread x86_64-linux-gnu/openblas-pthread aarch64-linux-gnu/openblas-pthread)
find_library(STRIDER_OPENBLAS_LIBRARY NAMES openblas)
if(NOT STRIDER_CBLAS_INCLUDE OR NOT STRIDER_OPENBLAS_LIBRARY)
  message(FATAL_ERROR "strider needs OpenBLAS (cblas.h and libopenblas): apt-get install libopenblas-dev "
                      "(or run scripts/install-deps.sh).")
endif()
set(STRIDER_BLAS_SUMMARY "OpenBLAS ${STRIDER_OPENBLAS_LIBRARY}")

if(STRIDER_EMULATED_CUDA)
  find_package(Boost 1.70 REQUIRED COMPONENTS context)
endif()
