#include "grpc_reflection.hpp"

#include <google/protobuf/descriptor.h>
#include <google/protobuf/descriptor.pb.h>

#include <grpcpp/support/status.h>

namespace tnl {

namespace {

void set_error(reflection::ServerReflectionResponse& response, grpc::StatusCode code, const char* message) {
  auto& error = *response.mutable_error_response();
  error.set_error_code(static_cast<int>(code));
  error.set_error_message(message);
}

}  // namespace

reflection::ServerReflectionResponse GrpcReflection::answer(const reflection::ServerReflectionRequest& request,
                                                           std::set<std::string>& sent) const {
  using Request = reflection::ServerReflectionRequest;
  const auto* pool = google::protobuf::DescriptorPool::generated_pool();
  reflection::ServerReflectionResponse response;
  response.set_valid_host(request.host());
  *response.mutable_original_request() = request;
  switch (request.message_request_case()) {
    case Request::kListServices:
      for (const auto& name : services_) response.mutable_list_services_response()->add_service()->set_name(name);
      break;
    case Request::kFileByFilename: {
      const auto* file = pool->FindFileByName(request.file_by_filename());
      if (file == nullptr) {
        set_error(response, grpc::StatusCode::NOT_FOUND, "File not found.");
      } else {
        add_files(file, sent, *response.mutable_file_descriptor_response());
      }
      break;
    }
    case Request::kFileContainingSymbol: {
      const auto* file = pool->FindFileContainingSymbol(request.file_containing_symbol());
      if (file == nullptr) {
        set_error(response, grpc::StatusCode::NOT_FOUND, "Symbol not found.");
      } else {
        add_files(file, sent, *response.mutable_file_descriptor_response());
      }
      break;
    }
    case Request::kFileContainingExtension: {
      const auto& asked = request.file_containing_extension();
      const auto* type = pool->FindMessageTypeByName(asked.containing_type());
      const auto* extension = type == nullptr ? nullptr : pool->FindExtensionByNumber(type, asked.extension_number());
      if (extension == nullptr) {
        set_error(response, grpc::StatusCode::NOT_FOUND, "Extension not found.");
      } else {
        add_files(extension->file(), sent, *response.mutable_file_descriptor_response());
      }
      break;
    }
    case Request::kAllExtensionNumbersOfType: {
      const auto* type = pool->FindMessageTypeByName(request.all_extension_numbers_of_type());
      if (type == nullptr) {
        set_error(response, grpc::StatusCode::NOT_FOUND, "Type not found.");
        break;
      }
      std::vector<const google::protobuf::FieldDescriptor*> extensions;
      pool->FindAllExtensions(type, &extensions);
      auto& numbers = *response.mutable_all_extension_numbers_response();
      numbers.set_base_type_name(type->full_name());
      for (const auto* extension : extensions) numbers.add_extension_number(extension->number());
      break;
    }
    default:
      set_error(response, grpc::StatusCode::UNIMPLEMENTED, "The request is not one this server knows.");
      break;
  }
  return response;
}

void GrpcReflection::add_files(const google::protobuf::FileDescriptor* file, std::set<std::string>& sent,
                               reflection::FileDescriptorResponse& out) {
  if (!sent.insert(file->name()).second) return;
  google::protobuf::FileDescriptorProto proto;
  file->CopyTo(&proto);
  proto.SerializeToString(out.add_file_descriptor_proto());
  for (int i = 0; i < file->dependency_count(); ++i) add_files(file->dependency(i), sent, out);
}

}  // namespace tnl
