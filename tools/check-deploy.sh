#!/usr/bin/env bash
# Checks the deployment files with the linters pinned in tools/deploy-check:
#   tools/check-deploy.sh setup       install them (npm ci)
#   tools/check-deploy.sh dockerfile  lint Dockerfile (dockerfilelint, dockerfile-utils)
#   tools/check-deploy.sh render      validate render.yaml against Render's schema
#                                     (RENDER_SCHEMA, default ../shared/schemas/render.schema.json);
#                                     exits 77 (skipped) when the schema file is absent
# ctest runs all three (label "deploy").
set -euo pipefail
cd "$(dirname "$0")/.."
bin=tools/deploy-check/node_modules/.bin

case "${1:-}" in
  setup)
    (cd tools/deploy-check && npm ci --no-audit --no-fund --loglevel=error)
    ;;
  dockerfile)
    out=$("$bin/dockerfilelint" Dockerfile) || { echo "$out"; exit 1; }
    grep -q "Issues: None found" <<<"$out" || { echo "$out"; exit 1; }
    # dockerfile-utils exits 0 even when it warns: any output is a failure.
    out=$("$bin/dockerfile-utils" lint Dockerfile)
    if [[ -n "$out" ]]; then echo "dockerfile-utils: $out"; exit 1; fi
    echo "Dockerfile: dockerfilelint and dockerfile-utils report no issues"
    ;;
  render)
    schema=${RENDER_SCHEMA:-../shared/schemas/render.schema.json}
    if [[ ! -f "$schema" ]]; then
      echo "SKIPPED: Render's Blueprint schema not found at $schema (set RENDER_SCHEMA)"
      exit 77
    fi
    "$bin/ajv" validate --spec=draft2020 --strict=false -s "$schema" -d render.yaml
    ;;
  *)
    echo "usage: $0 setup|dockerfile|render" >&2
    exit 2
    ;;
esac
