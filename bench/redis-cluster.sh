#!/usr/bin/env bash
# A local Redis Cluster for benchmarks: 3 masters and 3 replicas (appendonly, as the standalone Redis of
# deploy/local-cluster.sh) on ports BASE … BASE+5, cluster bus ports BASE+100 … BASE+105.
#   bench/redis-cluster.sh start DIR [BASE]   prints the DIM_REDIS_URL naming every node
#   bench/redis-cluster.sh stop DIR [BASE]
# Pid files redis-node-N.pid go into DIR, so that bench/station-cpu.sh (CLUSTER_DIR=DIR) counts the nodes' CPU.
set -euo pipefail
cmd=${1:-}
dir=${2:?usage: $0 start|stop DIR [BASE]}
base=${3:-19410}
ports=()
for i in 0 1 2 3 4 5; do ports+=($((base + i))); done
case "$cmd" in
start)
  mkdir -p "$dir"
  for i in 0 1 2 3 4 5; do
    port=${ports[$i]}
    mkdir -p "$dir/redis-node-$i"
    redis-server --port "$port" --bind 127.0.0.1 --cluster-enabled yes --cluster-port $((base + 100 + i)) \
      --cluster-config-file nodes.conf --cluster-node-timeout 5000 --appendonly yes --dir "$dir/redis-node-$i" \
      --daemonize yes --pidfile "$dir/redis-node-$i.pid" --logfile "$dir/redis-node-$i.log"
  done
  for port in "${ports[@]}"; do
    until redis-cli -p "$port" ping >/dev/null 2>&1; do sleep 0.1; done
  done
  addresses=()
  for port in "${ports[@]}"; do addresses+=("127.0.0.1:$port"); done
  redis-cli --cluster create "${addresses[@]}" --cluster-replicas 1 --cluster-yes >"$dir/create.log" 2>&1
  for _ in $(seq 300); do
    ok=1
    for port in "${ports[@]}"; do
      redis-cli -p "$port" cluster info 2>/dev/null | grep -q 'cluster_state:ok' || ok=0
    done
    [ "$ok" = 1 ] && break
    sleep 0.1
  done
  [ "$ok" = 1 ] || { echo "the cluster did not come up; see $dir" >&2; exit 1; }
  url=""
  for port in "${ports[@]}"; do url="${url:+$url,}redis://127.0.0.1:$port"; done
  echo "$url"
  ;;
stop)
  for port in "${ports[@]}"; do redis-cli -p "$port" shutdown nosave >/dev/null 2>&1 || true; done
  rm -f "$dir"/redis-node-*.pid
  ;;
*)
  echo "usage: $0 start|stop DIR [BASE]" >&2
  exit 2
  ;;
esac
