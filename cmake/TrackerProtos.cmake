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
# Generated code is not ours to fix (as tnl_etcd_proto): no warnings, sanitizer flags kept.
target_compile_options(tnl_tracker_proto PRIVATE -w)
