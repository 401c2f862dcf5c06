#!/usr/bin/env bash
# Redis commands per relayed message in the local cluster (deploy/local-cluster.sh: HAProxy, two gateways,
# a dispatcher and a storage worker on a standalone Redis), counted with `redis-cli MONITOR` while the load
# generator relays. Everything the processes send in that window is counted (logins, liveness and trims
# included), so the figure is an upper bound on the steady state.
#   bench/redis-commands.sh [relay options...]   (default: --pairs 5 --rate 20 --duration 10 --prepack)
# Ports as for bench/station-cpu.sh: DIM_CLUSTER_PORT (19394), REDIS_PORT (19390), GATEWAY1_PORT (19401),
# GATEWAY2_PORT (19402).
set -euo pipefail
cd "$(dirname "$0")/.."
export DIM_CLUSTER_PORT=${DIM_CLUSTER_PORT:-19394} REDIS_PORT=${REDIS_PORT:-19390}
export GATEWAY1_PORT=${GATEWAY1_PORT:-19401} GATEWAY2_PORT=${GATEWAY2_PORT:-19402}
export CLUSTER_DIR=${CLUSTER_DIR:-$(mktemp -d /tmp/dim-redis-commands.XXXXXX)}
NODE=${NODE:-$PWD/node_modules/.bin/node}
[ $# -gt 0 ] || set -- --pairs 5 --rate 20 --duration 10 --prepack
monitor=$CLUSTER_DIR/monitor.txt
trap 'kill "$mon" 2>/dev/null || true; deploy/local-cluster.sh stop >/dev/null 2>&1 || true' EXIT
deploy/local-cluster.sh start >/dev/null
for _ in $(seq 100); do
  (exec 3<>"/dev/tcp/127.0.0.1/$DIM_CLUSTER_PORT") 2>/dev/null && break
  sleep 0.1
done
redis-cli -p "$REDIS_PORT" MONITOR >"$monitor" &
mon=$!
out=$("$NODE" bench/loadgen/cli.ts relay --target "127.0.0.1:$DIM_CLUSTER_PORT" --json --quiet "$@")
kill "$mon"
delivered=$("$NODE" -e 'const r=JSON.parse(process.argv[1]).result;let d=0;for(const p of r.phases)d+=p.counts.delivered;console.log(d)' "$out")
echo "$delivered messages delivered; commands per message (MONITOR, whole window):"
# a MONITOR line: <time> [<db> <addr>] "<COMMAND>" "<arg>"… (commands run inside scripts, [<db> lua], are not counted)
awk -v n="$delivered" '
  /^[0-9]/ && $3 != "lua]" { c = toupper($4); gsub(/"/, "", c); count[c]++; total++ }
  END {
    for (c in count) printf "%-12s %8d %8.2f\n", c, count[c], count[c] / n
    printf "%-12s %8d %8.2f\n", "TOTAL", total, total / n
  }' "$monitor" | sort -k2 -n -r
