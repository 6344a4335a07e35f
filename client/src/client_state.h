// What a Client and its proxies share: options, the partition table and a channel per member.
#ifndef GRIDRPC_CLIENT_SRC_CLIENT_STATE_H_
#define GRIDRPC_CLIENT_SRC_CLIENT_STATE_H_

#include <grpcpp/alarm.h>
#include <grpcpp/channel.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/functional/any_invocable.h"
#include "gridrpc/client.h"
#include "gridrpc/internal/mutex.h"
#include "gridrpc/partition_table.h"

namespace gridrpc::internal {

// Thread-safe. Always owned by a shared_ptr (Client::Create): background refreshes keep it alive.
class ClientState : public std::enable_shared_from_this<ClientState> {
 public:
  // An immutable snapshot to route one call by: channels[i] reaches table->member(i).
  struct Routing {
    std::shared_ptr<const PartitionTable> table;
    std::vector<std::shared_ptr<grpc::Channel>> channels;
  };

  explicit ClientState(ClientOptions options);

  const ClientOptions& options() const { return options_; }
  std::shared_ptr<const Routing> routing() const;

  // Loads the table from the first member that answers: the current table's members, then the
  // seed addresses. Blocks up to the connect timeout per member.
  absl::Status LoadTable();

  // Members a reload asks at once. Two members may be down or paused at once (the failure
  // model), so a wave of three holds one that answers, and a reload costs the cluster three
  // calls, not one per member.
  static constexpr size_t kRefreshWave = 3;

  // Reloads the table in the background, asking the members in waves of kRefreshWave, in random
  // order; `done` runs once one answered with a valid table or all failed (it may not have
  // changed anything). Concurrent requests share one reload.
  void RefreshAsync(absl::AnyInvocable<void() &&> done);

  // With ClientOptions::statistics_period, reports the client's name and labels to a member
  // every period, from now on, for as long as the state lives.
  void StartStatistics();

 private:
  void ScheduleStatistics();
  void SendStatistics();
  // Adopts `proto` if it is valid and newer than the current table.
  absl::Status Install(v1::PartitionTable proto);
  std::shared_ptr<grpc::Channel> ChannelTo(const std::string& address)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  std::vector<std::string> CandidateAddresses() const;
  struct Refresh;
  // Asks the next wave of the reload's members; the last answer of a wave without a valid table
  // asks the next one.
  void AskWave(std::shared_ptr<Refresh> refresh);
  void FinishRefresh();

  const ClientOptions options_;
  mutable Mutex mu_;
  std::shared_ptr<const Routing> routing_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<std::string, std::shared_ptr<grpc::Channel>> channels_ ABSL_GUARDED_BY(mu_);
  bool refreshing_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<absl::AnyInvocable<void() &&>> refresh_waiters_ ABSL_GUARDED_BY(mu_);
  std::string client_id_;  // set once, before statistics start
  std::unique_ptr<grpc::Alarm> statistics_alarm_ ABSL_GUARDED_BY(mu_);
};

}  // namespace gridrpc::internal

#endif  // GRIDRPC_CLIENT_SRC_CLIENT_STATE_H_
