// A member alone in its cluster (it owns every partition) hosting the example services, for
// tests of what a client sees of one member.
#ifndef GRIDRPC_TESTS_ALONE_MEMBER_H_
#define GRIDRPC_TESTS_ALONE_MEMBER_H_

#include <memory>

#include "example_services.h"
#include "gridrpc/coordinator.h"
#include "gridrpc/member.h"

namespace gridrpc::testing {

struct AloneMember {
  std::unique_ptr<Member> member;
  std::unique_ptr<Coordinator> coordinator;  // destroyed first
};

inline absl::StatusOr<AloneMember> StartAloneMember() {
  AloneMember alone;
  absl::StatusOr<std::unique_ptr<Member>> member =
      Member::Create({.cluster_secret = NewClusterSecret()});
  if (!member.ok()) return member.status();
  alone.member = *std::move(member);
  if (absl::Status s = examples::AddExampleServices(*alone.member); !s.ok()) return s;
  if (absl::Status s = alone.member->Start(); !s.ok()) return s;
  alone.coordinator = NewEmbeddedCoordinator();
  if (absl::Status s = alone.coordinator->Join(*alone.member); !s.ok()) return s;
  return alone;
}

}  // namespace gridrpc::testing

#endif  // GRIDRPC_TESTS_ALONE_MEMBER_H_
