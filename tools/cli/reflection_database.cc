#include "cli/reflection_database.h"

#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "cli/connection.h"

namespace gridrpc::cli {
namespace {

using google::protobuf::FileDescriptorProto;

// Whether `file` declares `symbol` (a top-level type, service or extension, or something inside
// one: "pkg.Service.Method", "pkg.Message.Nested").
bool Declares(const FileDescriptorProto& file, const std::string& symbol) {
  absl::string_view rest = symbol;
  if (!file.package().empty()) {
    const std::string prefix = file.package() + ".";
    if (!absl::StartsWith(rest, prefix)) return false;
    rest.remove_prefix(prefix.size());
  }
  const absl::string_view top = rest.substr(0, rest.find('.'));
  for (const auto& message : file.message_type()) {
    if (message.name() == top) return true;
  }
  for (const auto& e : file.enum_type()) {
    if (e.name() == top) return true;
    for (const auto& value : e.value()) {  // enum values are siblings of their enum
      if (value.name() == top) return true;
    }
  }
  for (const auto& service : file.service()) {
    if (service.name() == top) return true;
  }
  for (const auto& extension : file.extension()) {
    if (extension.name() == top) return true;
  }
  return false;
}

}  // namespace

ReflectionDatabase::ReflectionDatabase(std::shared_ptr<grpc::Channel> channel, absl::Time deadline)
    : channel_(std::move(channel)), deadline_(deadline) {}

ReflectionDatabase::~ReflectionDatabase() {
  if (stream_ != nullptr && stream_status_.ok()) {
    stream_->WritesDone();
    stream_->Finish().IgnoreError();
  }
}

const FileDescriptorProto* ReflectionDatabase::Ask(const Request& request) {
  if (!stream_status_.ok()) return nullptr;
  if (stream_ == nullptr) {
    stub_ = grpc::reflection::v1alpha::ServerReflection::NewStub(channel_);
    SetDeadline(context_, deadline_);
    stream_ = stub_->ServerReflectionInfo(&context_);
  }
  Response response;
  if (!stream_->Write(request) || !stream_->Read(&response)) {
    stream_status_ = stream_->Finish();
    if (stream_status_.ok()) {  // the server ended the stream without a word
      stream_status_ =
          grpc::Status(grpc::StatusCode::INTERNAL, "the reflection stream ended before answering");
    }
    return nullptr;
  }
  if (response.has_error_response()) {
    last_refusal_ = response.error_response().error_message();
    return nullptr;
  }
  const FileDescriptorProto* first = nullptr;
  for (const std::string& bytes : response.file_descriptor_response().file_descriptor_proto()) {
    FileDescriptorProto file;
    if (!file.ParseFromString(bytes)) {
      last_refusal_ = "the server sent a file descriptor that does not parse";
      return nullptr;
    }
    auto [it, unused] = files_.try_emplace(file.name(), std::move(file));
    if (first == nullptr) first = &it->second;
  }
  if (first == nullptr) last_refusal_ = "the server's answer holds no file";
  return first;
}

bool ReflectionDatabase::FindFileByName(const std::string& filename, FileDescriptorProto* output) {
  if (auto it = files_.find(filename); it != files_.end()) {
    *output = it->second;
    return true;
  }
  Request request;
  request.set_file_by_filename(filename);
  Ask(request);
  auto it = files_.find(filename);
  if (it == files_.end()) return false;
  *output = it->second;
  return true;
}

bool ReflectionDatabase::FindFileContainingSymbol(const std::string& symbol_name,
                                                  FileDescriptorProto* output) {
  Request request;
  request.set_file_containing_symbol(symbol_name);
  const FileDescriptorProto* first = Ask(request);
  if (first == nullptr) return false;
  // gRPC's server sends the declaring file first, then its dependencies; do not rely on it.
  if (!Declares(*first, symbol_name)) {
    for (const auto& [name, file] : files_) {
      if (Declares(file, symbol_name)) {
        *output = file;
        return true;
      }
    }
  }
  *output = *first;
  return true;
}

bool ReflectionDatabase::FindFileContainingExtension(const std::string& containing_type,
                                                     int field_number,
                                                     FileDescriptorProto* output) {
  Request request;
  request.mutable_file_containing_extension()->set_containing_type(containing_type);
  request.mutable_file_containing_extension()->set_extension_number(field_number);
  const FileDescriptorProto* first = Ask(request);
  if (first == nullptr) return false;
  *output = *first;
  return true;
}

}  // namespace gridrpc::cli
