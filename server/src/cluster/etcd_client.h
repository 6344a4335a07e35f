// A small synchronous client for the part of etcd 3.4's v3 gRPC API gridrpc needs: keys,
// prefixes, transactions, leases with keep-alive, and prefix watches.
//
// Example:
//   absl::StatusOr<std::unique_ptr<EtcdClient>> etcd = EtcdClient::Connect({"127.0.0.1:2379"});
//   if (!etcd.ok()) return etcd.status();
//   absl::StatusOr<int64_t> lease = (*etcd)->GrantLease(absl::Seconds(10));
//   if (!lease.ok()) return lease.status();
//   absl::StatusOr<bool> created = (*etcd)->Txn({EtcdCompare::CreateRevision("/m/a", 0)},
//                                              {EtcdOp::Put("/m/a", "addr", *lease)});
//   auto watch = (*etcd)->WatchPrefix("/m/", 0, on_events, on_error);
//
// Every unary call has a deadline (kEtcdRpcTimeout); errors name the etcd operation that failed.
#ifndef GRIDRPC_SERVER_SRC_ETCD_CLIENT_H_
#define GRIDRPC_SERVER_SRC_ETCD_CLIENT_H_

#include <grpcpp/channel.h>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "gridrpc/internal/mutex.h"

namespace gridrpc::internal {

// The deadline of every unary etcd call, and how long WatchPrefix waits for etcd to register
// its watch.
inline constexpr absl::Duration kEtcdRpcTimeout = absl::Seconds(5);

// One key as etcd stores it.
struct EtcdKeyValue {
  std::string key;
  std::string value;
  int64_t create_revision = 0;  // the revision that created the key
  int64_t mod_revision = 0;     // the revision that last changed it
  int64_t lease = 0;            // the lease the key is attached to, 0 for none
};

// One change seen by a watch. A delete carries only kv.key and kv.mod_revision.
struct EtcdEvent {
  enum class Type { kPut, kDelete };
  Type type = Type::kPut;
  EtcdKeyValue kv;
};

// One comparison of a transaction (etcd's Compare with result EQUAL), e.g.
// EtcdCompare::CreateRevision(key, 0): "the key does not exist".
struct EtcdCompare {
  enum class Target { kCreateRevision, kModRevision, kValue };

  // The key was (last) created at `rev`; 0 means it does not exist.
  static EtcdCompare CreateRevision(std::string key, int64_t rev);
  // The key was last changed at `rev`; 0 means it does not exist.
  static EtcdCompare ModRevision(std::string key, int64_t rev);
  // The key exists and holds `value`.
  static EtcdCompare Value(std::string key, std::string value);

  std::string key;
  Target target = Target::kValue;
  int64_t revision = 0;  // for kCreateRevision and kModRevision
  std::string value;     // for kValue
};

// One operation of a transaction: Put(key, value, lease) or Delete(key).
struct EtcdOp {
  enum class Type { kPut, kDelete };

  // Writes `key`, attached to `lease` (0 for none).
  static EtcdOp Put(std::string key, std::string value, int64_t lease = 0);
  // Deletes `key` (nothing happens if it does not exist).
  static EtcdOp Delete(std::string key);

  Type type = Type::kPut;
  std::string key;
  std::string value;  // for kPut
  int64_t lease = 0;  // for kPut
};

// A running watch started by EtcdClient::WatchPrefix. Destroying it cancels the watch and joins
// its thread; after that no callback runs. It may outlive the client that made it. Not
// thread-safe: one owner destroys it, never from inside its own callbacks.
class EtcdWatch {
 public:
  // Cancels the watch and waits for its callbacks to return.
  ~EtcdWatch();
  EtcdWatch(const EtcdWatch&) = delete;
  EtcdWatch& operator=(const EtcdWatch&) = delete;

 private:
  friend class EtcdClient;
  struct State;
  EtcdWatch(std::shared_ptr<State> state, std::thread thread);

  std::shared_ptr<State> state_;
  std::thread thread_;
};

// A connection to one etcd cluster. Thread-safe: any thread may call any method. Callbacks
// (KeepAlive's on_lost, WatchPrefix's) run on the client's background threads, one thread per
// kept-alive lease and per watch; they must not block for long.
//
// Endpoints: each string may hold several comma-separated endpoints, "http://host:port" or
// "host:port" (port 2379 if omitted; https is not supported). One endpoint: the channel targets
// it directly (DNS names allowed). Several IP literals of one family: one channel balancing
// round-robin over all of them, skipping the ones that are down, so calls fail over. Several
// endpoints with host names: Connect uses the first one, in order, that answers.
class EtcdClient {
 public:
  // Connects and checks etcd answers (a linearizable read) within `connect_timeout`; fails
  // with UNAVAILABLE naming the endpoints if it does not, INVALID_ARGUMENT for a bad endpoint.
  static absl::StatusOr<std::unique_ptr<EtcdClient>> Connect(
      const std::vector<std::string>& endpoints, absl::Duration connect_timeout = absl::Seconds(5));

