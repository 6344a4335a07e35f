// The seed's partitioned calculation with polling, without internal APIs: tasks wait in a
// partitioned work map; on every member a dispatcher samples the tasks of the partitions the
// member is primary of (MemberContext::PrimaryPartitions / RunOnPartition) into a bounded queue,
// and N workers compute them and record the results through the Complete method, which is
// backed up like any write. When partitions move, their tasks move with them, and the new owner
// picks them up; a result is recorded once even if a task is computed twice (a member crashed
// between computing and recording).
#ifndef GRIDRPC_EXAMPLES_CALCULATOR_SERVICE_H_
#define GRIDRPC_EXAMPLES_CALCULATOR_SERVICE_H_

#include <atomic>
#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "examples/calculator.gridrpc.h"
#include "gridrpc/client.h"

namespace examples {

class CalculatorImpl : public Calculator::PartitionedService {
 public:
  struct Options {
    int workers = 2;
    size_t queue_capacity = 16;  // the dispatcher waits for the workers beyond this
    absl::Duration idle_pause = absl::Milliseconds(50);  // after a sweep that found nothing
  };
  explicit CalculatorImpl(Options options) : options_(options) {}
  CalculatorImpl() : CalculatorImpl(Options()) {}
  ~CalculatorImpl() override { Stop(); }

  absl::Status Init(const gridrpc::MemberContext& member,
                    const gridrpc::Properties& properties) override;
  void Shutdown(bool terminate) override { Stop(); }

  absl::StatusOr<SubmitResponse> Submit(gridrpc::PartitionContext& context, State& state,
                                        const Task& task) override;
  absl::StatusOr<CompleteResponse> Complete(gridrpc::PartitionContext& context, State& state,
                                            const CompleteRequest& request) override;
  absl::StatusOr<ResultResponse> GetResult(gridrpc::PartitionContext& context, State& state,
                                           const ResultRequest& request) override;

  // Tasks this member's workers computed.
  int64_t computed() const { return computed_.load(); }

 private:
  void Dispatch();
  void Work();
  void Stop();
  // Blocks while the queue is full; false when stopping.
  bool Enqueue(Task task);

  const Options options_;
  const gridrpc::MemberContext* member_ = nullptr;
  std::atomic<bool> stopping_{false};
  std::atomic<int64_t> computed_{0};
  std::unique_ptr<gridrpc::Client> client_;  // to the member itself, made by the dispatcher
  std::unique_ptr<Calculator::Proxy> proxy_;

  std::mutex mu_;
  std::condition_variable changed_;
  std::deque<Task> queue_;                        // guarded by mu_
  absl::flat_hash_set<std::string> in_progress_;  // queued or computing; guarded by mu_
  std::vector<std::thread> threads_;
};

}  // namespace examples

#endif  // GRIDRPC_EXAMPLES_CALCULATOR_SERVICE_H_
