#!/usr/bin/env bash
# Many idle connections held for real on one gateway process (the embedded station): every connection
# handshaken, logged in and PINGing, held for HOLD_SECONDS once all are set up; meanwhile two other users
# relay messages and their delivery latency is measured. Prints the station's RSS per connection.
#   sudo bench/idle-connections.sh [CONNECTIONS] [PROCS]     (default 100000 over 5 generator processes)
# Needs root for the limits it raises (see README, "Many connections on one gateway"): the file-descriptor
# limit of this shell (inherited by the station and the generators), the ephemeral port range and the
# accept backlog. The generator connects from many loopback source addresses (127.0.x.y): each address
# gives at most one connection per source port to the station's port, and the station allows
# DIM_MAX_CONNECTIONS_PER_IP connections per address.
# Environment: STATION_NODE_OPTIONS (e.g. --max-semi-space-size=2), DIM_PORT (default 19700), HOLD_SECONDS
# (default 130), PER_ADDRESS (connections per source address, default 250), OUT_DIR (kept; default a
# temporary directory), SETUP_BUDGET_SECONDS (how long the set-up may take before the hold must start).
set -euo pipefail
cd "$(dirname "$0")/.."
connections=${1:-100000}
procs=${2:-5}
NODE=${NODE:-$PWD/node_modules/.bin/node}
port=${DIM_PORT:-19700}
hold=${HOLD_SECONDS:-130}
per_address=${PER_ADDRESS:-250}
budget=${SETUP_BUDGET_SECONDS:-1500}
out=${OUT_DIR:-$(mktemp -d /tmp/dim-idle.XXXXXX)}
mkdir -p "$out"

# ---- limits (root) ----------------------------------------------------------------------------------
# the station holds one descriptor per connection plus a few hundred of its own (Redis, logs, ops server)
need_fds=$((connections + 1000))
if [ "$(ulimit -Hn)" != unlimited ] && [ "$(ulimit -Hn)" -lt "$need_fds" ]; then
  ulimit -Hn "$need_fds" || {
    echo "cannot raise the hard file-descriptor limit from $(ulimit -Hn) to $need_fds: run as root, outside a" \
      "container that caps RLIMIT_NOFILE (at most $(($(ulimit -Hn) - 1000)) connections fit under this one)" >&2
    exit 1
  }
fi
ulimit -n "$need_fds"
sysctl -q -w net.ipv4.ip_local_port_range="1024 65000" || echo "warning: ip_local_port_range unchanged" >&2
sysctl -q -w net.core.somaxconn=65535 || true
sysctl -q -w net.ipv4.tcp_max_syn_backlog=65535 || true
if [ "$(cat /proc/sys/fs/file-max)" -lt $((need_fds * 2)) ]; then sysctl -q -w fs.file-max=$((need_fds * 2)); fi
{
  echo "ulimit -n: $(ulimit -n)"
  for k in net.ipv4.ip_local_port_range net.core.somaxconn net.ipv4.tcp_max_syn_backlog fs.file-max fs.nr_open; do
    echo "$k = $(sysctl -n $k | tr '\t' ' ')"
  done
} | tee "$out/limits.txt"

# ---- station ----------------------------------------------------------------------------------------
# shellcheck disable=SC2086 # STATION_NODE_OPTIONS is a list of flags
DIM_PORT=$port DIM_KEY_FILE="$out/station.json" DIM_LOG_LEVEL=${DIM_LOG_LEVEL:-warn} \
  DIM_MAX_CONNECTIONS=$((connections + 1000)) DIM_MAX_CONNECTIONS_PER_IP=$((per_address + 10)) \
  DIM_IDLE_TIMEOUT_MS=${DIM_IDLE_TIMEOUT_MS:-600000} DIM_HANDSHAKE_TIMEOUT_MS=${DIM_HANDSHAKE_TIMEOUT_MS:-60000} \
  "$NODE" ${STATION_NODE_OPTIONS:-} workers/station.ts >"$out/station.log" 2>&1 &