  // Stops every keep-alive (their leases are not revoked: they expire after their TTL).
  ~EtcdClient();
  EtcdClient(const EtcdClient&) = delete;
  EtcdClient& operator=(const EtcdClient&) = delete;

  // The endpoints in use, "host:port,..." (for messages).
  const std::string& endpoints() const { return endpoints_; }

  // Grants a lease of `ttl` rounded up to whole seconds (at least 1; etcd may raise it to its
  // minimum, 2 s by default) and returns its id.
  absl::StatusOr<int64_t> GrantLease(absl::Duration ttl);

  // Keeps `lease` alive from a background thread (one LeaseKeepAlive stream, a refresh every
  // ttl/3, the first at once) until RevokeLease or the client is destroyed. Calls `on_lost`
  // once, from that thread, if etcd says the lease is gone (TTL <= 0) or it could not be
  // refreshed before it would have expired; the keep-alive stops then. `on_lost` may call
  // RevokeLease. Fails with ALREADY_EXISTS if `lease` is already being kept alive.
  // `on_renewed`, if set, runs from that thread after every refresh with the time until which
  // the lease is certainly alive on this host's clock (the refresh's send time plus the TTL
  // etcd granted): a member acts on its lease only until then.
  absl::Status KeepAlive(int64_t lease, absl::Duration ttl, std::function<void()> on_lost,
                         std::function<void(absl::Time valid_until)> on_renewed = nullptr);

  // Refreshes `lease` once, now: the TTL etcd granted; NOT_FOUND when etcd says the lease is
  // gone (expired or revoked), UNAVAILABLE when etcd does not answer.
  absl::StatusOr<absl::Duration> RefreshLease(int64_t lease);

  // Stops the lease's keep-alive (if any; on_lost is not called) and revokes it, deleting the
  // keys attached to it.
  absl::Status RevokeLease(int64_t lease);

  // Stops the lease's keep-alive (if any; on_lost is not called) without revoking it: it
  // expires after its TTL, as it would if this process had crashed.
  void AbandonLease(int64_t lease);

  // Writes `key`, attached to `lease` (0 for none); returns the new store revision.
  absl::StatusOr<int64_t> Put(const std::string& key, const std::string& value, int64_t lease = 0);

  // The keys starting with `prefix` in key order ("" for every key); `revision`, if not null,
  // gets the store revision they were read at.
  absl::StatusOr<std::vector<EtcdKeyValue>> GetPrefix(const std::string& prefix,
                                                      int64_t* revision = nullptr);

  // One key, std::nullopt if it does not exist; `revision` as for GetPrefix.
  absl::StatusOr<std::optional<EtcdKeyValue>> Get(const std::string& key,
                                                  int64_t* revision = nullptr);

  // Deletes `key`; OK if it did not exist.
  absl::Status Delete(const std::string& key);

  // Atomically: if every compare holds, runs then_ops, else else_ops. Returns whether the
  // compares held (etcd's `succeeded`); `revision`, if not null, gets the header revision.
  absl::StatusOr<bool> Txn(const std::vector<EtcdCompare>& compares,
                           const std::vector<EtcdOp>& then_ops,
                           const std::vector<EtcdOp>& else_ops = {}, int64_t* revision = nullptr);

  // Watches the keys starting with `prefix` from `start_revision` (0: from now) on a background
  // thread. Returns once etcd has registered the watch (or after kEtcdRpcTimeout), so with
  // start_revision 0 every change after the return is seen. `on_events` gets each non-empty
  // batch of events in revision order, with the store revision the batch was sent at (>= the
  // mod_revision of each of its events). `on_error` is called once if the watch breaks (the
  // stream failed, or OUT_OF_RANGE: start_revision was compacted); no callback follows it.
  // Destroying the EtcdWatch cancels the watch without calling on_error.
  std::unique_ptr<EtcdWatch> WatchPrefix(
      const std::string& prefix, int64_t start_revision,
      std::function<void(const std::vector<EtcdEvent>&, int64_t revision)> on_events,
      std::function<void(const absl::Status&)> on_error);

 private:
  struct Stubs;
  struct KeepAliveState;

  EtcdClient(std::string endpoints, std::shared_ptr<grpc::Channel> channel);
  // Stops `state`'s thread and waits for it (unless called from that thread).
  static void StopKeepAlive(KeepAliveState& state);
  static void RunKeepAlive(std::shared_ptr<Stubs> stubs, std::shared_ptr<KeepAliveState> state);
  // Range over [key, range_end) (range_end "" for one key).
  absl::StatusOr<std::vector<EtcdKeyValue>> Range(const std::string& key,
                                                  const std::string& range_end, int64_t* revision);

  const std::string endpoints_;
  const std::shared_ptr<Stubs> stubs_;  // shared with the background threads

  Mutex mu_;
  std::map<int64_t, std::shared_ptr<KeepAliveState>> keep_alives_ ABSL_GUARDED_BY(mu_);
};

}  // namespace gridrpc::internal

#endif  // GRIDRPC_SERVER_SRC_ETCD_CLIENT_H_
