# `cmake --install` yields include/strider/..., lib/libstrider.so and a CMake package, so an
# outside project does find_package(strider) + target_link_libraries(app strider::strider).
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

install(TARGETS strider EXPORT striderTargets
        LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
        ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
        RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR}
        INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(FILES strider.hpp ${CMAKE_CURRENT_BINARY_DIR}/generated/strider/config.hpp
        DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/strider)
foreach(dir core kernels layers models)
  install(DIRECTORY ${dir}/ DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/strider/${dir}
          FILES_MATCHING PATTERN "*.hpp" PATTERN "*.cuh")
endforeach()

install(EXPORT striderTargets NAMESPACE strider:: DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/strider)
if(STRIDER_HAS_CUDA AND NOT STRIDER_EMULATED_CUDA)
  set(STRIDER_REAL_CUDA ON)
else()
  set(STRIDER_REAL_CUDA OFF)
endif()
configure_package_config_file(cmake/striderConfig.cmake.in
  ${CMAKE_CURRENT_BINARY_DIR}/striderConfig.cmake
  INSTALL_DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/strider)
write_basic_package_version_file(${CMAKE_CURRENT_BINARY_DIR}/striderConfigVersion.cmake
  COMPATIBILITY SameMinorVersion)
install(FILES ${CMAKE_CURRENT_BINARY_DIR}/striderConfig.cmake
              ${CMAKE_CURRENT_BINARY_DIR}/striderConfigVersion.cmake
        DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/strider)
