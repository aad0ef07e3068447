#!/usr/bin/env bash
# Builds the libFuzzer targets of tests/fuzz with clang (ASan + UBSan, coverage-guided) and runs
# each for a bounded time from its seed corpus. Any crash, leak or sanitizer report fails.
#
#   ops/fuzz.sh [SECONDS_PER_TARGET]        (default 30)
#
# Settings (environment): BUILD_DIR (default <repo>/build-fuzz), TARGETS (default: all built),
# FUZZ_ARGS (more libFuzzer flags). A longer run, e.g. 10 M executions:
#   FUZZ_ARGS="-runs=10000000" ops/fuzz.sh 0
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
seconds=${1:-30}
build=${BUILD_DIR:-$repo/build-fuzz}
say() { echo "fuzz: $*" >&2; }

command -v clang++ >/dev/null || { say "clang++ is missing (ops/install-deps.sh installs it)"; exit 1; }
if [[ ! -f "$build/build.ninja" ]]; then
  CC=clang CXX=clang++ cmake -S "$repo" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DPIPELINE_BUILD_FUZZERS=ON -DPIPELINE_BUILD_BENCHMARKS=OFF >/dev/null
fi
cmake --build "$build" --target fuzzers
targets=${TARGETS:-$(cd "$build/fuzz" && ls)}
for target in $targets; do
  corpus=$(mktemp -d)
  # The targets' scratch files (the backup reader writes each input to a file) in memory when
  # /dev/shm exists: on disk the run waits on writeback instead of fuzzing (1.5 k against 11 k
  # executions/s).
  scratch=$(mktemp -d -p "$( [[ -d /dev/shm ]] && echo /dev/shm || echo "${TMPDIR:-/tmp}")")
  trap 'rm -rf "$corpus" "$scratch"' EXIT
  seeds="$repo/tests/fuzz/corpus/$target"
  [[ -d "$seeds" ]] && cp -r "$seeds/." "$corpus/"
  say "$target: ${seconds}s from $(ls "$corpus" | wc -l) seeds"
  args=(-max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1
        -artifact_prefix="$build/fuzz-$target-")
  log="$build/fuzz-$target.log"
  # ASan records the stack of every allocation in a depot that is never freed. Over millions of
  # inputs each new parser path adds stacks: the configuration and alert-rule fuzzers grew by
  # 1-2 GB per million executions, so a 10 M run would end at the RSS limit. Two frames keep the
  # depot and the RSS flat (and run ~20 % faster); a failing input is replayed below with full
  # allocation stacks (and UBSan reports with theirs).
  started=$(date +%s)
  # shellcheck disable=SC2086
  if ! ASAN_OPTIONS=${ASAN_OPTIONS:-malloc_context_size=2} TMPDIR="$scratch" \
      "$build/fuzz/$target" "${args[@]}" ${FUZZ_ARGS:-} "$corpus" >"$log" 2>&1; then
    grep -v '^#[0-9]' "$log" | tail -n 80
    artifact=$(find "$build" -maxdepth 1 -name "fuzz-$target-*" -newermt "@$started" | head -n 1)
    if [[ -n "$artifact" ]]; then
      say "replaying $artifact with full allocation stacks:"
      UBSAN_OPTIONS=print_stacktrace=1 TMPDIR="$scratch" "$build/fuzz/$target" -timeout=10 \
        -rss_limit_mb=2048 "$artifact" 2>&1 | tail -n 80 || true
    fi
    say "$target FAILED (whole log: $log)"
    exit 1
  fi
  grep '^stat::\|^Done' "$log"
  rm -rf "$corpus" "$scratch"
done
say "no crash"
