// Debian's Abseil is built with its own absl::string_view (ABSL_OPTION_USE_STD_STRING_VIEW 0),
// which does not convert from std::string_view. gridrpc's API uses std::string_view; this
// bridges the two where Abseil's string functions are called.
#ifndef GRIDRPC_INTERNAL_STRINGS_H_
#define GRIDRPC_INTERNAL_STRINGS_H_

#include <string_view>

#include "absl/strings/string_view.h"

namespace gridrpc::internal {

inline absl::string_view AsAbsl(std::string_view s) { return {s.data(), s.size()}; }

}  // namespace gridrpc::internal

#endif  // GRIDRPC_INTERNAL_STRINGS_H_
