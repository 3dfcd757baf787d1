#!/usr/bin/env bash
# End-to-end load benchmark: aegis (memory), aegis (Redis) and nginx limit_req
# (the reference) on the same machine in the same run, driven by wrk.
#   bench/load.sh [seconds per run, default 10] [runs, default 3]
# Server pinned to CPU 0 (aegis THREADS=1 + its redis-server; nginx one
# worker), wrk to CPU 1 (one thread, 64 keep-alive connections). Each figure is
# the median of the runs, each run preceded by a 2 s warm-up. Prints one table
# and the RSS of aegis after 1,000,000 distinct users. All traffic is on 127.0.0.1.
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-10}
runs=${2:-3}
root=$PWD
work=$(mktemp -d /tmp/aegis-bench-XXXXXX)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT

tools/install-deps.sh bench
cmake -S . -B build-bench -DCMAKE_BUILD_TYPE=Release -DAEGIS_BUILD_TESTS=OFF -DAEGIS_BUILD_BENCH=ON >/dev/null
cmake --build build-bench -j"$(nproc)" >/dev/null
aegis_bin=$root/build-bench/aegis
tick=$(getconf CLK_TCK)

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])' 2>/dev/null \
  || shuf -i 20000-60000 -n 1; }
wait_port() { for _ in $(seq 1 200); do (exec 3<>/dev/tcp/127.0.0.1/$1) 2>/dev/null && return 0; sleep 0.05; done; return 1; }
cpu_ticks() { local t=0; for p in "$@"; do t=$((t + $(awk '{print $14 + $15}' /proc/$p/stat))); done; echo $t; }

start_redis() {
  redis_port=$(free_port)
  taskset -c 0 redis-server --port "$redis_port" --bind 127.0.0.1 --save '' --appendonly no \
    >"$work/redis.log" 2>&1 &
  redis_pid=$!; pids+=($redis_pid); wait_port "$redis_port"
}
start_aegis() {  # capacity rate [extra env...]
  aegis_port=$(free_port)
  env PORT="$aegis_port" THREADS=1 LOG_LEVEL=warn RATE_LIMIT_CAPACITY="$1" RATE_LIMIT_REFILL_PER_SEC="$2" \
    "${@:3}" taskset -c 0 "$aegis_bin" >"$work/aegis.log" 2>&1 &
  aegis_pid=$!; pids+=($aegis_pid); wait_port "$aegis_port"
  if [[ " ${*:3} " == *REDIS_ADDR* ]]; then
    for _ in $(seq 1 100); do curl -sf "127.0.0.1:$aegis_port/readyz" >/dev/null && break; sleep 0.05; done
  fi
}
start_nginx() {  # rate "burst=N" or ""
  nginx_port=$(free_port)
  sed -e "s|@DIR@|$work|g; s|@PORT@|$nginx_port|; s|@RATE@|$1|; s|@BURST@|$2|" bench/nginx.conf.in >"$work/nginx.conf"
  taskset -c 0 nginx -c "$work/nginx.conf" -p "$work" >"$work/nginx.out" 2>&1 &
  nginx_master=$!; pids+=($nginx_master); wait_port "$nginx_port"
  nginx_pids="$nginx_master $(pgrep -P "$nginx_master" | tr '\n' ' ')"
}
stop_all() { cleanup; pids=(); }

# One measured run: prints "rps p50_ms p99_ms req_per_cpu_s" or INVALID.
measure() {  # port scenario server-pids...
  local port=$1 scenario=$2; shift 2
  taskset -c 1 wrk -t1 -c64 -d2s -s bench/wrk.lua "http://127.0.0.1:$port" -- "$scenario" >/dev/null
  local c0; c0=$(cpu_ticks "$@")
  local out; out=$(taskset -c 1 wrk -t1 -c64 -d"${secs}s" --latency -s bench/wrk.lua "http://127.0.0.1:$port" -- "$scenario")
  local c1; c1=$(cpu_ticks "$@")
  local line; line=$(grep '^RESULT' <<<"$out")
  eval "$(sed -e 's/^RESULT //' <<<"$line")"
  if (( other > 0 || socket_errors > 0 )); then echo "INVALID($line)"; return; fi
  if [[ $scenario == allowed ]] && (( s429 > 0 )); then echo "INVALID(429s in allowed: $line)"; return; fi
  if [[ $scenario == limited ]] && (( s429 < requests * 9 / 10 )); then echo "INVALID(not limited: $line)"; return; fi
  awk -v r="$requests" -v d="$duration_us" -v p50="$p50_us" -v p99="$p99_us" -v c=$((c1 - c0)) -v tk="$tick" \
    'BEGIN { cpu = c / tk; printf "%.0f %.3f %.3f %.0f\n", r / (d / 1e6), p50 / 1000, p99 / 1000, (cpu > 0 ? r / cpu : 0) }'
}
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

