#include "model.h"

#include <google/protobuf/compiler/cpp/names.h>
#include <google/protobuf/descriptor.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "gridrpc/options.pb.h"

namespace gridrpc::codegen {
namespace {

namespace pb = ::google::protobuf;
namespace cpp = ::google::protobuf::compiler::cpp;

constexpr char kKeyRequirement[] =
    "a routing key must be a singular string, bytes, integer, bool or enum field";
constexpr char kHopRequirement[] = "every element but the last must be a singular message field";

// Nested types of the generated class: a service named like one would not compile.
constexpr std::array<std::string_view, 5> kNestedTypeNames = {
    "Proxy", "Service", "PartitionedService", "State", "Methods"};
// Members of the generated class and of the server base (ServiceBase's virtuals included) that
// an rpc of the same name would clash with or silently overload.
constexpr std::array<std::string_view, 12> kReservedMethodNames = {
    "Proxy",   "Service",    "PartitionedService", "State",
    "Methods", "descriptor", "kServiceName",       "NewContainer",
    "Invoke",  "Init",       "Shutdown",           "Reset"};

template <size_t N>
bool Contains(const std::array<std::string_view, N>& names, std::string_view name) {
  return std::find(names.begin(), names.end(), name) != names.end();
}

// "a double", "an int64", "a message (examples.Document)".
std::string DescribeType(const pb::FieldDescriptor& field) {
  if (field.cpp_type() == pb::FieldDescriptor::CPPTYPE_MESSAGE) {
    return absl::StrCat("a ", field.type_name(), " (", field.message_type()->full_name(), ")");
  }
  if (field.cpp_type() == pb::FieldDescriptor::CPPTYPE_ENUM) {
    return absl::StrCat("an enum (", field.enum_type()->full_name(), ")");
  }
  const char* name = field.type_name();
  return absl::StrCat(name[0] == 'i' ? "an " : "a ", name);
}

// The KeyHash call for the routing key read by `expr`, or nullopt when `field`'s type cannot be
// a routing key.
std::optional<std::string> KeyHashOf(const pb::FieldDescriptor& field, const std::string& expr) {
  switch (field.cpp_type()) {
    case pb::FieldDescriptor::CPPTYPE_STRING:
      return absl::StrCat("::gridrpc::KeyHash(std::string_view(", expr, "))");
    case pb::FieldDescriptor::CPPTYPE_INT32:
    case pb::FieldDescriptor::CPPTYPE_INT64:
    case pb::FieldDescriptor::CPPTYPE_ENUM:
      return absl::StrCat("::gridrpc::KeyHash(static_cast<int64_t>(", expr, "))");
    case pb::FieldDescriptor::CPPTYPE_UINT32:
    case pb::FieldDescriptor::CPPTYPE_UINT64:
      return absl::StrCat("::gridrpc::KeyHash(static_cast<uint64_t>(", expr, "))");
    case pb::FieldDescriptor::CPPTYPE_BOOL:
      return absl::StrCat("::gridrpc::KeyHash(static_cast<bool>(", expr, "))");
    case pb::FieldDescriptor::CPPTYPE_FLOAT:
    case pb::FieldDescriptor::CPPTYPE_DOUBLE:
    case pb::FieldDescriptor::CPPTYPE_MESSAGE:
      return std::nullopt;
  }
  return std::nullopt;
}

// Walks `path` ("document.id") from `request` and fills the routing part of `method`. Returns
// the reason the path is unusable, or an empty string.
std::string ResolveRoutingPath(const pb::Descriptor& request, const std::string& path,
                               MethodModel* method) {
  const std::vector<std::string> elements = absl::StrSplit(path, '.');
  const pb::Descriptor* message = &request;
  std::string expr = "request";
  std::string prefix;
  for (size_t i = 0; i < elements.size(); ++i) {
    const std::string& element = elements[i];
    const bool last = i + 1 == elements.size();
    prefix = i == 0 ? element : absl::StrCat(prefix, ".", element);
    if (element.empty()) {
      return absl::StrCat("routing path '", path, "' has an empty element");
    }
    const pb::FieldDescriptor* field = message->FindFieldByName(element);
    if (field == nullptr) {
      if (elements.size() == 1) {
        return absl::StrCat("routing path '", path, "' names no field of ", message->full_name());
      }
      return absl::StrCat("routing path '", path, "': '", element, "' names no field of ",
                          message->full_name());
    }
    const std::string accessor = cpp::FieldName(field);
    const char* verb = last ? "ends at" : "runs through";
    const char* requirement = last ? kKeyRequirement : kHopRequirement;
    if (field->is_map() || field->is_repeated()) {
      return absl::StrCat("routing path '", path, "' ", verb,
                          field->is_map() ? " map" : " repeated", " field '", prefix, "'; ",
                          requirement);
    }
    if (!last) {
      if (field->cpp_type() != pb::FieldDescriptor::CPPTYPE_MESSAGE) {
        return absl::StrCat("routing path '", path, "' runs through '", prefix, "', which is ",
                            DescribeType(*field), "; ", requirement);
      }
      method->presence_checks.push_back(
          {.condition = absl::StrCat(expr, ".has_", accessor, "()"), .path_prefix = prefix});
      expr = absl::StrCat(expr, ".", accessor, "()");
      message = field->message_type();
      continue;
    }
    std::optional<std::string> key_hash =
        KeyHashOf(*field, absl::StrCat(expr, ".", accessor, "()"));
    if (!key_hash.has_value()) {
      return absl::StrCat("routing path '", path, "' ends at '", prefix, "', which is ",
                          DescribeType(*field), "; ", requirement);
    }
    method->key_hash = *std::move(key_hash);
  }
  method->routing_path = path;
  return "";
}

std::string Reducer(::gridrpc::Reducer reducer) {
  switch (reducer) {
    case ::gridrpc::REDUCER_MERGE:
      return "kMerge";
    case ::gridrpc::REDUCER_SUM:
      return "kSum";
    default:  // REDUCER_UNSPECIFIED, REDUCER_FIRST
      return "kFirst";
  }
}

// Returns the reason `method` cannot be generated, or an empty string.
std::string BuildMethod(const pb::MethodDescriptor& descriptor, MethodModel* method) {
  const ::gridrpc::MethodOptions& options = descriptor.options().GetExtension(::gridrpc::method);
  if (descriptor.client_streaming() || descriptor.server_streaming()) {
    return "streaming methods are not supported by gridrpc yet";
  }
  if (options.transactional()) {
    return "transactions are not supported; remove (gridrpc.method).transactional";
  }
  if (Contains(kReservedMethodNames, descriptor.name())) {
    return absl::StrCat("an rpc cannot be named '", descriptor.name(),
                        "': the generated class has a member of that name");
  }
  if (const std::string& name = descriptor.name(); name.ends_with("Method")) {
    const std::string tagged = name.substr(0, name.size() - 6);
    if (descriptor.service()->FindMethodByName(tagged) != nullptr) {
      return absl::StrCat("an rpc cannot be named '", name, "': the method tag of '", tagged,
                          "' has that name");
    }
  }
  if (const std::string& name = descriptor.name(); name.ends_with("Async")) {
    const std::string sync_name = name.substr(0, name.size() - 5);
    if (descriptor.service()->FindMethodByName(sync_name) != nullptr) {
      return absl::StrCat("an rpc cannot be named '", name,
                          "': the proxy's asynchronous forms of '", sync_name, "' have that name");
    }
  }

  const pb::Descriptor& request = *descriptor.input_type();
  method->name = descriptor.name();
  method->path = absl::StrCat("/", descriptor.service()->full_name(), "/", descriptor.name());
  method->request_type = cpp::QualifiedClassName(&request);
  method->response_type = cpp::QualifiedClassName(descriptor.output_type());
  method->one_way = options.one_way();
  method->read_only = options.read_only();
  method->timeout_ms = options.timeout_ms();
  method->reducer = Reducer(options.reducer());

  std::vector<std::string> marked;
  for (int i = 0; i < request.field_count(); ++i) {
    if (request.field(i)->options().GetExtension(::gridrpc::routing_key)) {
      marked.push_back(request.field(i)->name());
    }
  }
  if (marked.size() > 1) {
    return absl::StrCat("request ", request.full_name(), " marks ", marked.size(),
                        " fields with (gridrpc.routing_key) ('", absl::StrJoin(marked, "', '"),
                        "'); mark at most one");
  }
  std::string path = options.routing();
  if (path.empty() && !marked.empty()) path = marked.front();
  if (path.empty()) return "";
  return ResolveRoutingPath(request, path, method);
}

// Resolves the `state` option like protoc resolves a type name: relative to the package and
// its parents, innermost first; a leading '.' makes it fully qualified.
const pb::Descriptor* ResolveState(const pb::FileDescriptor& file, const std::string& name) {
  const pb::DescriptorPool& pool = *file.pool();
  if (name.starts_with(".")) return pool.FindMessageTypeByName(name.substr(1));
  std::string scope = file.package();
  while (!scope.empty()) {
    if (const pb::Descriptor* found = pool.FindMessageTypeByName(absl::StrCat(scope, ".", name))) {
      return found;
    }
    const size_t dot = scope.rfind('.');
    scope.resize(dot == std::string::npos ? 0 : dot);
  }
  return pool.FindMessageTypeByName(name);
}

// Whether the generated header of `file` sees the C++ classes of `other` (protoc's .pb.h
// includes the headers of every import, transitively).
bool Imports(const pb::FileDescriptor& file, const pb::FileDescriptor& other) {
  if (&file == &other) return true;
  for (int i = 0; i < file.dependency_count(); ++i) {
    if (Imports(*file.dependency(i), other)) return true;
  }
  return false;
}

// Returns the reason `descriptor`'s service options are unusable, or an empty string.
std::string BuildServiceOptions(const pb::ServiceDescriptor& descriptor, ServiceModel* service) {
  const ::gridrpc::ServiceOptions& options = descriptor.options().GetExtension(::gridrpc::service);
  service->lookup_name =
      options.lookup_name().empty() ? descriptor.full_name() : options.lookup_name();
  service->partitioned = options.partitioned();
  const std::pair<const char*, std::optional<int>> backups[] = {
      {"sync_backups",
       options.has_sync_backups() ? std::optional(options.sync_backups()) : std::nullopt},
      {"async_backups",
       options.has_async_backups() ? std::optional(options.async_backups()) : std::nullopt},
  };
  for (const auto& [name, count] : backups) {
    if (!count.has_value()) continue;
    if (!service->partitioned) {
      return absl::StrCat(name,
                          " applies only to partitioned services; set "
                          "(gridrpc.service).partitioned or remove it");
    }
    if (*count < 0) {
      return absl::StrCat(name, " is ", *count, "; a backup count cannot be negative");
    }
  }
  if (service->partitioned) {
    service->sync_backups = options.has_sync_backups() ? options.sync_backups() : 1;
    service->async_backups = options.async_backups();
  }
  if (!options.state().empty()) {
    if (!service->partitioned) {
      return "state applies only to partitioned services; set (gridrpc.service).partitioned or "
             "remove it";
    }
    const pb::Descriptor* state = ResolveState(*descriptor.file(), options.state());
    if (state == nullptr) {
      return absl::StrCat("state '", options.state(), "' names no message");
    }
    if (!Imports(*descriptor.file(), *state->file())) {
      return absl::StrCat("state '", options.state(), "' names ", state->full_name(), " from ",
                          state->file()->name(), ", which this file does not import");
    }
    service->state_type = cpp::QualifiedClassName(state);
  }
  return "";
}

}  // namespace

std::optional<FileModel> BuildFileModel(const pb::FileDescriptor& file, std::string* error) {
  FileModel model;
  model.proto_name = file.name();
  model.stem = cpp::StripProto(file.name());
  std::string guard = model.stem;
  for (char& c : guard) {
    c = std::isalnum(static_cast<unsigned char>(c)) ? std::toupper(static_cast<unsigned char>(c))
                                                    : '_';
  }
  model.include_guard = absl::StrCat("GRIDRPC_GENERATED_", guard, "_PROTO_H_");
  model.cpp_namespace = absl::StrReplaceAll(file.package(), {{".", "::"}});

  for (int s = 0; s < file.service_count(); ++s) {
    const pb::ServiceDescriptor& descriptor = *file.service(s);
    ServiceModel& service = model.services.emplace_back();
    service.name = descriptor.name();
    service.full_name = descriptor.full_name();
    if (Contains(kNestedTypeNames, descriptor.name())) {
      *error = absl::StrCat(descriptor.name(), ": a service cannot be named '", descriptor.name(),
                            "': the generated class has a member of that name");
      return std::nullopt;
    }
    if (std::string reason = BuildServiceOptions(descriptor, &service); !reason.empty()) {
      *error = absl::StrCat(descriptor.name(), ": ", reason);
      return std::nullopt;
    }
    for (int m = 0; m < descriptor.method_count(); ++m) {
      MethodModel& method = service.methods.emplace_back();
      method.index = m;
      if (std::string reason = BuildMethod(*descriptor.method(m), &method); !reason.empty()) {
        *error = absl::StrCat(descriptor.name(), ".", descriptor.method(m)->name(), ": ", reason);
        return std::nullopt;
      }
    }
  }
  return model;
}

}  // namespace gridrpc::codegen
