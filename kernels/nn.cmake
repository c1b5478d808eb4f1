# The kernels a DCGAN needs besides convolution and GEMM: batch norm, losses, optimizer steps.
# Included from kernels/CMakeLists.txt (paths relative to kernels/).
target_sources(strider PRIVATE
  ${CMAKE_CURRENT_LIST_DIR}/cpu/batchnorm.cpp
  ${CMAKE_CURRENT_LIST_DIR}/cpu/loss.cpp
  ${CMAKE_CURRENT_LIST_DIR}/cpu/optim.cpp)
# Adam's sqrt vectorises only when it need not set errno (strider never reads errno).
set_source_files_properties(${CMAKE_CURRENT_LIST_DIR}/cpu/optim.cpp TARGET_DIRECTORY strider PROPERTIES
  COMPILE_OPTIONS "$<$<CXX_COMPILER_ID:GNU,Clang>:-fno-math-errno>")
if(STRIDER_HAS_CUDA)
  strider_add_cuda_sources(strider
    ${CMAKE_CURRENT_LIST_DIR}/cuda/batchnorm.cu
    ${CMAKE_CURRENT_LIST_DIR}/cuda/loss.cu
    ${CMAKE_CURRENT_LIST_DIR}/cuda/optim.cu)
endif()