declare -A result
run_system() {  # name scenario
  local name=$1 scenario=$2 cap rate
  if [[ $scenario == allowed ]]; then cap=1000000000; rate=1000000; else cap=1; rate=0.000001; fi
  local lines=()
  for r in $(seq 1 "$runs"); do
    case $name in
      memory) start_aegis $cap $rate; lines+=("$(measure "$aegis_port" "$scenario" "$aegis_pid")") ;;
      redis) start_redis; start_aegis $cap $rate REDIS_ADDR="127.0.0.1:$redis_port"
             lines+=("$(measure "$aegis_port" "$scenario" "$aegis_pid" "$redis_pid")") ;;
      nginx) if [[ $scenario == allowed ]]; then start_nginx 1000000r/s burst=1000000; else start_nginx 1r/m ""; fi
             # shellcheck disable=SC2086
             lines+=("$(measure "$nginx_port" "$scenario" $nginx_pids)") ;;
    esac
    stop_all
  done
  if printf '%s\n' "${lines[@]}" | grep -q INVALID; then
    result[$name,$scenario]="INVALID"; printf '%s\n' "${lines[@]}" | grep INVALID >&2; return
  fi
  local cols=()
  for i in 1 2 3 4; do cols+=("$(printf '%s\n' "${lines[@]}" | awk -v i=$i '{print $i}' | median)"); done
  result[$name,$scenario]="${cols[*]}"
  echo "  $name/$scenario runs: $(printf '[%s] ' "${lines[@]}")" >&2
}

echo "bench: $(nproc) cores, $secs s x $runs runs per figure, server on CPU 0, wrk on CPU 1" >&2
for scenario in allowed limited; do
  for name in nginx memory redis; do run_system $name $scenario; done
done

printf '\n%-8s %-8s %10s %9s %9s %12s %10s %12s\n' system scenario "req/s" "p50 ms" "p99 ms" "req/CPU-s" "rps/nginx" "cpu/nginx"
for scenario in allowed limited; do
  read -r nr _ _ nc <<<"${result[nginx,$scenario]/INVALID/0 0 0 0}"
  for name in nginx memory redis; do
    v=${result[$name,$scenario]}
    if [[ $v == INVALID ]]; then printf '%-8s %-8s %s\n' $name $scenario INVALID; continue; fi
    read -r rps p50 p99 cpu <<<"$v"
    awk -v n=$name -v s=$scenario -v a=$rps -v b=$p50 -v c=$p99 -v d=$cpu -v nr=$nr -v nc=$nc \
      'BEGIN { printf "%-8s %-8s %10.0f %9.3f %9.3f %12.0f %10.2f %12.2f\n", n, s, a, b, c, d, (nr ? a/nr : 0), (nc ? d/nc : 0) }'
  done
done

# RSS after 1,000,000 distinct users, each one request, all buckets live.
start_aegis 4 0.000001
round=0
while :; do
  keys=$(curl -s "127.0.0.1:$aegis_port/metrics" | awk '/^aegis_memory_keys /{print $2}')
  (( ${keys%.*} >= 1000000 )) && break
  round=$((round + 1))
  taskset -c 1 wrk -t1 -c64 -d5s -s bench/wrk.lua "http://127.0.0.1:$aegis_port" -- distinct "r$round" >/dev/null
done
rss=$(awk '/VmRSS/{print $2}' /proc/$aegis_pid/status)
printf '\nRSS of aegis (memory mode) after %s distinct users: %.1f MB\n' "$keys" "$(awk -v k=$rss 'BEGIN{print k/1024}')"
