#!/usr/bin/env bash
# Builds AegisAPI (Release) and runs it in the foreground. Settings come from
# the environment and ./.env (see .env.example); with none, memory mode on :8080.
set -euo pipefail
cd "$(dirname "$0")/.."
tools/install-deps.sh
cmake -S . -B build-release -DCMAKE_BUILD_TYPE=Release -DAEGIS_BUILD_TESTS=OFF >/dev/null
cmake --build build-release -j"$(nproc)" --target aegis
exec ./build-release/aegis "$@"
