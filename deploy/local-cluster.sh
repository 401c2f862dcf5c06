#!/usr/bin/env bash
# The docker-compose topology as plain processes on this machine:
#   HAProxy :${DIM_CLUSTER_PORT:-9394} (PROXY v2) → gateways :${GATEWAY1_PORT:-9401} and :${GATEWAY2_PORT:-9402}
#   → Redis :${REDIS_PORT:-6390}
#   + one dispatcher + one storage worker.
# Every process runs an ops server (metrics, /healthz, /readyz, dashboard, admin API with DIM_OPS_TOKEN);
# HAProxy checks the gateways' /readyz on :${GATEWAY1_OPS_PORT:-GW1+100} and :${GATEWAY2_OPS_PORT:-GW2+100};
# the dispatcher's and storage worker's ops ports are free ones (see their logs, or `dimctl status`).
# Usage: deploy/local-cluster.sh start|stop|status   (state and logs in ${CLUSTER_DIR:-./data/cluster})
# Variants (bench/RESULTS.md's scaling table): GATEWAYS=1 (HAProxy in front of gateway-1 only; default 2),
# DISPATCHERS=N (dispatcher-1 … dispatcher-N share the inbound streams' consumer group; default 1), and
# DIM_REDIS_URL set (e.g. the nodes of a Redis Cluster, bench/redis-cluster.sh): no redis-server is started
# or stopped here, every process uses that URL. GATEWAY_ROLES="gateway dispatcher" with DISPATCHERS=0 runs
# the dispatcher inside each gateway process (co-located; the messages still travel through Redis).
set -euo pipefail
cd "$(dirname "$0")/.."
DIR=${CLUSTER_DIR:-$PWD/data/cluster}
PORT=${DIM_CLUSTER_PORT:-9394}
REDIS_PORT=${REDIS_PORT:-6390}
GW1=${GATEWAY1_PORT:-9401}
GW2=${GATEWAY2_PORT:-9402}
GW1_OPS=${GATEWAY1_OPS_PORT:-$((GW1 + 100))}
GW2_OPS=${GATEWAY2_OPS_PORT:-$((GW2 + 100))}
NODE=${NODE:-$PWD/node_modules/.bin/node}
GATEWAYS=${GATEWAYS:-2}
DISPATCHERS=${DISPATCHERS:-1}
case "$GATEWAYS" in 1 | 2) ;; *) echo "GATEWAYS must be 1 or 2" >&2; exit 2 ;; esac
REDIS_URL=${DIM_REDIS_URL:-redis://127.0.0.1:$REDIS_PORT}
names=(gateway-1)
[ "$GATEWAYS" = 2 ] && names+=(gateway-2)
for i in $(seq 1 "$DISPATCHERS"); do names+=("dispatcher-$i"); done
names+=(storage-1)
mkdir -p "$DIR/logs" "$DIR/redis"

GATEWAY_ROLES=${GATEWAY_ROLES:-gateway}
start_role() { # name "role [role…]" [extra env...]
  local name=$1 roles=$2
  shift 2
  # shellcheck disable=SC2086 # roles is a list
  env DIM_REDIS_URL="$REDIS_URL" DIM_KEY_FILE="$DIR/station.json" DIM_INSTANCE_NAME="$name" \
    DIM_PUBLIC_HOST=127.0.0.1 DIM_PUBLIC_PORT="$PORT" "$@" \
    "$NODE" workers/station.ts $roles >>"$DIR/logs/$name.log" 2>&1 &
  echo $! >"$DIR/$name.pid"
}

case "${1:-}" in
start)
  command -v redis-server >/dev/null || { echo "redis-server is required" >&2; exit 1; }
  command -v haproxy >/dev/null || { echo "haproxy is required (apt-get install haproxy)" >&2; exit 1; }
  if [ -z "${DIM_REDIS_URL:-}" ]; then
    redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --dir "$DIR/redis" --appendonly yes --daemonize yes \
      --pidfile "$DIR/redis.pid" --logfile "$DIR/logs/redis.log"
    until redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1; do sleep 0.1; done
  fi
  # Create the identity once, so that concurrent first starts cannot race.
  [ -f "$DIR/station.json" ] || "$NODE" workers/identity.ts create --out "$DIR/station.json" --host 127.0.0.1 --port "$PORT"
  for i in $(seq 1 "$DISPATCHERS"); do start_role "dispatcher-$i" dispatcher DIM_OPS_PORT=0; done
  start_role storage-1 storage DIM_OPS_PORT=0
  start_role gateway-1 "$GATEWAY_ROLES" DIM_HOST=127.0.0.1 DIM_PORT="$GW1" DIM_PROXY_PROTOCOL=required DIM_OPS_PORT="$GW1_OPS"
  [ "$GATEWAYS" = 2 ] &&
    start_role gateway-2 "$GATEWAY_ROLES" DIM_HOST=127.0.0.1 DIM_PORT="$GW2" DIM_PROXY_PROTOCOL=required DIM_OPS_PORT="$GW2_OPS"
  # Up means the gateways accept connections and say they are ready, and HAProxy in front of them: HAProxy
  # starts only once both gateways' /readyz answer 200, so its first checks pass and it never marks them down.
  deadline=$((SECONDS + ${START_TIMEOUT:-90}))
  alive_or_die() {
    for name in "${names[@]}"; do
      kill -0 "$(cat "$DIR/$name.pid")" 2>/dev/null || { echo "$name exited; see $DIR/logs/$name.log" >&2; exit 1; }
    done
    [ "$SECONDS" -lt "$deadline" ] || { echo "$1 after ${START_TIMEOUT:-90} s; see $DIR/logs" >&2; exit 1; }
    sleep 0.2
  }
  ready() { # ops port: GET /readyz answers 200
    local status
    exec 3<>"/dev/tcp/127.0.0.1/$1" || return 1
    printf 'GET /readyz HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n' >&3
    read -r _ status _ <&3 || status=
    exec 3<&- 3>&-
    [ "$status" = 200 ]
  }
  gateway_ports=("$GW1")
  gateway_ops=("$GW1_OPS")
  [ "$GATEWAYS" = 2 ] && gateway_ports+=("$GW2") && gateway_ops+=("$GW2_OPS")
  for port in "${gateway_ports[@]}"; do
    until (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; do alive_or_die "nothing listens on 127.0.0.1:$port"; done
  done
  for ops in "${gateway_ops[@]}"; do
    until ready "$ops" 2>/dev/null; do alive_or_die "the gateway with ops port $ops is not ready"; done
  done
  sed -e "s/maxconn 200000/maxconn ${HAPROXY_MAXCONN:-8000}/" -e "s/bind :9394/bind 127.0.0.1:$PORT/" \
    -e "s/gateway-1:9394 check port 9395/127.0.0.1:$GW1 check port $GW1_OPS/" \
    -e "s/gateway-2:9394 check port 9395/127.0.0.1:$GW2 check port $GW2_OPS/" \
    deploy/haproxy.cfg >"$DIR/haproxy.cfg"
  # one gateway: its second server line goes
  [ "$GATEWAYS" = 1 ] && sed -i "/127.0.0.1:$GW2 check/d" "$DIR/haproxy.cfg"
  haproxy -D -f "$DIR/haproxy.cfg" -p "$DIR/haproxy.pid"
  until (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; do alive_or_die "HAProxy does not listen on 127.0.0.1:$PORT"; done
  echo "cluster up: clients connect to 127.0.0.1:$PORT; logs in $DIR/logs"
  ;;
stop)
  # SIGTERM: each process drains (gateways close their clients over DIM_DRAIN_WINDOW_MS); wait for them.
  pids=()
  for f in "$DIR"/haproxy.pid "$DIR"/gateway-*.pid "$DIR"/dispatcher-*.pid "$DIR"/storage-*.pid; do
    name=$(basename "$f" .pid)
    if [ -f "$DIR/$name.pid" ]; then
      pid=$(cat "$DIR/$name.pid")
      kill -TERM "$pid" 2>/dev/null && pids+=("$pid")
      rm -f "$DIR/$name.pid"
    fi
  done
  for _ in $(seq 1 600); do
    alive=0
    for pid in "${pids[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
    [ "$alive" = 0 ] && break
    sleep 0.1
  done
  [ -n "${DIM_REDIS_URL:-}" ] || redis-cli -p "$REDIS_PORT" shutdown >/dev/null 2>&1 || true
  echo "cluster stopped"
  ;;
status)
  for name in haproxy "${names[@]}"; do
    if [ -f "$DIR/$name.pid" ] && kill -0 $(cat "$DIR/$name.pid") 2>/dev/null; then echo "$name up"; else echo "$name down"; fi
  done
  if [ -z "${DIM_REDIS_URL:-}" ]; then redis-cli -p "$REDIS_PORT" ping 2>/dev/null || echo "redis down"; fi
  ;;
*)
  echo "usage: $0 start|stop|status" >&2
  exit 2
  ;;
esac
