#!/usr/bin/env bash
# Builds the libFuzzer targets (fuzz/, clang, ASan + UBSan, in build/fuzz) and runs each
# for a set number of executions. Exits non-zero if any target crashed (a crash, a
# sanitizer report or a broken invariant); the crashing input is kept and its path printed.
#
#   scripts/fuzz.sh                      every target, its default number of executions
#   scripts/fuzz.sh --smoke              every target briefly, from its seeds (what CI runs)
#   scripts/fuzz.sh --target NAME[=RUNS] only this target (repeatable), e.g. fuzz_http_api=50000
#   scripts/fuzz.sh --runs N             N executions for every target run
#   scripts/fuzz.sh --save-corpus        afterwards, merge new inputs into fuzz/corpus/<target>
#   scripts/fuzz.sh --build-only         build, run nothing
#   scripts/fuzz.sh -- ARGS...           extra libFuzzer arguments for every target
#
# Default executions: fuzz_line_request 10,000,000, fuzz_http_parser 10,000,000, fuzz_http_api 400,000, fuzz_store_row
# 250,000, fuzz_grpc_h2 100,000 (each about 5 to 15 minutes on one core of a shared 2-core machine). The growing
# corpus lives in build/fuzz/corpus/<target> (seeded from fuzz/corpus/<target>), crashing
# inputs in build/fuzz/artifacts/<target>; nothing is written to the source tree unless
# --save-corpus asks. The build directory can be overridden with TNL_FUZZ_BUILD_DIR.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

declare -A default_runs=([fuzz_line_request]=10000000 [fuzz_http_parser]=10000000 [fuzz_http_api]=400000 [fuzz_store_row]=250000
  [fuzz_grpc_h2]=100000)
# Longest input per target: a request line (the server's limit is 1024 by default); four
# HTTP strings per step and a body over the 8 KiB limit; a few rows of the state file.
declare -A max_len=([fuzz_line_request]=2048 [fuzz_http_parser]=65536 [fuzz_http_api]=20000 [fuzz_store_row]=8192
  [fuzz_grpc_h2]=16384)
all_targets=(fuzz_line_request fuzz_http_parser fuzz_http_api fuzz_store_row fuzz_grpc_h2)
smoke_seconds=${TNL_FUZZ_SMOKE_SECONDS:-20}

smoke=0
save_corpus=0
build_only=0
runs_all=
targets=()
declare -A runs=()
extra=()
while (($#)); do
  case "$1" in
    --smoke) smoke=1 ;;
    --save-corpus) save_corpus=1 ;;
    --build-only) build_only=1 ;;
    --runs) shift; runs_all=${1:?--runs needs a number} ;;
    --target)
      shift
      spec=${1:?--target needs a name}
      name=${spec%%=*}
      [[ -v "default_runs[$name]" ]] || { echo "fuzz.sh: unknown target: $name (${all_targets[*]})" >&2; exit 2; }
      targets+=("$name")
      [[ $spec == *=* ]] && runs[$name]=${spec#*=}
      ;;
    --) shift; extra=("$@"); break ;;
    -h|--help) sed -n '2,21p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "fuzz.sh: unknown option: $1" >&2; exit 2 ;;
  esac
  shift
done
((${#targets[@]})) || targets=("${all_targets[@]}")

build_dir=${TNL_FUZZ_BUILD_DIR:-build/fuzz}
if ! command -v clang++ >/dev/null 2>&1; then
  echo "fuzz.sh: clang++ not found (scripts/install-deps.sh installs clang and libfuzzer-14-dev)" >&2
  exit 1
fi

jobs=$(nproc 2>/dev/null || echo 2)
build_start=$SECONDS
echo "fuzz: building ${targets[*]} in $build_dir"
CC=clang CXX=clang++ cmake -S . -B "$build_dir" -DTNL_FUZZ=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
build_targets=()
for target in "${targets[@]}"; do build_targets+=(--target "$target"); done
cmake --build "$build_dir" --parallel "$jobs" "${build_targets[@]}"
echo "fuzz: built in $((SECONDS - build_start)) s"
((build_only)) && exit 0

# Stop at the first report and say where; leaks are reports too.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:symbolize=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

summaries=()
crashed=()
for target in "${targets[@]}"; do
  seeds=fuzz/corpus/$target
  if ((smoke)); then
    corpus=$build_dir/smoke-corpus/$target
    rm -rf "$corpus"
    run_args=(-max_total_time="$smoke_seconds")
  else
    corpus=$build_dir/corpus/$target
    run_args=(-runs="${runs[$target]:-${runs_all:-${default_runs[$target]}}}")
  fi
  artifacts=$build_dir/artifacts/$target
  mkdir -p "$corpus" "$artifacts"
  cp -n "$seeds"/* "$corpus"/ 2>/dev/null || true
  args=("${run_args[@]}" -max_len="${max_len[$target]}" -timeout=10 -print_final_stats=1
        -artifact_prefix="$artifacts/")
  [[ -f fuzz/$target.dict ]] && args+=(-dict="fuzz/$target.dict")
  log=$build_dir/$target.log
  echo
  echo "=== $target: ${run_args[*]} ==="
  start=$SECONDS
  set +e
  # The corpus directory comes last: libFuzzer adds what it finds there.
  "$build_dir/bin/$target" "${args[@]}" "${extra[@]}" "$corpus" >"$log" 2>&1
  rc=$?
  set -e
  elapsed=$((SECONDS - start))
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
  speed=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n 1)
  # "#12345	DONE   cov: 310 ft: 1502 corp: 420/21Kb lim: 2048 exec/s: ..."
  status=$(grep -E '^#[0-9]+' "$log" | tail -n 1 || true)
  cov=$(sed -nE 's/.* cov: ([0-9]+).*/\1/p' <<<"$status")
  ft=$(sed -nE 's/.* ft: ([0-9]+).*/\1/p' <<<"$status")
  corp=$(sed -nE 's/.* corp: ([0-9]+\/[0-9]+[a-zA-Z]*).*/\1/p' <<<"$status")
  summary="$target: ${execs:-?} execs in ${elapsed} s (${speed:-?} exec/s), cov ${cov:-?}, ft ${ft:-?},"
  summary+=" corpus ${corp:-?} (files/size)"
  if ((rc != 0)); then
    crash=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log" | tail -n 1)
    grep -E 'ERROR: (AddressSanitizer|LeakSanitizer|libFuzzer)|runtime error:|invariant failed:|SUMMARY:' "$log" |
      head -n 8 || true
    summary+=" CRASHED (exit $rc): input ${crash:-not written}; log $log"
    crashed+=("$target")
    echo "reproduce: $build_dir/bin/$target ${crash:-<input>}"
  fi
  echo "$summary"
  summaries+=("$summary")
  if ((save_corpus && rc == 0)); then
    # Only the inputs that add coverage, so that the committed seeds stay small.
    "$build_dir/bin/$target" -merge=1 -max_len="${max_len[$target]}" "$seeds" "$corpus" >>"$log" 2>&1
    echo "saved: $(find "$seeds" -type f | wc -l) inputs in $seeds"
  fi
done

echo
echo "=== fuzz summary ==="
printf '%s\n' "${summaries[@]}"
if ((${#crashed[@]})); then
  echo "CRASHED: ${crashed[*]} (inputs kept in $build_dir/artifacts/)" >&2
  exit 1
fi
