#!/usr/bin/env bash
# The one test command: installs the dependencies, builds, and runs the whole ctest suite:
#   - in the Release build (build/release): everything, the etcd/ reruns (the integration
#     suites against servers on a real etcd) among them;
#   - in the AddressSanitizer + UndefinedBehaviorSanitizer build (build/asan): everything
#     again, but each integration test once: as its deferred/ twin (the integration suites
#     against a server whose lock backend answers every call on a later turn,
#     docs/SECURITY.md), which runs only here; the plain ones run in the Release suite;
#   - in a ThreadSanitizer build (build/tsan, only etcd_client_tests): the etcd client,
#     where results cross from gRPC's threads to the event loop;
#   - a short run of each fuzz target (scripts/fuzz.sh --smoke, clang, build/fuzz);
#   - the image build (script/image_build: the Dockerfile, with buildah).
# The sanitizer, fuzz and image builds compile in the background, at a lower priority,
# while the Release suite runs (see below). Exits non-zero if anything fails.
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
    -h|--help) sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
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
  # A test that fails is run once more (--repeat until-pass:2): on two shared cores a few of
  # some 2,900 tests with real deadlines (lease keepalives, probes under a flood) have
  # failed from load alone and passed when rerun. The first failure's output stays in the
  # log and the summary names every such test; a test that fails twice fails the run.
  ctest --test-dir "$dir" --output-on-failure --no-tests=error --repeat until-pass:2 \
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
  # A failed first run shows as "Test #N: NAME ....***Failed" (or ***Timeout, ***Exception);
  # those not in ctest's final list of failures passed on their second run.
  while IFS= read -r test; do
    [[ " ${failed_tests[*]} " == *"$name: "*"$test"* ]] || rerun_tests+=("$name: $test")
  done < <(sed -nE 's/^.*Test +#[0-9]+: (.*[^ ]) \.+ *\*\*\*(Failed|Timeout|Exception).*$/\1/p' "$log" | sort -u)
  rm -f "$log"
  if ((rc != 0)); then
    failed_suites+=("$name")
    ((total_failed > 0)) || total_failed=1
  fi
  summaries+=("$name: ${line:-ctest exited with status $rc and no summary}")
}
summaries=()
failed_tests=()
rerun_tests=()

# timed NAME COMMAND...: runs COMMAND and notes its wall time for the summary (where CI's
# minutes go).
timed() {
  local name=$1 started=$SECONDS rc=0
  shift
  "$@" || rc=$?
  timings+=("$name: $((SECONDS - started)) s")
  return "$rc"
}

# The other builds (ASan+UBSan, ThreadSanitizer, fuzz) and the image build compile while the
# Release suite runs, in the background at a lower priority: they take mostly the CPU the
# tests leave idle (most tests wait on sockets and timers), and CI's wall time is not the
# sum of four builds and two suites. The sanitizer builds at nice 10, the image build at
# nice 19, so that the build the next suite waits for gets nearly all of what is left. Each
# background step writes its log and exit status to $bg_dir; wait_step waits for one.
# shellcheck source=scripts/lib/background.sh
source scripts/lib/background.sh

# build_failed NAME: a background build that failed counts as one failure of the run.
build_failed() {
  failed_suites+=("$1")
  total_failed=$((total_failed + 1))
}

# ThreadSanitizer: the etcd client (server/etcd), where results cross from gRPC's threads
# to the event loop, against real etcd: etcd_client_tests only. Debian's gRPC is not
# instrumented: tests/tsan.supp says which of its own accesses TSan is told to ignore and
# why (never our code), and tests/support/tsan_grpc_sync.cpp and server/etcd/
# tsan_annotations.hpp show TSan the ordering gRPC guarantees. Any report fails the test.
# (The gRPC front end, server/grpc, runs on the event loop alone: no gRPC thread, nothing
# for TSan there.)
tsan_tests='^etcd-client/'

