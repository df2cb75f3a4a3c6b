# Precompiled headers: the heavy headers that nearly every file includes (the standard
# library, Asio, fmt, spdlog, nlohmann/json, CLI11, Catch2, protobuf and gRPC) are parsed
# once per target instead of once per file. A build from nothing (CI, a new machine, the
# image build: no compiler cache) spends most of its time in them.
#
# TNL_PCH=OFF turns them off: for tools that read compile_commands.json, or a compiler
# cache configured without `sloppiness = pch_defines,time_macros`.
option(TNL_PCH "Precompile the heavy common headers (faster builds from nothing)" ON)

# The standard headers most of our files include.
set(TNL_PCH_STD
  <algorithm> <array> <chrono> <cstddef> <cstdint> <deque> <functional> <map> <memory>
  <optional> <set> <stdexcept> <string> <string_view> <system_error> <unordered_map>
  <utility> <variant> <vector>)

# Header groups, by the library they come from; a target names the groups it uses.
set(TNL_PCH_ASIO <asio.hpp>)
set(TNL_PCH_ASIO_SSL <asio/ssl.hpp>)
set(TNL_PCH_FMT <fmt/format.h> <fmt/chrono.h> <fmt/ranges.h>)
set(TNL_PCH_SPDLOG <spdlog/spdlog.h>)
set(TNL_PCH_JSON <nlohmann/json.hpp>)
set(TNL_PCH_CLI <CLI/CLI.hpp>)
set(TNL_PCH_CATCH <catch2/catch.hpp>)
set(TNL_PCH_PROTOBUF <google/protobuf/message.h> <google/protobuf/generated_message_reflection.h>
  <google/protobuf/descriptor.h> <google/protobuf/io/coded_stream.h>)
set(TNL_PCH_GRPC <grpcpp/grpcpp.h>)

# tnl_precompile(TARGET GROUP...): precompiles the standard headers and those of each GROUP
# (ASIO, ASIO_SSL, FMT, SPDLOG, JSON, CLI, CATCH, PROTOBUF, GRPC) for TARGET's own files.
# Only groups whose headers TARGET already reaches belong here: a precompiled header is
# included into every file of the target.
#
# Measured on the Release build (2 cores): an optimised file spends its time generating
# code, not parsing (the server core took as long with precompiled headers as without), and
# a big precompiled header costs a small file some 3 s to load. So libraries and programs
# get them only in unoptimised builds (Debug: the ASan+UBSan build); the test programs,
# compiled at -O0 in every build (tests/CMakeLists.txt), always (a heavy test file: 23 s ->
# 10 s). tnl_precompile_always() is the test programs' entry.
function(tnl_precompile target)
  if(CMAKE_BUILD_TYPE STREQUAL "Debug")
    tnl_precompile_always(${target} ${ARGN})
  endif()
endfunction()

function(tnl_precompile_always target)
  if(NOT TNL_PCH)
    return()
  endif()
  set(headers ${TNL_PCH_STD})
  foreach(group IN LISTS ARGN)
    if(NOT DEFINED TNL_PCH_${group})
      message(FATAL_ERROR "tnl_precompile: unknown header group ${group}")
    endif()
    list(APPEND headers ${TNL_PCH_${group}})
  endforeach()
  target_precompile_headers(${target} PRIVATE ${headers})
endfunction()
