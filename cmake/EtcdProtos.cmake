# C++ stubs for etcd's v3 gRPC API, generated at build time from the .proto files Debian
# ships (golang-etcd-server-dev, golang-github-gogo-protobuf-dev,
# golang-github-grpc-ecosystem-grpc-gateway-dev; nothing vendored, nothing downloaded), into
# the static library `tnl_etcd_proto`. Headers are included as
# "etcd/etcdserver/etcdserverpb/rpc.pb.h", "etcd/mvcc/mvccpb/kv.pb.h", etc.
#
# Cache variables (override for another layout): TNL_GOCODE_DIR, the root of Debian's Go
# sources; TNL_PROTOBUF_INCLUDE_DIR, where google/protobuf/descriptor.proto lives.

find_package(Protobuf REQUIRED)
# gRPC's CMake package checks that grpc_cpp_plugin exists (protobuf-compiler-grpc).
find_package(gRPC CONFIG REQUIRED)
find_program(TNL_GRPC_CPP_PLUGIN grpc_cpp_plugin REQUIRED)
if(NOT Protobuf_PROTOC_EXECUTABLE)
  message(FATAL_ERROR "protoc not found: install protobuf-compiler")
endif()

set(TNL_GOCODE_DIR /usr/share/gocode/src CACHE PATH "Root of Debian's Go sources (the etcd .proto files)")
set(TNL_PROTOBUF_INCLUDE_DIR /usr/include CACHE PATH "Directory holding google/protobuf/descriptor.proto")

# protoc's import roots. rpc.proto imports "etcd/mvcc/mvccpb/kv.proto", "gogoproto/gogo.proto"
# and "google/api/annotations.proto": one root each, so the generated names mirror those.
set(_tnl_etcd_root ${TNL_GOCODE_DIR}/go.etcd.io)
set(_tnl_gogo_root ${TNL_GOCODE_DIR}/github.com/gogo/protobuf)
set(_tnl_googleapis_root ${TNL_GOCODE_DIR}/github.com/grpc-ecosystem/grpc-gateway/third_party/googleapis)
set(_tnl_proto_roots ${_tnl_etcd_root} ${_tnl_gogo_root} ${_tnl_googleapis_root} ${TNL_PROTOBUF_INCLUDE_DIR})

# Each entry: ROOT|NAME|SERVICES. NAME is relative to ROOT (and to the output directory);
# SERVICES=1 also generates the gRPC stubs (.grpc.pb.{h,cc}).
set(_tnl_etcd_protos
  "${_tnl_etcd_root}|etcd/etcdserver/etcdserverpb/rpc.proto|1"
  "${_tnl_etcd_root}|etcd/mvcc/mvccpb/kv.proto|0"
  "${_tnl_etcd_root}|etcd/auth/authpb/auth.proto|0"
  "${_tnl_etcd_root}|etcd/etcdserver/api/v3lock/v3lockpb/v3lock.proto|1"
  "${_tnl_gogo_root}|gogoproto/gogo.proto|0"
  "${_tnl_googleapis_root}|google/api/annotations.proto|0"
  "${_tnl_googleapis_root}|google/api/http.proto|0")

set(TNL_ETCD_PROTO_GEN_DIR ${CMAKE_BINARY_DIR}/etcd_proto)
set(_tnl_proto_args)
foreach(root ${_tnl_proto_roots})
  list(APPEND _tnl_proto_args -I${root})
endforeach()

# Every .proto, so that a change to any import regenerates everything (they are few).
set(_tnl_all_proto_files)
foreach(entry ${_tnl_etcd_protos})
  string(REPLACE "|" ";" parts "${entry}")
  list(GET parts 0 root)
  list(GET parts 1 name)
  if(NOT EXISTS ${root}/${name})
    message(FATAL_ERROR "etcd protos: ${root}/${name} not found (install golang-etcd-server-dev "
                        "golang-github-gogo-protobuf-dev golang-github-grpc-ecosystem-grpc-gateway-dev)")
  endif()
  list(APPEND _tnl_all_proto_files ${root}/${name})
endforeach()

set(_tnl_etcd_proto_sources)
foreach(entry ${_tnl_etcd_protos})
  string(REPLACE "|" ";" parts "${entry}")
  list(GET parts 0 root)
  list(GET parts 1 name)
  list(GET parts 2 services)
  string(REGEX REPLACE "\\.proto$" "" stem "${name}")
  set(outputs ${TNL_ETCD_PROTO_GEN_DIR}/${stem}.pb.cc ${TNL_ETCD_PROTO_GEN_DIR}/${stem}.pb.h)
  set(grpc_args)
  set(plugin_dep)
  if(services)
    list(APPEND outputs ${TNL_ETCD_PROTO_GEN_DIR}/${stem}.grpc.pb.cc ${TNL_ETCD_PROTO_GEN_DIR}/${stem}.grpc.pb.h)
    set(grpc_args --grpc_out=${TNL_ETCD_PROTO_GEN_DIR} --plugin=protoc-gen-grpc=${TNL_GRPC_CPP_PLUGIN})
    set(plugin_dep ${TNL_GRPC_CPP_PLUGIN})
  endif()
  add_custom_command(OUTPUT ${outputs}
    COMMAND ${CMAKE_COMMAND} -E make_directory ${TNL_ETCD_PROTO_GEN_DIR}
    COMMAND ${Protobuf_PROTOC_EXECUTABLE} ${_tnl_proto_args} --cpp_out=${TNL_ETCD_PROTO_GEN_DIR} ${grpc_args} ${root}/${name}
    DEPENDS ${_tnl_all_proto_files} ${Protobuf_PROTOC_EXECUTABLE} ${plugin_dep}
    COMMENT "protoc: ${name}"
    VERBATIM)
  list(APPEND _tnl_etcd_proto_sources ${outputs})
endforeach()

add_library(tnl_etcd_proto STATIC ${_tnl_etcd_proto_sources})
target_include_directories(tnl_etcd_proto SYSTEM PUBLIC ${TNL_ETCD_PROTO_GEN_DIR})
target_link_libraries(tnl_etcd_proto PUBLIC gRPC::grpc++ protobuf::libprotobuf)
tnl_precompile(tnl_etcd_proto PROTOBUF GRPC)
# Generated code is not ours to fix: -w silences every warning, so the project's warning
# flags (-Wall -Wextra -Wpedantic, and -Werror where a build adds it) cannot fail it. The
# sanitizer flags stay: the messages are instrumented like the code that uses them.
target_compile_options(tnl_etcd_proto PRIVATE -w)
# protoc's files each define the same file-local tables (schemas, file_default_instances):
# they cannot share a unity source.
set_target_properties(tnl_etcd_proto PROPERTIES UNITY_BUILD OFF)
