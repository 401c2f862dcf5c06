#!/usr/bin/env bash
# Station CPU per relayed message, by process: the local cluster (deploy/local-cluster.sh: HAProxy → two
# gateways → Redis + dispatcher + storage) or, with --embedded, one embedded station process. Starts the
# station fresh in a temporary directory, measures its idle CPU, runs one load-generator relay phase against
# it, reads each process's CPU time (/proc/<pid>/stat) before and after, prints the table, and stops it.
#   bench/station-cpu.sh [--embedded] [relay options...]
#   e.g. bench/station-cpu.sh --pairs 20 --rate 200 --duration 20 --prepack
# Variants: GATEWAYS, DISPATCHERS and DIM_REDIS_URL pass through to deploy/local-cluster.sh (see there).
# Ports: DIM_CLUSTER_PORT (default 19394; the embedded station's port too), REDIS_PORT (19390),
# GATEWAY1_PORT (19401), GATEWAY2_PORT (19402). Station settings pass through the environment
# (e.g. DIM_VERIFY_ALL_MESSAGES=true).
# With --embedded: STATION_DIR runs the station of another checkout (e.g. a baseline worktree for
# alternating rounds; the load generator stays this checkout's), STATION_NODE_OPTIONS adds node flags to
# the station only (e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof" or "--max-semi-space-size=2"), and
# SCENARIO picks the load-generator scenario (relay, default; or logins, with its own options).
set -euo pipefail
cd "$(dirname "$0")/.."
export DIM_CLUSTER_PORT=${DIM_CLUSTER_PORT:-19394} REDIS_PORT=${REDIS_PORT:-19390}
export GATEWAY1_PORT=${GATEWAY1_PORT:-19401} GATEWAY2_PORT=${GATEWAY2_PORT:-19402}
export CLUSTER_DIR=${CLUSTER_DIR:-$(mktemp -d /tmp/dim-station-cpu.XXXXXX)}
NODE=${NODE:-$PWD/node_modules/.bin/node}
STATION_DIR=${STATION_DIR:-$PWD}
SCENARIO=${SCENARIO:-relay}
embedded=false
if [ "${1:-}" = "--embedded" ]; then
  embedded=true
  shift
fi
if $embedded; then
  roles=(station)
  # exec: the recorded PID is the station's own (signals and /proc reach it, not a wrapper shell)
  # shellcheck disable=SC2086 # STATION_NODE_OPTIONS is a list of flags
  DIM_PORT=$DIM_CLUSTER_PORT DIM_KEY_FILE="$CLUSTER_DIR/station.json" DIM_LOG_LEVEL=${DIM_LOG_LEVEL:-warn} \
    sh -c 'echo $$ >"$0/station.pid"; cd "$1"; shift; exec "$@" workers/station.ts' "$CLUSTER_DIR" \
    "$STATION_DIR" "$NODE" ${STATION_NODE_OPTIONS:-} >"$CLUSTER_DIR/station.log" 2>&1 &
  # the station drains and exits on SIGTERM (a --cpu-prof profile is written then: STOP_WAIT_SECONDS)
  trap 'kill -TERM "$(cat "$CLUSTER_DIR/station.pid")" 2>/dev/null || true; sleep "${STOP_WAIT_SECONDS:-0}"' EXIT
else
  trap 'deploy/local-cluster.sh stop >/dev/null 2>&1 || true' EXIT
  deploy/local-cluster.sh start >/dev/null
  # every process with a pid file: the variants' gateways and dispatchers, and a Redis Cluster's nodes
  # (bench/redis-cluster.sh writes redis-node-*.pid into CLUSTER_DIR) when DIM_REDIS_URL names one
  roles=()
  for f in "$CLUSTER_DIR"/gateway-*.pid "$CLUSTER_DIR"/dispatcher-*.pid "$CLUSTER_DIR"/storage-*.pid \
    "$CLUSTER_DIR"/redis*.pid "$CLUSTER_DIR"/haproxy.pid; do
    [ -f "$f" ] && roles+=("$(basename "$f" .pid)")
  done
fi
for _ in $(seq 100); do
  (exec 3<>"/dev/tcp/127.0.0.1/$DIM_CLUSTER_PORT") 2>/dev/null && break
  sleep 0.1
