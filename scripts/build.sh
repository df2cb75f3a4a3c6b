#!/usr/bin/env bash
# Configures and builds the project (run from any directory).
#
#   scripts/build.sh              Release build in build/release
#   scripts/build.sh --sanitize   ASan + UBSan Debug build in build/asan
#   scripts/build.sh --tsan       ThreadSanitizer build (optimised, with debug info) in build/tsan
#   scripts/build.sh --target T   build only target T (repeatable), e.g. tcpnetlock_server
#
# Extra arguments after -- go to the CMake configure step. Binaries land in BUILD_DIR/bin.
# BUILD_DIR can be overridden with the environment variable TNL_BUILD_DIR.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

variant=release
cmake_args=()
targets=()
while (($#)); do
  case "$1" in
    --sanitize|--asan) variant=asan ;;
    --tsan) variant=tsan ;;
    --release) variant=release ;;
    --target) shift; targets+=(--target "${1:?--target needs a name}") ;;
    --) shift; cmake_args+=("$@"); break ;;
    -h|--help) sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "build.sh: unknown option: $1" >&2; exit 2 ;;
  esac
  shift
done

if [[ $variant == asan ]]; then
  build_dir=${TNL_BUILD_DIR:-build/asan}
  cmake_args=(-DCMAKE_BUILD_TYPE=Debug -DTNL_SANITIZE=ON "${cmake_args[@]}")
elif [[ $variant == tsan ]]; then
  build_dir=${TNL_BUILD_DIR:-build/tsan}
  cmake_args=(-DCMAKE_BUILD_TYPE=RelWithDebInfo -DTNL_TSAN=ON -DTNL_SANITIZE=OFF "${cmake_args[@]}")
else
  build_dir=${TNL_BUILD_DIR:-build/release}
  cmake_args=(-DCMAKE_BUILD_TYPE=Release -DTNL_SANITIZE=OFF "${cmake_args[@]}")
fi

jobs=$(nproc 2>/dev/null || echo 2)
echo "build: $variant build in $build_dir with $jobs jobs"
cmake -S . -B "$build_dir" "${cmake_args[@]}"
cmake --build "$build_dir" --parallel "$jobs" "${targets[@]}"
