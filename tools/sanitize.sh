#!/usr/bin/env bash
# Builds and runs the whole test suite under a sanitizer preset:
#   tools/sanitize.sh asan   AddressSanitizer + UndefinedBehaviorSanitizer (+ LeakSanitizer)
#   tools/sanitize.sh tsan   ThreadSanitizer
# Any report fails the run (halt_on_error; the aegis processes that tests start
# are instrumented too). Extra arguments go to ctest, e.g. -L server.
set -euo pipefail
cd "$(dirname "$0")/.."
preset=${1:?usage: tools/sanitize.sh asan|tsan [ctest args]}
shift
tools/install-deps.sh
cmake --preset "$preset" >/dev/null
cmake --build --preset "$preset" -j"$(nproc)"
ctest --preset "$preset" -j2 --timeout 300 "$@"
