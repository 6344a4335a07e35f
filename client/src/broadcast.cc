// The contract's built-in broadcast reducers, over protobuf messages.
#include "gridrpc/broadcast.h"

#include <google/protobuf/descriptor.h>
#include <google/protobuf/message.h>
#include <google/protobuf/reflection.h>

#include "absl/strings/str_cat.h"

namespace gridrpc::internal {
namespace {

using google::protobuf::FieldDescriptor;
using google::protobuf::Message;
using google::protobuf::Reflection;

// Adds every singular numeric field of `from` into `into`, recursing into singular messages.
// Other fields keep the value the first result gave them.
void AddNumbers(const Message& from, Message* into) {
  const Reflection& rf = *from.GetReflection();
  const Reflection& ri = *into->GetReflection();
  std::vector<const FieldDescriptor*> fields;
  rf.ListFields(from, &fields);
  for (const FieldDescriptor* f : fields) {
    if (f->is_repeated()) continue;
    switch (f->cpp_type()) {
      case FieldDescriptor::CPPTYPE_INT32:
        ri.SetInt32(into, f, ri.GetInt32(*into, f) + rf.GetInt32(from, f));
        break;
      case FieldDescriptor::CPPTYPE_INT64:
        ri.SetInt64(into, f, ri.GetInt64(*into, f) + rf.GetInt64(from, f));
        break;
      case FieldDescriptor::CPPTYPE_UINT32:
        ri.SetUInt32(into, f, ri.GetUInt32(*into, f) + rf.GetUInt32(from, f));
        break;
      case FieldDescriptor::CPPTYPE_UINT64:
        ri.SetUInt64(into, f, ri.GetUInt64(*into, f) + rf.GetUInt64(from, f));
        break;
      case FieldDescriptor::CPPTYPE_FLOAT:
        ri.SetFloat(into, f, ri.GetFloat(*into, f) + rf.GetFloat(from, f));
        break;
      case FieldDescriptor::CPPTYPE_DOUBLE:
        ri.SetDouble(into, f, ri.GetDouble(*into, f) + rf.GetDouble(from, f));
        break;
      case FieldDescriptor::CPPTYPE_MESSAGE:
        AddNumbers(rf.GetMessage(from, f), ri.MutableMessage(into, f));
        break;
      default:
        break;
    }
  }
}

// Collects messages for a method without typed reducer or filter.
class BuiltinCollector final : public BroadcastCollector {
 public:
  explicit BuiltinCollector(const MethodDescriptor& method) : method_(method) {}

  FilterDecision Add(absl::StatusOr<std::string> bytes, int partition, std::string member_id,
                     int total_expected) override {
    if (!bytes.ok()) {
      results_.emplace_back(bytes.status());
    } else {
      std::unique_ptr<Message> m(method_.response_prototype->New());
      if (m->ParseFromString(*bytes)) {
        results_.emplace_back(std::move(m));
      } else {
        results_.emplace_back(absl::InternalError(
            absl::StrCat("broadcast result does not parse as ", m->GetTypeName())));
      }
    }
    // No reducer named: the first result is the answer, so stop there.
    return method_.reducer == BuiltinReducer::kFirst ? FilterDecision::kBreak
                                                     : FilterDecision::kContinue;
  }

  absl::Status Finish(Message* response) override {
    std::vector<absl::StatusOr<const Message*>> views;
    for (const auto& r : results_) {
      if (r.ok()) {
        views.emplace_back(r->get());
      } else {
        views.emplace_back(r.status());
      }
    }
    return ReduceBuiltin(method_.reducer, views, response);
  }

 private:
  const MethodDescriptor& method_;
  std::vector<absl::StatusOr<std::unique_ptr<Message>>> results_;
};

}  // namespace

absl::Status ReduceBuiltin(BuiltinReducer reducer,
                           std::span<const absl::StatusOr<const Message*>> results, Message* out) {
  if (reducer == BuiltinReducer::kFirst) {
    if (results.empty()) return absl::NotFoundError("the broadcast collected no result");
    if (!results.front().ok()) return results.front().status();
    out->CopyFrom(**results.front());
    return absl::OkStatus();
  }
  out->Clear();
  bool first = true;
  for (const auto& r : results) {
    if (!r.ok()) return r.status();
    if (reducer == BuiltinReducer::kMerge || first) {
      out->MergeFrom(**r);  // repeated fields concatenate
    } else {
      AddNumbers(**r, out);
    }
    first = false;
  }
  return absl::OkStatus();
}

std::unique_ptr<BroadcastCollector> NewBuiltinCollector(const MethodDescriptor& method) {
  return std::make_unique<BuiltinCollector>(method);
}

}  // namespace gridrpc::internal
