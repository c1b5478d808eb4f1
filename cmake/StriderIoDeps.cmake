# Third-party libraries of strider's file I/O (core/file_io, core/serialize, models/data,
# models/image, models/plot). All from Debian; scripts/install-deps.sh installs them.
#   nlohmann_json  safetensors headers          nlohmann-json3-dev (header-only)
#   ZLIB           gzip-compressed IDX datasets zlib1g-dev
#   PNG            writing PNG images           libpng-dev
#   stb            decoding PNG/JPEG (stb_image), test images (stb_image_write), text
#                  for plots (stb_easy_font)   libstb-dev (header-only use; implementation
#                  compiled into strider with static linkage, so no libstb at run time)
include_guard(GLOBAL)

find_package(nlohmann_json 3.2 QUIET)
if(NOT nlohmann_json_FOUND)
  message(FATAL_ERROR "strider needs nlohmann/json for safetensors headers: apt-get install nlohmann-json3-dev "
                      "(or run scripts/install-deps.sh).")
endif()
find_package(ZLIB QUIET)
if(NOT ZLIB_FOUND)
  message(FATAL_ERROR "strider needs zlib for gzip datasets: apt-get install zlib1g-dev (or run scripts/install-deps.sh).")
endif()
find_package(PNG QUIET)
if(NOT PNG_FOUND)
  message(FATAL_ERROR "strider needs libpng to write images: apt-get install libpng-dev (or run scripts/install-deps.sh).")
endif()
# Found once (include_guard) but used from core/, models/ and tests/: make the targets global.
foreach(t nlohmann_json::nlohmann_json ZLIB::ZLIB PNG::PNG)
  get_target_property(strider_io_is_global ${t} IMPORTED_GLOBAL)
  if(NOT strider_io_is_global)
    set_target_properties(${t} PROPERTIES IMPORTED_GLOBAL TRUE)
  endif()
endforeach()
find_path(STRIDER_STB_INCLUDE_DIR stb_image.h PATH_SUFFIXES stb)
if(NOT STRIDER_STB_INCLUDE_DIR)
  message(FATAL_ERROR "strider needs the stb headers (stb_image.h) to read images: apt-get install libstb-dev "
                      "(or run scripts/install-deps.sh).")
endif()
