#!/usr/bin/env bash
# The one test command: installs the dependencies, builds, and runs the whole ctest
# suite twice: in the Release build (build/release) and in the AddressSanitizer +
# UndefinedBehaviorSanitizer build (build/asan); then the tests of the code where gRPC's
# threads meet the event loop (the etcd client) in a ThreadSanitizer build (build/tsan,
# only the targets they need); then a short run of each fuzz target (scripts/fuzz.sh
# --smoke, clang, build/fuzz). Exits non-zero if anything fails. Each ctest run includes
# the integration suites a second time against a server that defers every lock operation
# (the deferred/ tests; docs/SECURITY.md).
#
#   scripts/test.sh                 everything (what CI runs)
#   scripts/test.sh --no-sanitize   only the Release build and its suite (quick loop)
#   scripts/test.sh --no-fuzz       everything but the fuzz smoke
#   scripts/test.sh --no-tsan       everything but the ThreadSanitizer stage
#   scripts/test.sh -- ARGS...      extra ctest arguments, e.g. -- -R server (not used by
#                                   the ThreadSanitizer stage, which runs its own selection)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

sanitize=1
fuzz=1
tsan=1
ctest_extra=()
while (($#)); do
  case "$1" in
    --no-sanitize) sanitize=0; fuzz=0; tsan=0 ;;
    --no-fuzz) fuzz=0 ;;
    --no-tsan) tsan=0 ;;
    --) shift; ctest_extra=("$@"); break ;;
    -h|--help) sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "test.sh: unknown option: $1" >&2; exit 2 ;;
  esac
  shift
done

jobs=$(nproc 2>/dev/null || echo 2)
# Per-test limit in seconds; the sanitizer build is several times slower.
timeout=${TNL_TEST_TIMEOUT:-300}

install_started=$SECONDS
scripts/install-deps.sh
timings=("install-deps: $((SECONDS - install_started)) s")

total_passed=0
total_failed=0
failed_suites=()

# run_suite NAME BUILD_DIR [CTEST_ARGS...]: runs ctest there (with the extra arguments
# given after --, or else CTEST_ARGS), adds its counts to the totals.
run_suite() {
  local name=$1 dir=$2 log rc
  shift 2
  log=$(mktemp)
  echo
  echo "=== ctest: $name ($dir) ==="
  set +e
  run_ctest "$dir" "$@" 2>&1 | tee "$log"
  rc=${PIPESTATUS[0]}
  set -e
  count_suite "$name" "$log" "$rc"
}

