# Finds standalone Asio (Debian: libasio-dev), which ships no CMake config of its own.
# Defines the imported target asio::asio.
find_path(Asio_INCLUDE_DIR NAMES asio.hpp)
if(Asio_INCLUDE_DIR AND EXISTS "${Asio_INCLUDE_DIR}/asio/version.hpp")
  file(STRINGS "${Asio_INCLUDE_DIR}/asio/version.hpp" _asio_version_line
       REGEX "^#define ASIO_VERSION [0-9]+")
  string(REGEX REPLACE "^#define ASIO_VERSION ([0-9]+).*" "\\1" _asio_v "${_asio_version_line}")
  math(EXPR _major "${_asio_v} / 100000")
  math(EXPR _minor "${_asio_v} / 100 % 1000")
  math(EXPR _patch "${_asio_v} % 100")
  set(Asio_VERSION "${_major}.${_minor}.${_patch}")
endif()
include(FindPackageHandleStandardArgs)
find_package_handle_standard_args(Asio REQUIRED_VARS Asio_INCLUDE_DIR VERSION_VAR Asio_VERSION)
if(Asio_FOUND AND NOT TARGET asio::asio)
  find_package(Threads REQUIRED)
  add_library(asio::asio INTERFACE IMPORTED)
  set_target_properties(asio::asio PROPERTIES
    INTERFACE_INCLUDE_DIRECTORIES "${Asio_INCLUDE_DIR}"
    # Without ASIO_DISABLE_STD_ALIGNED_ALLOC, Asio picks its allocator from libstdc++ macros
    # that depend on include order, and translation units can disagree (ASan: alloc-dealloc mismatch).
    # Every translation unit must see the same Asio configuration; ASIO_DISABLE_STD_STRING_VIEW
    # is kept from when RESTinio (the former HTTP server) needed it, so that nothing changes
    # for the code that builds with it.
    INTERFACE_COMPILE_DEFINITIONS "ASIO_STANDALONE;ASIO_DISABLE_STD_ALIGNED_ALLOC;ASIO_DISABLE_STD_STRING_VIEW"
    INTERFACE_LINK_LIBRARIES Threads::Threads)
endif()
mark_as_advanced(Asio_INCLUDE_DIR)
