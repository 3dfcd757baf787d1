#!/usr/bin/env bash
# Installs what the tests need, builds everything and runs the whole test suite
# (unit, real-socket server tests, and tests against a real redis-server).
# AEGIS_WERROR=ON turns warnings into errors (CI sets it). Extra arguments go to
# ctest, e.g. `tools/test.sh -L unit`.
set -euo pipefail
cd "$(dirname "$0")/.."
tools/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DAEGIS_WERROR="${AEGIS_WERROR:-OFF}" >/dev/null
cmake --build build -j"$(nproc)"
ctest --test-dir build --output-on-failure -j2 --timeout 300 "$@"