# run_ctest BUILD_DIR [CTEST_ARGS...]: ctest there, with the extra arguments given after --,
# or else CTEST_ARGS.
run_ctest() {
  local dir=$1
  shift
  local args=("${ctest_extra[@]}")
  (($#)) && args=("$@")
  ctest --test-dir "$dir" --output-on-failure --no-tests=error \
    -j "$jobs" --timeout "$timeout" "${args[@]}"
}

# count_suite NAME LOG RC: adds a ctest run's counts (from its LOG) to the totals, and
# removes the log.
count_suite() {
  local name=$1 log=$2 rc=$3 line test
  # "100% tests passed, 0 tests failed out of 42"
  line=$(grep -E '[0-9]+ tests failed out of [0-9]+' "$log" | tail -n 1 || true)
  if [[ $line =~ ([0-9]+)\ tests\ failed\ out\ of\ ([0-9]+) ]]; then
    total_failed=$((total_failed + BASH_REMATCH[1]))
    total_passed=$((total_passed + BASH_REMATCH[2] - BASH_REMATCH[1]))
  fi
  # ctest's own list of what failed, kept for the summary (a long log is often cut).
  while IFS= read -r test; do
    failed_tests+=("$name: ${test#"${test%%[![:space:]]*}"}")
  done < <(sed -n '/^The following tests FAILED:/,/^[^[:space:]]/{/^[[:space:]]/p}' "$log")
  rm -f "$log"
  if ((rc != 0)); then
    failed_suites+=("$name")
    ((total_failed > 0)) || total_failed=1
  fi
  summaries+=("$name: ${line:-ctest exited with status $rc and no summary}")
}
summaries=()
failed_tests=()

# timed NAME COMMAND...: runs COMMAND and notes its wall time for the summary (where CI's
# minutes go).
timed() {
  local name=$1 started=$SECONDS rc=0
  shift
  "$@" || rc=$?
  timings+=("$name: $((SECONDS - started)) s")
  return "$rc"
}

timed "release build" scripts/build.sh

# The image build (script/image_build: the Dockerfile built for real with buildah, about 11
# minutes of apt downloads and a compile without a cache) depends only on the source tree.
# With the sanitizer stage it runs in the background while the sanitizer build compiles
# (nothing there is timed), instead of alone on both cores inside the Release suite.
image_test='^script/image_build$'
image_pid=
if ((sanitize)) && ((${#ctest_extra[@]} == 0)); then
  timed "release tests" run_suite release build/release -E "$image_test"
  image_log=$(mktemp)
  image_rc=$(mktemp)
  image_started=$SECONDS
  echo
  echo "=== ctest: image (build/release, $image_test), in the background ==="
  { set +e; run_ctest build/release -R "$image_test" >"$image_log" 2>&1; echo $? >"$image_rc"; } &
  image_pid=$!
  # Not left running if this script stops early (a failed build).
  trap '[[ -n $image_pid ]] && pkill -TERM -P "$image_pid" 2>/dev/null; true' EXIT
else
  timed "release tests" run_suite release build/release
fi

if ((sanitize)); then
  timed "asan+ubsan build" scripts/build.sh --sanitize
  if [[ -n $image_pid ]]; then
    wait "$image_pid" || true
    image_pid=
    echo
    echo "=== ctest: image (build/release, $image_test) ==="
    cat "$image_log"
    count_suite image "$image_log" "$(cat "$image_rc" 2>/dev/null || echo 1)"
    rm -f "$image_rc"
    timings+=("image build test, overlapping the asan+ubsan build: $((SECONDS - image_started)) s")
  fi
  export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:check_initialization_order=1:strict_init_order=1:detect_stack_use_after_return=1}
  export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
  timed "asan+ubsan tests" run_suite asan+ubsan build/asan
fi

# ThreadSanitizer: the etcd client (server/etcd), where results cross from gRPC's threads
# to the event loop, against real etcd. Only the targets these tests need are built (the
# generated protobuf code is most of it), to keep CI short. Debian's gRPC is not
# instrumented: tests/tsan.supp says which of its own accesses TSan is told to ignore and
# why (never our code), and tests/support/tsan_grpc_sync.cpp and server/etcd/
# tsan_annotations.hpp show TSan the ordering gRPC guarantees. Any report fails the test.
# The gRPC front end (server/grpc) too: grpc_tests against a TSan-built server, whose
# reports end it with an exit status the tests check.
tsan_targets=(etcd_client_tests grpc_tests tcpnetlock_server)
tsan_tests='^(etcd-client|grpc)/'
if ((tsan)); then
  tsan_started=$SECONDS
  build_targets=()
  for target in "${tsan_targets[@]}"; do build_targets+=(--target "$target"); done
  scripts/build.sh --tsan "${build_targets[@]}"
  TSAN_OPTIONS="suppressions=$PWD/tests/tsan.supp halt_on_error=1 second_deadlock_stack=1 ${TSAN_OPTIONS:-}" \
    run_suite tsan build/tsan -R "$tsan_tests"
  echo "tsan stage: $((SECONDS - tsan_started)) s"
  timings+=("tsan build and tests: $((SECONDS - tsan_started)) s")
fi

# Third stage: every fuzz target briefly, from its seeds; each target counts as a test.
if ((fuzz)); then
  fuzz_started=$SECONDS
  echo
  echo "=== fuzz smoke (build/fuzz) ==="
  log=$(mktemp)
  set +e
  # With fuzz.sh's own sanitizer options, not the suite's (use-after-return checks slow fuzzing).
  env -u ASAN_OPTIONS -u UBSAN_OPTIONS scripts/fuzz.sh --smoke 2>&1 | tee "$log"
  rc=${PIPESTATUS[0]}
  set -e
  # One line per target after fuzz.sh's "=== fuzz summary ===".
  summary=$(sed -n '/^=== fuzz summary ===$/,$p' "$log")
  ran=$(grep -cE '^fuzz_[a-z0-9_]+: ' <<<"$summary" || true)
  crashed=$(grep -cE '^fuzz_[a-z0-9_]+: .*CRASHED' <<<"$summary" || true)
  rm -f "$log"
  total_passed=$((total_passed + ran - crashed))
  total_failed=$((total_failed + crashed))
  if ((rc != 0)); then
    failed_suites+=("fuzz-smoke")
    ((crashed > 0)) || total_failed=$((total_failed + 1))
  fi
  summaries+=("fuzz smoke: $((ran - crashed)) of $ran targets ran without a crash")
  timings+=("fuzz build and smoke: $((SECONDS - fuzz_started)) s")
fi

echo
echo "=== summary ==="
printf '%s\n' "${summaries[@]}"
echo "wall time: ${timings[*]/%/;} total $((SECONDS / 60)) min"
echo "tests: $total_passed passed, $total_failed failed"
((${#failed_tests[@]} == 0)) || printf 'failed: %s\n' "${failed_tests[@]}"
if ((${#failed_suites[@]})); then
  echo "FAILED: ${failed_suites[*]}" >&2
  exit 1
fi