station=$!
gens=()
cleanup() {
  for g in "${gens[@]}"; do kill -TERM "$g" 2>/dev/null || true; done
  kill -TERM "$station" 2>/dev/null || true
}
trap cleanup EXIT
for _ in $(seq 100); do
  (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
  sleep 0.2
done
sleep 3
rss() { awk '/^VmRSS/ { print $2 * 1024 }' "/proc/$station/status"; }
rss0=$(rss)
echo "station pid $station, RSS before $((rss0 / 1024)) KiB"

# ---- generators -------------------------------------------------------------------------------------
# Source addresses 127.0.x.y (x ≥ 1), PER_ADDRESS connections each, dealt out to the processes.
addresses=$(((connections + per_address - 1) / per_address))
per_proc=$(((connections + procs - 1) / procs))
until_ms=$(($(date +%s%3N) + budget * 1000 + hold * 1000))
t0=$(date +%s)
next=0
for p in $(seq 0 $((procs - 1))); do
  n=$((p == procs - 1 ? connections - per_proc * (procs - 1) : per_proc))
  binds=()
  for _ in $(seq $(((n + per_address - 1) / per_address))); do
    next=$((next + 1))
    binds+=(--bind "127.0.$((1 + next / 250)).$((1 + next % 250))")
  done
  "$NODE" --max-old-space-size=6144 bench/loadgen/cli.ts idle --target "127.0.0.1:$port" \
    --connections "$n" --pool 1000 --connect-concurrency 32 --handshake-timeout 60000 \
    --receipt-timeout 60000 --hold-until "$until_ms" --ready-file "$out/ready-$p.json" \
    --ping-interval 16 "${binds[@]}" --json --quiet >"$out/idle-$p.json" 2>"$out/idle-$p.log" &
  gens+=($!)
done
echo "$connections connections from $addresses source addresses in $procs processes; hold until $(date -d @$((until_ms / 1000)) +%T)"

# ---- wait for every process's set-up; sample the station's RSS as it goes ----------------------------
while :; do
  ready=$(find "$out" -name 'ready-*.json' | wc -l)
  open=$(find "/proc/$station/fd" -maxdepth 1 2>/dev/null | wc -l)
  echo "$(($(date +%s) - t0)) s: station fds $open, RSS $(($(rss) / 1048576)) MiB, $ready/$procs processes set up" >>"$out/progress.log"
  [ "$ready" -ge "$procs" ] && break
  for p in "${!gens[@]}"; do
    if ! kill -0 "${gens[$p]}" 2>/dev/null && [ ! -e "$out/ready-$p.json" ]; then
      echo "generator process $p ended before its set-up (see $out/idle-$p.log)" >&2
      exit 1
    fi
  done
  sleep 5
done
setup_s=$(($(date +%s) - t0))
sleep 5
rss1=$(rss)
connected=$("$NODE" -e 'let c=0;for(const f of process.argv.slice(1))c+=JSON.parse(require("fs").readFileSync(f,"utf8")).connected;console.log(c)' "$out"/ready-*.json)
hold_left=$(((until_ms - $(date +%s%3N)) / 1000))
echo "set up in $setup_s s: $connected connected; station RSS $((rss1 / 1048576)) MiB → $(((rss1 - rss0) / connected)) B per connection; holding for $hold_left s more"
if [ "$hold_left" -lt 120 ]; then echo "warning: less than 120 s of hold left (raise SETUP_BUDGET_SECONDS)" >&2; fi

# ---- two other users relay while the idle connections sit ----------------------------------------------
sleep 10
"$NODE" bench/loadgen/cli.ts relay --target "127.0.0.1:$port" --bind 127.0.0.250 --pairs 1 --rate 10 \
  --duration 60 --json --quiet >"$out/relay.json" 2>"$out/relay.log" || echo "relay probe failed" >&2
"$NODE" -e 'const r=JSON.parse(require("fs").readFileSync(process.argv[1],"utf8"));for(const p of r.result.phases){const l=p.latencyMs.delivery;console.log(`relay between two other users: ${p.counts.delivered}/${p.counts.sent} delivered, lost ${p.counts.lost}; delivery p50 ${l.p50} ms p99 ${l.p99} ms max ${l.max} ms`)}' "$out/relay.json" || true

# ---- end of the hold ------------------------------------------------------------------------------
for g in "${gens[@]}"; do wait "$g" || echo "generator $g exited with $?" >&2; done
gens=()
rss2=$(rss)
"$NODE" -e '
const fs=require("fs");let open=0,ok=0,failed={},closed={},hold=[],rtt=[];
for(const f of process.argv.slice(1)){const r=JSON.parse(fs.readFileSync(f,"utf8")).result;open+=r.openAtEnd;ok+=r.pings.ok;
for(const [k,v] of Object.entries(r.pings.failed))failed[k]=(failed[k]??0)+v;for(const [k,v] of Object.entries(r.connectionsClosed))closed[k]=(closed[k]??0)+v;
hold.push(r.holdSeconds);rtt.push(r.pingRttMs.p99)}
console.log(`open at the end ${open}; pings ok ${ok}, failed ${JSON.stringify(failed)}; closed by the station ${JSON.stringify(closed)}; hold ${Math.min(...hold)}–${Math.max(...hold)} s; ping RTT p99 per process ${rtt.join(", ")} ms`)' "$out"/idle-*.json
echo "station RSS at the end $((rss2 / 1048576)) MiB ($(((rss2 - rss0) / connected)) B per connection); files in $out"
