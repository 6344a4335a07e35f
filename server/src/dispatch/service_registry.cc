#include "dispatch/service_registry.h"

#include "absl/strings/str_cat.h"
#include "gridrpc/internal/strings.h"

namespace gridrpc::internal {

absl::Status ServiceRegistry::Add(std::unique_ptr<ServiceBase> service,
                                  std::vector<std::string> lookup_names) {
  if (service == nullptr) return absl::InvalidArgumentError("AddService(nullptr)");
  const ServiceDescriptor& d = service->descriptor();
  if (lookup_names.empty()) lookup_names.emplace_back(d.lookup_name);
  ServiceType* type = nullptr;
  for (const auto& t : types_) {
    for (const std::string& name : lookup_names) {
      if (t->by_lookup_name.contains(name)) {
        return absl::AlreadyExistsError(absl::StrCat("lookup name '", name, "' is already hosted"));
      }
    }
    if (t->descriptor == &d) type = t.get();
  }
  if (type == nullptr) {
    types_.push_back(std::make_unique<ServiceType>(ServiceType{.descriptor = &d}));
    type = types_.back().get();
    for (const MethodDescriptor& m : d.methods) {
      methods_.push_back(std::make_unique<HostedMethod>(HostedMethod{type, &m}));
    }
  }
  const int slot = d.partitioned ? container_slots_++ : -1;
  for (std::string& name : lookup_names) {
    hosted_.push_back(
        std::make_unique<HostedService>(HostedService{std::move(name), service.get(), slot}));
    const HostedService* hosted = hosted_.back().get();
    type->by_lookup_name.emplace(hosted->lookup_name, hosted);
    if (hosted->lookup_name == d.lookup_name) type->default_instance = hosted;
  }
  services_.push_back(std::move(service));
  return absl::OkStatus();
}

absl::StatusOr<const HostedService*> ServiceRegistry::Resolve(const ServiceType& type,
                                                              std::string_view lookup_name) const {
  if (lookup_name.empty() && type.default_instance != nullptr) return type.default_instance;
  if (lookup_name.empty()) lookup_name = type.descriptor->lookup_name;
  auto it = type.by_lookup_name.find(AsAbsl(lookup_name));
  if (it == type.by_lookup_name.end()) {
    return absl::NotFoundError(absl::StrCat("member ", member_id_, " hosts no ",
                                            AsAbsl(type.descriptor->full_name),
                                            " under lookup name '", AsAbsl(lookup_name), "'"));
  }
  return it->second;
}

const HostedService* ServiceRegistry::FindInstance(std::string_view lookup_name) const {
  for (const auto& hosted : hosted_) {
    if (hosted->lookup_name == lookup_name) return hosted.get();
  }
  return nullptr;
}

const HostedService* ServiceRegistry::FindInstance(const ServiceBase& service) const {
  for (const auto& hosted : hosted_) {
    if (hosted->service == &service) return hosted.get();
  }
  return nullptr;
}

const HostedMethod* ServiceRegistry::FindMethod(std::string_view path) const {
  for (const auto& m : methods_) {
    if (path == m->method->path) return m.get();
  }
  return nullptr;
}

const ServiceType* ServiceRegistry::FindType(std::string_view full_name) const {
  for (const auto& type : types_) {
    if (type->descriptor->full_name == full_name) return type.get();
  }
  return nullptr;
}

}  // namespace gridrpc::internal
