# models/ I/O: datasets (data), image files and grids (image), loss plots and metrics CSV
# (plot). Their third-party libraries are linked in core/io.cmake.
target_sources(strider PRIVATE
  ${CMAKE_CURRENT_LIST_DIR}/data.cpp
  ${CMAKE_CURRENT_LIST_DIR}/image.cpp
  ${CMAKE_CURRENT_LIST_DIR}/plot.cpp)
