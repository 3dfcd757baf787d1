#!/usr/bin/env bash
# Installs what AegisAPI needs to build and test on Debian bookworm.
# Idempotent: packages already present are skipped, so a second run is a no-op.
# (prometheus is for promtool, which checks the /metrics output in the tests.)
set -euo pipefail

packages=(
  build-essential cmake pkg-config
  libboost1.81-dev libboost-url1.81-dev
  libhiredis-dev libspdlog-dev libfmt-dev libgtest-dev
  redis-server curl prometheus
)
# Extra sets for optional work, e.g. `tools/install-deps.sh bench`.
for extra in "$@"; do
  case "$extra" in
    bench) packages+=(libbenchmark-dev nginx libnginx-mod-http-echo wrk util-linux) ;;
    fuzz) packages+=(clang libclang-rt-14-dev) ;;
    *) echo "install-deps: unknown extra '$extra' (known: bench, fuzz)" >&2; exit 2 ;;
  esac
done

# npm runs the Dockerfile and render.yaml linters (tools/check-deploy.sh).
command -v npm >/dev/null 2>&1 || packages+=(npm)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if ((${#missing[@]} == 0)); then
  exit 0
fi

sudo=""
if [[ $(id -u) -ne 0 ]]; then sudo="sudo"; fi
echo "install-deps: installing ${missing[*]}" >&2
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