# The image build (tests/scripts/image_build.sh: the Dockerfile built for real with buildah:
# debootstrap, apt downloads and a compile without a cache) depends only on the source tree:
# it starts first, so that its downloads overlap the Release build, at nice 19 (far below the
# sanitizer builds, which the next suites wait for). Run here directly, not through ctest
# (build/release is not configured yet). It is a compile of the server and clients as big as
# the Release build's, and on CI's two cores the whole run must end within 90 minutes: if
# everything else is done and the image is not built by the run's 72nd minute, it is stopped
# and reported as not run (never as passed). On this machine (2 cores) from nothing, the
# whole run took 59 minutes, the image build ending last (its 59th): if it is cut, run it
# alone with `ctest --test-dir build/release -R image_build` (15 to 21 minutes here).
image_test='^script/image_build$'
image_until=$((72 * 60))
whole=0
((${#ctest_extra[@]} == 0)) && whole=1
if ((sanitize && whole)); then
  bg_steps 19 image-test env TNL_SOURCE_DIR="$PWD" bash tests/scripts/image_build.sh
fi

timed "release build" scripts/build.sh

steps=()
((sanitize)) && steps+=(asan-build scripts/build.sh --sanitize --)
((tsan)) && steps+=(tsan-build scripts/build.sh --tsan --target etcd_client_tests --)
((fuzz)) && steps+=(fuzz-build env -u ASAN_OPTIONS -u UBSAN_OPTIONS scripts/fuzz.sh --build-only --)
((${#steps[@]})) && bg_steps 10 "${steps[@]}"

# The Release suite: everything but the image build (above) and the deferred/ reruns, which
# run in the sanitizer suite (a deferred answer is where a lifetime bug would show). Without
# the sanitizer stage, everything.
if ((sanitize && whole)); then
  timed "release tests" run_suite release build/release -E "$image_test|^deferred/"
else
  timed "release tests" run_suite release build/release
fi

if ((sanitize)); then
  if wait_step asan-build; then
    export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:check_initialization_order=1:strict_init_order=1:detect_stack_use_after_return=1}
    export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
    # Each integration test runs once under the sanitizers: its deferred/ twin (the same test
    # against a server whose backend answers late) runs here, the plain one in the Release
    # suite. Without the Release suite's whole run (-- ARGS), both.
    if ((whole)); then
      timed "asan+ubsan tests" run_suite asan+ubsan build/asan -E '^(server|cli|grpc|stress)/'
    else
      timed "asan+ubsan tests" run_suite asan+ubsan build/asan
    fi
  else
    build_failed "asan+ubsan build"
  fi
fi

if ((tsan)); then
  if wait_step tsan-build; then
    TSAN_OPTIONS="suppressions=$PWD/tests/tsan.supp halt_on_error=1 second_deadlock_stack=1 ${TSAN_OPTIONS:-}" \
      timed "tsan tests" run_suite tsan build/tsan -R "$tsan_tests"
  else
    build_failed "tsan build"
  fi
fi

# Every fuzz target briefly, from its seeds; each target counts as a test.
if ((fuzz)); then
  if wait_step fuzz-build; then
    fuzz_started=$SECONDS
    echo
    echo "=== fuzz smoke (build/fuzz) ==="
    log=$(mktemp)
    set +e
    # With fuzz.sh's own sanitizer options, not the suite's (use-after-return checks slow fuzzing).
    # 10 s a target (fuzz.sh's own default is 20): CI's minutes are few.
    env -u ASAN_OPTIONS -u UBSAN_OPTIONS TNL_FUZZ_SMOKE_SECONDS="${TNL_FUZZ_SMOKE_SECONDS:-10}" \
      scripts/fuzz.sh --smoke 2>&1 | tee "$log"
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
    timings+=("fuzz smoke: $((SECONDS - fuzz_started)) s")
  else
    build_failed "fuzz build"
  fi
fi

if ((sanitize && whole)); then
  wait_step image-test "$image_until" || true
  image_rc=$(cat "$bg_dir/image-test.rc")
  echo
  echo "=== image build (tests/scripts/image_build.sh, in the background) ==="
  tail -n 80 "$bg_dir/image-test.log"
  case $image_rc in
    0) total_passed=$((total_passed + 1)); summaries+=("image: the Dockerfile built and its image checked") ;;
    77) summaries+=("image: skipped ($(grep -m1 SKIPPED "$bg_dir/image-test.log" || echo "exit 77"))") ;;
    124) summaries+=("image: NOT RUN to its end: stopped at the run's $((image_until / 60))th minute (CI's time); run it alone: ctest --test-dir build/release -R image_build") ;;
    *) total_failed=$((total_failed + 1)); failed_suites+=("image")
       failed_tests+=("image: script/image_build (exit $image_rc)")
       summaries+=("image: FAILED (exit $image_rc)") ;;
  esac
fi

echo
echo "=== summary ==="
printf '%s\n' "${summaries[@]}"
echo "wall time: ${timings[*]/%/;} total $((SECONDS / 60)) min"
echo "tests: $total_passed passed, $total_failed failed"
((${#failed_tests[@]} == 0)) || printf 'failed: %s\n' "${failed_tests[@]}"
((${#rerun_tests[@]} == 0)) || printf 'failed once, passed when run again: %s\n' "${rerun_tests[@]}"
if ((${#failed_suites[@]})); then
  echo "FAILED: ${failed_suites[*]}" >&2
  exit 1
fi
