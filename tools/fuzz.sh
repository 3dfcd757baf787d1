#!/usr/bin/env bash
# Builds the libFuzzer targets (clang, with ASan + UBSan) and runs each for a
# bounded time from the seed corpus in fuzz/corpus/<target>. Fails on any
# crash, leak, sanitizer report or timeout. Usage: tools/fuzz.sh [seconds per target]
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-60}
tools/install-deps.sh fuzz
CC=clang CXX=clang++ cmake -S . -B build-fuzz -DAEGIS_FUZZ=ON -DAEGIS_BUILD_TESTS=OFF \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build-fuzz -j"$(nproc)"
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
for target in http_request config redis_reply; do
  work=$(mktemp -d)
  cp fuzz/corpus/$target/* "$work/"
  echo "=== fuzz_$target for ${seconds}s"
  # New inputs go to a scratch copy: the committed corpus stays small and curated.
  log="build-fuzz/fuzz_$target.log"
  status=0
  "build-fuzz/fuzz/fuzz_$target" -max_total_time="$seconds" -timeout=5 -rss_limit_mb=2048 \
    -max_len=8192 -print_final_stats=1 -artifact_prefix="build-fuzz/crash-$target-" "$work" \
    >"$log" 2>&1 || status=$?
  rm -rf "$work"
  grep -E '^stat::(number_of_executed_units|new_units_added)|Done [0-9]+ runs' "$log" || true
  if [[ $status -ne 0 ]]; then
    grep -E -A20 '==[0-9]+==ERROR|runtime error|deadly signal|SUMMARY' "$log" | head -40 >&2 || true
    echo "fuzz_$target FAILED (exit $status); log $log; reproducer build-fuzz/crash-$target-*" >&2
    exit 1
  fi
done
echo "fuzz: all targets clean"
