#!/usr/bin/env bash
# Builds tests/consumer (a user's project) against gridrpc both ways the README shows, and runs
# it: gridrpc added with add_subdirectory(), and gridrpc installed (cmake --install) and found
# with find_package(gridrpc CONFIG). In each: a member binary made with gridrpc::RunMember serves
# the user's contract, a client program calls it, and the client links no member code.
#   consumer_test.sh GRIDRPC_SOURCE_DIR GRIDRPC_BUILD_DIR WORK_DIR [CMAKE_ARGS...]
# CMAKE_ARGS (the compiler and flags of the gridrpc build under test) go to both configures.
set -euo pipefail
src=$1
build=$2
work=$3
shift 3
toolchain=("$@")
here=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$work"
launcher=()
if command -v ccache >/dev/null; then
  launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DCMAKE_C_COMPILER_LAUNCHER=ccache)
fi

member_pid=
cleanup() { [ -n "$member_pid" ] && kill -KILL "$member_pid" 2>/dev/null || true; }
trap cleanup EXIT

fail() {
  echo "FAIL: $*" >&2
  exit 1
}

# Runs the member and the client of build dir $1.
run() {
  local dir=$1 log=$1/member.log address
  "$dir/my_member" --listen=127.0.0.1:0 >"$log" 2>&1 &
  member_pid=$!
  for _ in $(seq 1 100); do
    address=$(sed -n 's/.*listening on \([0-9.:]*\).*/\1/p' "$log")
    [ -n "$address" ] && break
    kill -0 "$member_pid" 2>/dev/null || fail "my_member exited: $(cat "$log")"
    sleep 0.1
  done
  [ -n "$address" ] || fail "my_member did not start: $(cat "$log")"
  local answer
  answer=$("$dir/my_client" "$address") || fail "my_client failed: $answer"
  [ "$answer" = "value=4 doubled=4" ] || fail "my_client said '$answer', not value=4 doubled=4"
  kill -TERM "$member_pid"
  wait "$member_pid" || fail "my_member did not stop cleanly: $(cat "$log")"
  member_pid=
}

# A program that only calls services links the client runtime: no member, etcd or migration
# code. The member binary has it (so that this check can fail).
check_narrow() {
  local dir=$1 member_code='gridrpc::internal::(MemberCore|EtcdClient|Planner|MigrationParticipant)::'
  nm -C "$dir/my_member" >"$dir/member.symbols"
  nm -C "$dir/my_client" >"$dir/client.symbols"
  grep -Eq "$member_code" "$dir/member.symbols" ||
    fail "my_member has no member code: the check below would prove nothing"
  if grep -E "$member_code" "$dir/client.symbols" >"$dir/client.member_code"; then
    fail "my_client links member code: $(head -3 "$dir/client.member_code")"
  fi
}

echo "== gridrpc as a subdirectory"
cmake -S "$here" -B "$work/subdirectory" -G Ninja -DGRIDRPC_MODE=subdirectory \
  -DGRIDRPC_SOURCE_DIR="$src" -DCMAKE_EXPORT_COMPILE_COMMANDS=ON "${launcher[@]}" \
  "${toolchain[@]}" >/dev/null
cmake --build "$work/subdirectory" --target my_member my_client
# The parent sets no build type: gridrpc's own code is optimised all the same.
grep -q -- '-O2 .*server/src/member/member_core.cc' "$work/subdirectory/compile_commands.json" ||
  fail "gridrpc's sources build unoptimised under a parent without a build type"
run "$work/subdirectory"
check_narrow "$work/subdirectory"

echo "== gridrpc installed and found as a package"
rm -rf "$work/prefix"
cmake --install "$build" --prefix "$work/prefix" >/dev/null
cmake -S "$here" -B "$work/package" -G Ninja -DGRIDRPC_MODE=package \
  -DCMAKE_PREFIX_PATH="$work/prefix" "${launcher[@]}" "${toolchain[@]}" >/dev/null
cmake --build "$work/package"
run "$work/package"
check_narrow "$work/package"
echo "consumer project: 2 passed, 0 failed"
