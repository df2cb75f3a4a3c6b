# C++ stubs for Tracker's gRPC API (proto/tracker/lock/v1alpha1/lock.proto, ours; Tracker's
# package and numbers) and our extensions (proto/tcpnetlock/v1/lock_extensions.proto), generated at build time with Debian's protoc and grpc_cpp_plugin,
# into the static library `tnl_tracker_proto`. Included as
# "tracker/lock/v1alpha1/lock.pb.h" and "tracker/lock/v1alpha1/lock.grpc.pb.h".
# The imports (google/protobuf/timestamp.proto, wrappers.proto) are libprotobuf's own.

find_package(Protobuf REQUIRED)
# gRPC's CMake package checks that grpc_cpp_plugin exists (protobuf-compiler-grpc).
find_package(gRPC CONFIG REQUIRED)
find_program(TNL_GRPC_CPP_PLUGIN grpc_cpp_plugin REQUIRED)
if(NOT Protobuf_PROTOC_EXECUTABLE)
  message(FATAL_ERROR "protoc not found: install protobuf-compiler")
endif()
set(TNL_PROTOBUF_INCLUDE_DIR /usr/include CACHE PATH "Directory holding google/protobuf/descriptor.proto")

set(_tnl_tracker_root ${PROJECT_SOURCE_DIR}/proto)
set(_tnl_tracker_protos tracker/lock/v1alpha1/lock.proto tcpnetlock/v1/lock_extensions.proto)
set(TNL_TRACKER_PROTO_GEN_DIR ${CMAKE_BINARY_DIR}/tracker_proto)

set(_tnl_tracker_sources)
foreach(name ${_tnl_tracker_protos})
  string(REGEX REPLACE "\\.proto$" "" stem "${name}")
  set(outputs ${TNL_TRACKER_PROTO_GEN_DIR}/${stem}.pb.cc ${TNL_TRACKER_PROTO_GEN_DIR}/${stem}.pb.h
              ${TNL_TRACKER_PROTO_GEN_DIR}/${stem}.grpc.pb.cc ${TNL_TRACKER_PROTO_GEN_DIR}/${stem}.grpc.pb.h)
  add_custom_command(OUTPUT ${outputs}
    COMMAND ${CMAKE_COMMAND} -E make_directory ${TNL_TRACKER_PROTO_GEN_DIR}
    COMMAND ${Protobuf_PROTOC_EXECUTABLE} -I${_tnl_tracker_root} -I${TNL_PROTOBUF_INCLUDE_DIR}
            --cpp_out=${TNL_TRACKER_PROTO_GEN_DIR} --grpc_out=${TNL_TRACKER_PROTO_GEN_DIR}
            --plugin=protoc-gen-grpc=${TNL_GRPC_CPP_PLUGIN} ${_tnl_tracker_root}/${name}
    DEPENDS ${_tnl_tracker_root}/${name} ${_tnl_tracker_root}/tracker/lock/v1alpha1/lock.proto
            ${Protobuf_PROTOC_EXECUTABLE} ${TNL_GRPC_CPP_PLUGIN}
    COMMENT "protoc: ${name}"
    VERBATIM)
  list(APPEND _tnl_tracker_sources ${outputs})
endforeach()

add_library(tnl_tracker_proto STATIC ${_tnl_tracker_sources})
target_include_directories(tnl_tracker_proto SYSTEM PUBLIC ${TNL_TRACKER_PROTO_GEN_DIR})
target_link_libraries(tnl_tracker_proto PUBLIC gRPC::grpc++ protobuf::libprotobuf)
tnl_precompile(tnl_tracker_proto PROTOBUF GRPC)
# Generated code is not ours to fix (as tnl_etcd_proto): no warnings, sanitizer flags kept.
target_compile_options(tnl_tracker_proto PRIVATE -w)
# Each generated file defines the same file-local tables: no unity build (see tnl_etcd_proto).
set_target_properties(tnl_tracker_proto PROPERTIES UNITY_BUILD OFF)

# The reflection service's messages (grpc.reflection.v1alpha), for the server's own reflection
# (server/grpc/grpc_reflection.*): generated from the .proto Debian ships with gRPC-Go
# (golang-google-grpc-dev), as "grpc_reflection_v1alpha/reflection.pb.h". Only the server
# links them: gRPC's libgrpc++_reflection has the same messages, and must not be linked beside.
set(TNL_GRPC_REFLECTION_PROTO_DIR /usr/share/gocode/src/google.golang.org/grpc/reflection
    CACHE PATH "Directory holding grpc_reflection_v1alpha/reflection.proto (golang-google-grpc-dev)")
set(_tnl_reflection_proto ${TNL_GRPC_REFLECTION_PROTO_DIR}/grpc_reflection_v1alpha/reflection.proto)
if(NOT EXISTS ${_tnl_reflection_proto})
  message(FATAL_ERROR "${_tnl_reflection_proto} not found: install golang-google-grpc-dev")
endif()
set(_tnl_reflection_outputs ${TNL_TRACKER_PROTO_GEN_DIR}/grpc_reflection_v1alpha/reflection.pb.cc
                            ${TNL_TRACKER_PROTO_GEN_DIR}/grpc_reflection_v1alpha/reflection.pb.h)
add_custom_command(OUTPUT ${_tnl_reflection_outputs}
  COMMAND ${CMAKE_COMMAND} -E make_directory ${TNL_TRACKER_PROTO_GEN_DIR}
  COMMAND ${Protobuf_PROTOC_EXECUTABLE} -I${TNL_GRPC_REFLECTION_PROTO_DIR} --cpp_out=${TNL_TRACKER_PROTO_GEN_DIR}
          ${_tnl_reflection_proto}
  DEPENDS ${_tnl_reflection_proto} ${Protobuf_PROTOC_EXECUTABLE}
  COMMENT "protoc: grpc_reflection_v1alpha/reflection.proto"
  VERBATIM)
add_library(tnl_reflection_proto STATIC ${_tnl_reflection_outputs})
target_include_directories(tnl_reflection_proto SYSTEM PUBLIC ${TNL_TRACKER_PROTO_GEN_DIR})
target_link_libraries(tnl_reflection_proto PUBLIC protobuf::libprotobuf)
target_compile_options(tnl_reflection_proto PRIVATE -w)
set_target_properties(tnl_reflection_proto PROPERTIES UNITY_BUILD OFF)