done
sleep "${SETTLE_SECONDS:-6}" # start-up (module loading, JIT) done; gateways registered, consumer groups created
ticks() { # pid → utime+stime in clock ticks
  awk '{ print $14 + $15 }' "/proc/$1/stat" 2>/dev/null || echo 0
}
systicks() { # pid → stime (kernel: syscalls, loopback TCP) in clock ticks
  awk '{ print $15 }' "/proc/$1/stat" 2>/dev/null || echo 0
}
now_ms() { date +%s%3N; }
# Idle cost (heartbeats, blocking reads, timers) over IDLE_SECONDS, subtracted from the run's figures.
declare -A idle0 idle before sys0
for r in "${roles[@]}"; do idle0[$r]=$(ticks "$(cat "$CLUSTER_DIR/$r.pid")"); done
i0=$(now_ms)
sleep "${IDLE_SECONDS:-5}"
i1=$(now_ms)
for r in "${roles[@]}"; do
  before[$r]=$(ticks "$(cat "$CLUSTER_DIR/$r.pid")")
  sys0[$r]=$(systicks "$(cat "$CLUSTER_DIR/$r.pid")")
done
for r in "${roles[@]}"; do idle[$r]=$((before[$r] - idle0[$r])); done
out=$(mktemp)
t0=$(now_ms)
"$NODE" bench/loadgen/cli.ts "$SCENARIO" --target "127.0.0.1:$DIM_CLUSTER_PORT" --json --quiet "$@" >"$out"
t1=$(now_ms)
hz=$(getconf CLK_TCK)
# relay: messages delivered; logins: logins completed (the per-unit column is then CPU ms per login)
delivered=$("$NODE" -e 'const r=JSON.parse(require("fs").readFileSync(process.argv[1],"utf8")).result;let d=0;if(r.phases)for(const p of r.phases)d+=p.counts.delivered;else d=r.completed;console.log(d)' "$out")
"$NODE" -e 'const r=JSON.parse(require("fs").readFileSync(process.argv[1],"utf8"));if(!r.result.phases){const x=r.result;console.log(`logins: ${x.completed} in ${x.seconds} s (${x.rates.loginsPerSecond}/s), failures ${JSON.stringify(x.failures)}, total p50 ${x.latencyMs.total.p50} ms p99 ${x.latencyMs.total.p99} ms; generator CPU ${x.generator.cpuPercent}%`)}else for(const p of r.result.phases){const l=p.latencyMs.delivery;console.log(`phase ${p.label}: rate ${p.targetRate}/s sent ${p.counts.sent} delivered ${p.counts.delivered} lost ${p.counts.lost} dup ${p.counts.duplicated} receipts ${p.counts.receipts} p50 ${l.p50} ms p99 ${l.p99} ms max ${l.max} ms; generator CPU ${p.generator.cpuPercent}%`)}' "$out"
echo "run $(((t1 - t0) / 1000)) s (set-up and grace included); idle CPU measured over $(((i1 - i0) / 1000)) s and subtracted"
echo "role           run CPU s  idle CPU %   kernel %   CPU ms per delivered message, idle subtracted ($delivered delivered)"
total=0
for r in "${roles[@]}"; do
  t=$(ticks "$(cat "$CLUSTER_DIR/$r.pid")")
  d=$((t - before[$r]))
  k=$(($(systicks "$(cat "$CLUSTER_DIR/$r.pid")") - sys0[$r]))
  line=$(awk -v r="$r" -v d="$d" -v k="$k" -v i="${idle[$r]}" -v iw=$((i1 - i0)) -v w=$((t1 - t0)) -v hz="$hz" -v n="$delivered" 'BEGIN {
    busy = d / hz - (i / hz) * (w / iw); if (busy < 0) busy = 0
    printf "%-14s %9.2f  %9.1f  %9.0f   %.3f\n", r, d / hz, (i / hz) / (iw / 1000) * 100, (d > 0 ? k / d * 100 : 0), (n > 0 ? busy * 1000 / n : 0) }')
  echo "$line"
  total=$(awk -v a="$total" -v b="$(echo "$line" | awk '{ print $5 }')" 'BEGIN { print a + b }')
done
echo "total (ms per message, idle subtracted): $total"
rm -f "$out"
