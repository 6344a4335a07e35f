// Meta arguments: extra arguments that travel with a call beside its request (credentials,
// tenant, trace ids), created on the client by a meta-arguments handler and read on the member
// by execution aspects and services (XAP's meta arguments).
//
// Each travels as gRPC metadata `gridrpc-meta-<name>`, so plain gRPC clients can send them too:
// names are lowercase [a-z0-9_.-]; a name ending in "-bin" carries binary values.
#ifndef GRIDRPC_META_ARGUMENTS_H_
#define GRIDRPC_META_ARGUMENTS_H_

#include <string>
#include <utility>
#include <vector>

namespace gridrpc {

// (name, value) pairs, names without the metadata prefix.
using MetaArguments = std::vector<std::pair<std::string, std::string>>;

}  // namespace gridrpc

#endif  // GRIDRPC_META_ARGUMENTS_H_
