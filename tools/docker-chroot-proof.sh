#!/usr/bin/env bash
# Proves the Dockerfile right without a Docker engine: executes its own
# instructions (FROM, WORKDIR, COPY [--from], RUN, ENV, USER, EXPOSE,
# ENTRYPOINT) in Debian bookworm roots made with debootstrap, then starts the
# runtime stage's ENTRYPOINT as its USER, curls it, and stops it with SIGTERM.
# Slow (two debootstraps and a full build): not part of tools/test.sh.
# Needs root. Usage: tools/docker-chroot-proof.sh [workdir]   (default /var/tmp/aegis-chroot)
set -euo pipefail
cd "$(dirname "$0")/.."
context=$PWD
work=${1:-/var/tmp/aegis-chroot}
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
port=${PROOF_PORT:-18099}

[[ $(id -u) -eq 0 ]] || { echo "needs root (chroot, debootstrap)" >&2; exit 2; }
command -v debootstrap >/dev/null || { apt-get update -qq; apt-get install -y -qq debootstrap >/dev/null; }
command -v curl >/dev/null || { apt-get update -qq; apt-get install -y -qq curl >/dev/null; }

log() { printf '\n=== %s\n' "$*"; }
mounted=()
cleanup() {
  for m in "${mounted[@]}"; do umount -l "$m" 2>/dev/null || true; done
  [[ -n "${pid:-}" ]] && kill -9 "$pid" 2>/dev/null || true
}
trap cleanup EXIT

# One base root per distinct image, cached across runs as a tarball.
make_root() {  # image dir
  local image=$1 dir=$2 variant=minbase
  local cache="$work/cache-${image//[:\/]/_}.tar"
  rm -rf "$dir"; mkdir -p "$dir"
  if [[ ! -f $cache ]]; then
    log "debootstrap $image ($variant)"
    local tmp="$work/tmp-root"; rm -rf "$tmp"
    debootstrap --variant=$variant bookworm "$tmp" "$mirror" >/dev/null
    tar -C "$tmp" -cf "$cache" . && rm -rf "$tmp"
  fi
  tar -C "$dir" -xf "$cache"
  cp /etc/resolv.conf "$dir/etc/resolv.conf"
  if mount -t proc proc "$dir/proc" 2>/dev/null; then mounted+=("$dir/proc"); fi
}

# Dockerfile -> one instruction per line (continuations joined, comments dropped).
mapfile -t instructions < <(sed -e '/^[[:space:]]*#/d' Dockerfile | sed -e ':a' -e '/\\$/N; s/\\\n//; ta' | sed -e '/^[[:space:]]*$/d')

declare -A stage_dir
stage=-1; root=""; cwd=/; user=root; envs=(); entrypoint=""; exposed=""
for line in "${instructions[@]}"; do
  read -r op rest <<<"$line"
  case "${op^^}" in
    FROM)
      stage=$((stage + 1)); image=$(awk '{print $1}' <<<"$rest"); name=$(awk 'toupper($2)=="AS"{print $3}' <<<"$rest")
      root="$work/stage$stage"; stage_dir[$stage]=$root; [[ -n $name ]] && stage_dir[$name]=$root
      make_root "$image" "$root"; cwd=/; user=root; envs=(); entrypoint=""
      log "stage $stage: FROM $rest -> $root" ;;
    WORKDIR) cwd=$rest; mkdir -p "$root$cwd" ;;
    ENV) envs+=("$rest") ;;
    USER) user=$rest ;;
    EXPOSE) exposed=$rest ;;
    ENTRYPOINT) entrypoint=$rest ;;
    COPY)
      from="$context"
      if [[ $rest == --from=* ]]; then
        src_stage=${rest%% *}; src_stage=${src_stage#--from=}; from=${stage_dir[$src_stage]}; rest=${rest#* }
      fi
      read -r -a parts <<<"$rest"; dest=${parts[-1]}; unset 'parts[-1]'
      [[ $dest == /* ]] || dest="$cwd/$dest"
      for src in "${parts[@]}"; do
        if [[ -d "$from/$src" ]]; then          # a directory: its contents into dest
          mkdir -p "$root$dest"; cp -a "$from/$src/." "$root$dest/"
        elif [[ $dest == */ || ${#parts[@]} -gt 1 ]]; then  # files into a directory
          mkdir -p "$root$dest"; cp -a "$from/$src" "$root$dest/"
        else                                     # one file to a file name
          mkdir -p "$(dirname "$root$dest")"; cp -a "$from/$src" "$root$dest"
        fi
      done
      echo "COPY $rest" ;;
    RUN)
      log "RUN $rest"
      env_exports=""; for e in "${envs[@]}"; do env_exports+="export $e; "; done
      chroot "$root" /usr/bin/env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
        HOME=/root /bin/sh -ec "$env_exports cd '$cwd'; $rest" ;;
    *) echo "unsupported instruction: $op" >&2; exit 1 ;;
  esac
done

log "runtime image: ENTRYPOINT $entrypoint as USER $user (EXPOSE $exposed)"
mapfile -t argv < <(python3 -c 'import json,sys; print("\n".join(json.loads(sys.argv[1])))' "$entrypoint" 2>/dev/null \
  || sed -e 's/^\[//; s/\]$//; s/", *"/\n/g; s/"//g' <<<"$entrypoint")
echo "libraries:"; chroot "$root" ldd /usr/local/bin/aegis | sed 's/^/  /'
if chroot "$root" ldd /usr/local/bin/aegis | grep -q "not found"; then echo "missing runtime library" >&2; exit 1; fi
env_args=(); for e in "${envs[@]}"; do env_args+=("$e"); done
chroot --userspec="$user:$user" "$root" /usr/bin/env -i PATH=/usr/bin:/bin "${env_args[@]}" PORT="$port" \
  "${argv[@]}" >"$work/aegis.log" 2>&1 &
pid=$!
for _ in $(seq 1 100); do curl -fs "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.1; done
uid=$(ps -o uid= -p "$(pgrep -f -n /usr/local/bin/aegis)" | tr -d ' ')
body=$(curl -s -w ' [%{http_code}]' "http://127.0.0.1:$port/ping?user=proof")
echo "GET /ping -> $body"
echo "aegis runs as uid $uid"
kill -TERM "$pid"; rc=0; wait "$pid" || rc=$?
pid=""
cat "$work/aegis.log"
[[ $body == *"[200]" ]] || { echo "FAILED: /ping did not answer 200" >&2; exit 1; }
[[ $uid != 0 && -n $uid ]] || { echo "FAILED: aegis ran as root" >&2; exit 1; }
[[ $rc -eq 0 ]] || { echo "FAILED: exit status $rc after SIGTERM" >&2; exit 1; }
log "PASS: the Dockerfile builds, tests and serves as uid $uid; SIGTERM exits 0"
