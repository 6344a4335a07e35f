#include "control/connected_clients.h"

#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace gridrpc::internal {
namespace {

constexpr size_t kMaxId = 64;
constexpr size_t kMaxText = 128;
constexpr int kMaxLabels = 16;

}  // namespace

absl::Status ConnectedClients::Report(const v1::ClientStatistics& statistics, absl::Time now) {
  if (statistics.client_id().empty() || statistics.client_id().size() > kMaxId) {
    return absl::InvalidArgumentError(
        absl::StrCat("client statistics need a client_id of 1 to ", kMaxId, " bytes"));
  }
  if (statistics.name().size() > kMaxText) {
    return absl::InvalidArgumentError(
        absl::StrCat("a client name has at most ", kMaxText, " bytes"));
  }
  if (statistics.labels_size() > kMaxLabels) {
    return absl::InvalidArgumentError(absl::StrCat("a client has at most ", kMaxLabels, " labels"));
  }
  std::vector<std::string> labels;
  for (const auto& [key, value] : statistics.labels()) {
    if (key.empty() || key.size() > kMaxText || value.size() > kMaxText) {
      return absl::InvalidArgumentError(absl::StrCat("a client label has a key of 1 to ", kMaxText,
                                                     " bytes and a value of at most ", kMaxText));
    }
    labels.push_back(absl::StrCat(key, "=", value));
  }
  std::sort(labels.begin(), labels.end());  // protobuf maps have no order
  const absl::Duration period = absl::Milliseconds(statistics.period_ms());
  if (period < absl::Milliseconds(100) || period > absl::Minutes(10)) {
    return absl::InvalidArgumentError("a client's statistics period is 100 ms to 10 min");
  }
  MutexLock lock(&mu_);
  auto it = clients_.find(statistics.client_id());
  if (it == clients_.end()) {
    ForgetLocked(now);
    if (clients_.size() >= kMaxClients) {
      return absl::ResourceExhaustedError(
          absl::StrCat("this member tracks at most ", kMaxClients, " clients"));
    }
    it = clients_.emplace(statistics.client_id(), Client{}).first;
  }
  it->second = {
      .name = statistics.name(), .labels = absl::StrJoin(labels, ","), .expires = now + 3 * period};
  return absl::OkStatus();
}

std::map<std::pair<std::string, std::string>, int> ConnectedClients::Count(absl::Time now) {
  MutexLock lock(&mu_);
  ForgetLocked(now);
  std::map<std::pair<std::string, std::string>, int> counts;
  for (const auto& [id, client] : clients_) ++counts[{client.name, client.labels}];
  return counts;
}

void ConnectedClients::ForgetLocked(absl::Time now) {
  absl::erase_if(clients_, [now](const auto& entry) { return entry.second.expires <= now; });
}

}  // namespace gridrpc::internal
