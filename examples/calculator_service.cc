#include "calculator_service.h"

#include <latch>

namespace examples {

absl::Status CalculatorImpl::Init(const gridrpc::MemberContext& member,
                                  const gridrpc::Properties& properties) {
  member_ = &member;
  threads_.emplace_back([this] { Dispatch(); });
  for (int i = 0; i < options_.workers; ++i) threads_.emplace_back([this] { Work(); });
  return absl::OkStatus();
}

void CalculatorImpl::Stop() {
  if (stopping_.exchange(true)) return;
  changed_.notify_all();
  for (std::thread& t : threads_) t.join();
  threads_.clear();
}

absl::StatusOr<SubmitResponse> CalculatorImpl::Submit(gridrpc::PartitionContext& context,
                                                      State& state, const Task& task) {
  if (!state.done().contains(task.id())) (*state.mutable_pending())[task.id()] = task;
  return SubmitResponse();
}

absl::StatusOr<CompleteResponse> CalculatorImpl::Complete(gridrpc::PartitionContext& context,
                                                          State& state,
                                                          const CompleteRequest& request) {
  CompleteResponse response;
  if (state.done().contains(request.id())) return response;  // recorded once, by whoever came first
  state.mutable_pending()->erase(request.id());
  ResultResponse& done = (*state.mutable_done())[request.id()];
  done.set_done(true);
  done.set_result(request.result());
  done.set_member(request.member());
  response.set_recorded(true);
  return response;
}

absl::StatusOr<ResultResponse> CalculatorImpl::GetResult(gridrpc::PartitionContext& context,
                                                         State& state,
                                                         const ResultRequest& request) {
  auto it = state.done().find(request.id());
  return it == state.done().end() ? ResultResponse() : it->second;
}

bool CalculatorImpl::Enqueue(Task task) {
  std::unique_lock<std::mutex> lock(mu_);
  changed_.wait(lock, [this] { return stopping_ || queue_.size() < options_.queue_capacity; });
  if (stopping_) return false;
  queue_.push_back(std::move(task));
  changed_.notify_all();
  return true;
}

void CalculatorImpl::Dispatch() {
  // The member answers calls only once it has a partition table: connect when it does.
  while (!stopping_ && client_ == nullptr) {
    auto client = gridrpc::Client::Create({.members = {member_->address()},
                                           .connect_timeout = absl::Milliseconds(200),
                                           .credentials = member_->client_credentials()});
    if (client.ok()) {
      client_ = *std::move(client);
      proxy_ = gridrpc::ProxyBuilder<Calculator>(*client_).Build();
      changed_.notify_all();  // the workers may start
    } else {
      absl::SleepFor(options_.idle_pause);
    }
  }
  while (!stopping_) {
    std::vector<Task> found;
    // Held for the loop: a table installed meanwhile replaces (and frees) the member's list.
    const std::shared_ptr<const std::vector<int>> owned = member_->PrimaryPartitions();
    for (int p : *owned) {
      std::latch sampled(1);
      member_->RunOnPartition(p, *this, [&](gridrpc::Container* container) {
        if (container != nullptr) {
          const auto& state = static_cast<gridrpc::MessageContainer<State>&>(*container).state();
          std::lock_guard<std::mutex> lock(mu_);
          for (const auto& [id, task] : state.pending()) {
            if (found.size() >= options_.queue_capacity) break;
            if (in_progress_.insert(id).second) found.push_back(task);
          }
        }
        sampled.count_down();
      });
      sampled.wait();  // this thread is the dispatcher's own, never a partition's
      if (found.size() >= options_.queue_capacity) break;
    }
    for (Task& task : found) {
      if (!Enqueue(std::move(task))) return;
    }
    if (found.empty()) absl::SleepFor(options_.idle_pause);
  }
}

void CalculatorImpl::Work() {
  for (;;) {
    Task task;
    {
      std::unique_lock<std::mutex> lock(mu_);
      changed_.wait(lock, [this] { return stopping_ || (!queue_.empty() && proxy_ != nullptr); });
      if (stopping_) return;
      task = std::move(queue_.front());
      queue_.pop_front();
      changed_.notify_all();
    }
    CompleteRequest done;
    done.set_id(task.id());
    done.set_result(task.a() + task.b());
    done.set_member(member_->id());
    computed_.fetch_add(1);
    // Routed like any call: if the partition moved meanwhile, it reaches the new owner.
    proxy_->Complete(done).IgnoreError();
    std::lock_guard<std::mutex> lock(mu_);
    in_progress_.erase(task.id());
  }
}

}  // namespace examples
