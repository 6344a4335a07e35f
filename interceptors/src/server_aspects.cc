#include "gridrpc/server_aspects.h"

#include "absl/strings/str_cat.h"
#include "gridrpc/internal/strings.h"

namespace gridrpc {

absl::Status CredentialsAspect::Intercept(ServerInvocation& invocation) {
  const CallContext& context = invocation.context();
  const std::optional<std::string_view> user = context.meta_argument("user");
  const std::optional<std::string_view> token = context.meta_argument("token");
  if (!user.has_value() || !token.has_value()) {
    return absl::UnauthenticatedError(
        absl::StrCat(invocation.method().path, " needs the meta arguments 'user' and 'token'"));
  }
  auto it = tokens_.find(internal::AsAbsl(*user));
  if (it == tokens_.end() || it->second != *token) {
    return absl::PermissionDeniedError(absl::StrCat("user '", internal::AsAbsl(*user),
                                                    "' may not call ", invocation.method().path));
  }
  return invocation.Proceed();
}

}  // namespace gridrpc
