# File I/O of core/ (file_io.cpp, serialize.cpp) and models/ (data, image, plot): their
# third-party libraries, all private to libstrider (none appears in an installed header).
include(StriderIoDeps)
# nlohmann_json is header-only: keep it out of the exported link interface.
target_link_libraries(strider PRIVATE $<BUILD_INTERFACE:nlohmann_json::nlohmann_json> ZLIB::ZLIB PNG::PNG)
target_include_directories(strider SYSTEM PRIVATE ${STRIDER_STB_INCLUDE_DIR})
