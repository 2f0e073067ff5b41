#!/usr/bin/env bash
# Synod, ZooKeeper and etcd side by side on this machine, measured by
# synod-bench in one run.
#
#   bench/compare.sh [--quick] [--repeats N] [--duration S] [--warmup S]
#                    [--systems "synod zookeeper etcd"] [--workloads "write_64 ..."]
#                    [--memory-nodes N] [--no-memory] [--build-dir DIR] [--synod-bin FILE]
#                    [--fanout-writes N] [--port-base P] [--keep] [--no-publish] [--no-readme]
#
# Systems: synod, zookeeper, etcd, and two variants for A/B runs: synod-tls
# (the same binary with TLS on the client port and mutual TLS on the peer
# port, certificates from a throw-away CA made with openssl; synod-bench
# verifies the replicas and presents a client certificate) and
# zookeeper-untuned (the setup before issue 23: libzookeeper's default
# re-resolution of its host list on every poll, and no -Xms), and synod-zk
# (Synod with --zk_addr on each replica, measured through its ZooKeeper port
# with synod-bench's ZooKeeper driver, tuned as for zookeeper). Workloads
# ending in _unary (write_64_unary, read_lin_64_unary) run Synod's unary
# calls instead of Tree.Pipeline, and those ending in _library go through
# the C++ client library (sessions and exactly-once writes on); both only
# run for the synod systems. With
# synod and synod-tls (or zookeeper-untuned and zookeeper) in one run, the
# report adds the ratio of each round's pair: the TLS cost (the ZooKeeper
# tuning's gain) measured side by side; synod-zk is paired with zookeeper
# and with synod.
#
# Progress: one line per run on stderr ([run k/N], elapsed, runs/min, time
# left); when stderr is a terminal, synod-bench's own lines too (done/total,
# rate and time left every 5 s, also during the memory load).
#
# Defaults: 5 rounds, 10 s measured after 2 s of warm-up per run, 200,000
# nodes for memory, 200 sets per watch_fanout run. --quick: 2 rounds, 3 s +
# 1 s, 50,000 nodes, 50 sets (explicit options still win). --port-base P:
# the clusters listen on P+1 .. P+803 (default 27000). --no-publish: print the table only (no results file,
# README untouched); --no-readme: write the results file but leave the
# README's table. --repeats 0: the memory measurement only. --keep: leave
# the temporary directory (logs, data).
#
# For each round (--repeats, default 5) it takes the systems in turn, in an
# order that rotates every round: starts that system's 3-replica cluster on
# 127.0.0.1 in a fresh temporary directory, preloads the same keys, runs every
# workload once, and stops the cluster. Then, once per system, a fresh
# cluster is loaded with --memory-nodes nodes of 256 B and its memory (RSS of
# the 3 replicas, summed) and disk (data directories) are measured.
#
# It prints one markdown table (median [min-max] per system, and Synod's
# ratio to each peer) and writes bench/results/<UTC date>.md with the
# machine description and every raw result line; the table also replaces the
# latest one in bench/README.md.
#
# Peers come from Debian (zookeeperd 3.8, etcd-server 3.4), installed here
# with apt-get if missing. Their packaged services are stopped: this script
# starts its own servers and stops every process it started, by PID, when it
# exits (even on error or Ctrl-C).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
# The command line as typed, arguments with spaces quoted: the results file
# shows a command to copy.
ORIG_ARGS=""
for orig_arg in "$@"; do
  [[ $orig_arg == *[[:space:]]* ]] && orig_arg="\"$orig_arg\""
  ORIG_ARGS+="$orig_arg "
done
BUILD_DIR=${SYNOD_BUILD_DIR:-$ROOT/build}
REPEATS=""
DURATION=""
WARMUP=""
MEMORY_NODES=""
FANOUT_WRITES=""
PORT_BASE=27000
SYNOD_SRC_BIN=""
DO_MEMORY=1
KEEP=0
PUBLISH=1
README_UPDATE=1
QUICK=0
SYSTEMS="synod zookeeper etcd"
KEYS=1000
VALUE_SIZE=256
ALL_WORKLOADS="write_1_leader write_1_follower write_64 read_lin_64 read_ser_64 mixed_64 create_64 watch_fanout session_churn"
# Known but not in the default set (see --workloads).
EXTRA_WORKLOADS="write_64_unary read_lin_64_unary write_64_library read_lin_64_library"
WORKLOADS=$ALL_WORKLOADS

die() { echo "compare.sh: $*" >&2; exit 1; }
log() { echo "[$(date -u +%H:%M:%S)] $*" >&2; }

while (($#)); do
  case "$1" in
    --quick) QUICK=1 ;;
    --repeats) REPEATS=$2; shift ;;
    --duration) DURATION=$2; shift ;;
    --warmup) WARMUP=$2; shift ;;
    --systems) SYSTEMS=$2; shift ;;
    --workloads) WORKLOADS=$2; shift ;;
    --memory-nodes) MEMORY_NODES=$2; shift ;;
    --fanout-writes) FANOUT_WRITES=$2; shift ;;
    --port-base) PORT_BASE=$2; shift ;;
    --no-memory) DO_MEMORY=0 ;;
    --build-dir) BUILD_DIR=$2; shift ;;
    --synod-bin) SYNOD_SRC_BIN=$2; shift ;;
    --keep) KEEP=1 ;;
    --no-publish) PUBLISH=0 ;;
    --no-readme) README_UPDATE=0 ;;
    -h | --help) sed -n '2,52p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown argument '$1' (see --help)" ;;
  esac
  shift
done
if ((QUICK)); then
  # A short run to see that everything works; figures are rough.
  : "${REPEATS:=2}" "${DURATION:=3}" "${WARMUP:=1}" "${MEMORY_NODES:=50000}" "${FANOUT_WRITES:=50}"
else
  : "${REPEATS:=5}" "${DURATION:=10}" "${WARMUP:=2}" "${MEMORY_NODES:=200000}" "${FANOUT_WRITES:=200}"
fi
[[ "$REPEATS" =~ ^[0-9]+$ ]] || die "--repeats must be a number (0: memory only)"
[[ "$PORT_BASE" =~ ^[0-9]+$ ]] && ((PORT_BASE >= 1024 && PORT_BASE <= 64000)) ||
  die "--port-base must be a number from 1024 to 64000"

BENCH_BIN="$BUILD_DIR/bench/synod_bench/synod-bench"
: "${SYNOD_SRC_BIN:=$BUILD_DIR/server/synod}"
[[ -x "$BENCH_BIN" ]] || die "$BENCH_BIN not found: build it (ninja -C $BUILD_DIR synod-bench)"
for s in $SYSTEMS; do
  case "$s" in
    synod | synod-tls | synod-zk | zookeeper | zookeeper-untuned | etcd) ;;
    *) die "unknown system '$s' (synod, synod-tls, synod-zk, zookeeper, zookeeper-untuned, etcd)" ;;
  esac
done
# The system whose server and client a variant runs.
base_system() { echo "${1%%-*}"; }
if [[ " $SYSTEMS " == *" synod"[\ -]* ]]; then
  [[ -x "$SYNOD_SRC_BIN" ]] || die "$SYNOD_SRC_BIN not found: build it (ninja -C $BUILD_DIR synod)"
fi

# ---------------------------------------------------------------- peers ----
install_peers() {
  local missing=0
  command -v etcd > /dev/null || missing=1
  [[ -f /usr/share/java/zookeeper.jar ]] || missing=1
  [[ -f /usr/include/zookeeper/zookeeper.h ]] || missing=1
  if ((missing)); then
    log "installing ZooKeeper and etcd from Debian"
    local sudo=""
    [[ $(id -u) -eq 0 ]] || sudo=sudo
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q \
      zookeeperd libzookeeper-mt-dev etcd-server etcd-client > /dev/null
  fi
  # The packages may start system services on the default ports; this
  # script runs its own servers, so those are stopped and kept from starting.
  if command -v systemctl > /dev/null && [[ -d /run/systemd/system ]]; then
    local unit
    for unit in zookeeper etcd; do
      if systemctl is-active --quiet "$unit" 2> /dev/null; then
        log "stopping the packaged $unit service"
        systemctl stop "$unit" || true
        systemctl disable "$unit" > /dev/null 2>&1 || true
      fi
    done
  fi
}

# ------------------------------------------------------------ processes ----
WORK=$(mktemp -d /tmp/synod-compare.XXXXXX)
declare -a CLUSTER_PIDS=()  # the running cluster's server PIDs
declare -a ALL_PIDS=()      # every server PID this script started

stop_pids() {  # TERM, wait up to 15 s, then KILL; only PIDs we started
  local pid deadline
  for pid in "$@"; do kill -TERM "$pid" 2> /dev/null || true; done
  deadline=$((SECONDS + 15))
  for pid in "$@"; do
    while kill -0 "$pid" 2> /dev/null && ((SECONDS < deadline)); do sleep 0.1; done
    if kill -0 "$pid" 2> /dev/null; then
      log "pid $pid ignored SIGTERM; sending SIGKILL"
      kill -KILL "$pid" 2> /dev/null || true
    fi
    wait "$pid" 2> /dev/null || true
  done
}

cleanup() {
  local rc=$?
  if ((${#ALL_PIDS[@]})); then stop_pids "${ALL_PIDS[@]}"; fi
  if ((KEEP)); then log "kept $WORK"; else rm -rf "$WORK"; fi
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

port_open() { (exec 3<> "/dev/tcp/127.0.0.1/$1") 2> /dev/null; }

# A throw-away CA and one certificate for 127.0.0.1 (server and client
# use), as deploy/cluster.sh start --tls makes them: synod-tls replicas
# serve and dial with it, synod-bench presents it as its client certificate.
TLS_DIR="$WORK/tls"
make_tls() {
  [[ -f "$TLS_DIR/node.crt" ]] && return 0
  command -v openssl > /dev/null || die "synod-tls needs the openssl tool (apt-get install openssl)"
  mkdir -p "$TLS_DIR"
  chmod 700 "$TLS_DIR"
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
    -subj "/CN=synod compare.sh CA" -keyout "$TLS_DIR/ca.key" -out "$TLS_DIR/ca.crt" \
    2> /dev/null || die "openssl could not make the CA"
  openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=bench" \
    -keyout "$TLS_DIR/node.key" -out "$TLS_DIR/node.csr" 2> /dev/null
  printf '%s\n' "subjectAltName=IP:127.0.0.1,DNS:localhost" \
    "extendedKeyUsage=serverAuth,clientAuth" "basicConstraints=CA:FALSE" > "$TLS_DIR/node.ext"
  openssl x509 -req -in "$TLS_DIR/node.csr" -CA "$TLS_DIR/ca.crt" -CAkey "$TLS_DIR/ca.key" \
    -CAcreateserial -days 2 -extfile "$TLS_DIR/node.ext" -out "$TLS_DIR/node.crt" 2> /dev/null ||
    die "openssl could not issue the certificate"
}

# Ports, by default (27000) away from deploy/cluster.sh's 7000s and the
# peers' defaults.
ports_at() { echo "$((PORT_BASE + $1)) $((PORT_BASE + $1 + 1)) $((PORT_BASE + $1 + 2))"; }
read -r -a SYNOD_CLIENT <<< "$(ports_at 1)"
read -r -a SYNOD_PEER <<< "$(ports_at 101)"
read -r -a ZK_CLIENT <<< "$(ports_at 181)"
read -r -a ZK_QUORUM <<< "$(ports_at 281)"
read -r -a ZK_ELECTION <<< "$(ports_at 381)"
read -r -a SYNOD_ZK <<< "$(ports_at 481)"  # synod-zk's --zk_addr
read -r -a ETCD_CLIENT <<< "$(ports_at 791)"
read -r -a ETCD_PEER <<< "$(ports_at 801)"

endpoints_of() {
  local -n ports=$1
  local out="" p
  for p in "${ports[@]}"; do out+="${out:+,}127.0.0.1:$p"; done
  echo "$out"
}

wait_ports() {  # wait_ports NAME PORT... : all accept within 60 s
  local name=$1 deadline=$((SECONDS + 60)) p up pid
  shift
  while :; do
    up=0
    for p in "$@"; do port_open "$p" && up=$((up + 1)); done
    ((up == $#)) && return 0
    for pid in "${CLUSTER_PIDS[@]}"; do
      kill -0 "$pid" 2> /dev/null || die "$name server pid $pid exited; logs in $CLUSTER_DIR"
    done
    ((SECONDS < deadline)) || die "$name ports $* not all open within 60 s; logs in $CLUSTER_DIR"
    sleep 0.2
  done
}

ensure_ports_free() {
  local p
  for p in "$@"; do
    port_open "$p" && die "port $p is already in use; stop whatever listens there"
  done
  return 0
}

CLUSTER_DIR=""
start_cluster() {  # start_cluster SYSTEM TAG: sets CLUSTER_PIDS, ENDPOINTS, DATA_DIRS
  local system=$1 tag=$2 i pid
  CLUSTER_DIR="$WORK/$tag-$system"
  mkdir -p "$CLUSTER_DIR"
  CLUSTER_PIDS=()
  DATA_DIRS=()
  case "$system" in
    synod | synod-tls | synod-zk)
      local tls=()
      if [[ $system == synod-tls ]]; then
        make_tls
        tls=(--tls_cert="$TLS_DIR/node.crt" --tls_key="$TLS_DIR/node.key"
          --tls_client_ca="$TLS_DIR/ca.crt" --tls_client_auth=request
          --peer_tls_cert="$TLS_DIR/node.crt" --peer_tls_key="$TLS_DIR/node.key"
          --peer_tls_ca="$TLS_DIR/ca.crt")
      fi
      ensure_ports_free "${SYNOD_CLIENT[@]}" "${SYNOD_PEER[@]}" "${SYNOD_ZK[@]}"
      local cluster=""
      for i in 1 2 3; do
        cluster+="${cluster:+,}$i=127.0.0.1:${SYNOD_PEER[i - 1]}/127.0.0.1:${SYNOD_CLIENT[i - 1]}"
      done
      for i in 1 2 3; do
        mkdir -p "$CLUSTER_DIR/$i"
        # synod-zk: the ZooKeeper port on, with no per-address connection
        # cap (as the ZooKeeper peer's maxClientCnxns=0).
        local zk=()
        [[ $system == synod-zk ]] && zk=(--zk_addr="127.0.0.1:${SYNOD_ZK[i - 1]}" --zk_max_client_cnxns=0)
        "$SYNOD_BIN" --id="$i" --data_dir="$CLUSTER_DIR/$i/data" --initial_cluster="$cluster" \
          "${tls[@]+"${tls[@]}"}" "${zk[@]+"${zk[@]}"}" > "$CLUSTER_DIR/$i/synod.log" 2>&1 < /dev/null &
        pid=$!
        CLUSTER_PIDS+=("$pid")
        ALL_PIDS+=("$pid")
        DATA_DIRS+=("$CLUSTER_DIR/$i/data")
      done
      ENDPOINTS=$(endpoints_of SYNOD_CLIENT)
      wait_ports synod "${SYNOD_CLIENT[@]}"
      if [[ $system == synod-zk ]]; then
        ENDPOINTS=$(endpoints_of SYNOD_ZK)
        wait_ports synod-zk "${SYNOD_ZK[@]}"
      fi
      ;;
    zookeeper | zookeeper-untuned)
      # The heap is fixed at 2 GiB (-Xms = -Xmx, as ZooKeeper's
      # administrator guide advises: no heap growth, resizing pauses or
      # swapping while serving); zookeeper-untuned only caps it.
      local heap=(-Xms2g -Xmx2g)
      [[ $system == zookeeper-untuned ]] && heap=(-Xmx2g)
      ensure_ports_free "${ZK_CLIENT[@]}" "${ZK_QUORUM[@]}" "${ZK_ELECTION[@]}"
      for i in 1 2 3; do
        local d="$CLUSTER_DIR/$i"
        mkdir -p "$d/data" "$d/conf"
        echo "$i" > "$d/data/myid"
        cat > "$d/conf/zoo.cfg" << EOF
tickTime=2000
initLimit=10
syncLimit=5
dataDir=$d/data
clientPort=${ZK_CLIENT[i - 1]}
clientPortAddress=127.0.0.1
forceSync=yes
maxClientCnxns=0
admin.enableServer=false
4lw.commands.whitelist=srvr,ruok
server.1=127.0.0.1:${ZK_QUORUM[0]}:${ZK_ELECTION[0]}
server.2=127.0.0.1:${ZK_QUORUM[1]}:${ZK_ELECTION[1]}
server.3=127.0.0.1:${ZK_QUORUM[2]}:${ZK_ELECTION[2]}
EOF
        # What zkServer.sh runs, minus the service wrapper.
        java "${heap[@]}" -Dzookeeper.log.dir="$d" -Dzookeeper.root.logger=INFO,CONSOLE \
          -cp "$d/conf:/usr/share/java/zookeeper.jar" \
          org.apache.zookeeper.server.quorum.QuorumPeerMain "$d/conf/zoo.cfg" \
          > "$d/zookeeper.log" 2>&1 < /dev/null &
        pid=$!
        CLUSTER_PIDS+=("$pid")
        ALL_PIDS+=("$pid")
        DATA_DIRS+=("$d/data")
      done
      ENDPOINTS=$(endpoints_of ZK_CLIENT)
      wait_ports zookeeper "${ZK_CLIENT[@]}"
      ;;
    etcd)
      ensure_ports_free "${ETCD_CLIENT[@]}" "${ETCD_PEER[@]}"
      local cluster=""
      for i in 1 2 3; do cluster+="${cluster:+,}e$i=http://127.0.0.1:${ETCD_PEER[i - 1]}"; done
      for i in 1 2 3; do
        local d="$CLUSTER_DIR/$i"
        mkdir -p "$d"
        etcd --name "e$i" --data-dir "$d/data" \
          --listen-client-urls "http://127.0.0.1:${ETCD_CLIENT[i - 1]}" \
          --advertise-client-urls "http://127.0.0.1:${ETCD_CLIENT[i - 1]}" \
          --listen-peer-urls "http://127.0.0.1:${ETCD_PEER[i - 1]}" \
          --initial-advertise-peer-urls "http://127.0.0.1:${ETCD_PEER[i - 1]}" \
          --initial-cluster "$cluster" --initial-cluster-state new \
          --initial-cluster-token synod-compare \
          > "$d/etcd.log" 2>&1 < /dev/null &
        pid=$!
        CLUSTER_PIDS+=("$pid")
        ALL_PIDS+=("$pid")
        DATA_DIRS+=("$d/data")
      done
      ENDPOINTS=$(endpoints_of ETCD_CLIENT)
      wait_ports etcd "${ETCD_CLIENT[@]}"
      ;;
    *) die "unknown system $system" ;;
  esac
  SERVER_PIDS=$(IFS=,; echo "${CLUSTER_PIDS[*]}")
}

stop_cluster() {
  stop_pids "${CLUSTER_PIDS[@]}"
  local keep=() pid c
  for pid in "${ALL_PIDS[@]}"; do
    c=0
    for s in "${CLUSTER_PIDS[@]}"; do [[ $pid == "$s" ]] && c=1; done
    ((c)) || keep+=("$pid")
  done
  ALL_PIDS=("${keep[@]+"${keep[@]}"}")
  CLUSTER_PIDS=()
  ((KEEP)) || rm -rf "$CLUSTER_DIR"
}

# -------------------------------------------------------------- running ----
RAW="$WORK/raw.jsonl"
: > "$RAW"

workload_args() {
  case "$1" in
    write_1_leader) echo "--workload=write --clients=1 --inflight=1 --target=leader" ;;
    write_1_follower) echo "--workload=write --clients=1 --inflight=1 --target=follower" ;;
    write_64) echo "--workload=write --clients=16 --inflight=4 --target=all" ;;
    read_lin_64) echo "--workload=read_linearizable --clients=16 --inflight=4 --target=all" ;;
    write_64_unary) echo "--workload=write --clients=16 --inflight=4 --target=all --synod_api=unary" ;;
    read_lin_64_unary)
      echo "--workload=read_linearizable --clients=16 --inflight=4 --target=all --synod_api=unary"
      ;;
    write_64_library)
      echo "--workload=write --clients=16 --inflight=4 --target=all --synod_api=library"
      ;;
    read_lin_64_library)
      echo "--workload=read_linearizable --clients=16 --inflight=4 --target=all --synod_api=library"
      ;;
    read_ser_64) echo "--workload=read_serializable --clients=16 --inflight=4 --target=all" ;;
    mixed_64) echo "--workload=mixed --clients=16 --inflight=4 --target=all" ;;
    create_64) echo "--workload=create --clients=16 --inflight=4 --target=all" ;;
    # 1,000 watchers of one node over 16 connections (Watch streams, ZooKeeper
    # sessions) on all replicas; the writer is on the leader. Counted: the
    # duration flags do not apply.
    watch_fanout)
      echo "--workload=watch_fanout --watchers=1000 --clients=16 --count=$FANOUT_WRITES --target=all"
      ;;
    session_churn) echo "--workload=session_churn --clients=8 --inflight=1 --target=all" ;;
    *) die "unknown workload $1 (known: $ALL_WORKLOADS $EXTRA_WORKLOADS)" ;;
  esac
}

# synod-bench's flags for a system (variants included): which client, TLS,
# the ZooKeeper client's resolution window.
system_args() {
  case "$1" in
    synod-tls) echo "--system=synod --tls_ca=$TLS_DIR/ca.crt --tls_cert=$TLS_DIR/node.crt --tls_key=$TLS_DIR/node.key" ;;
    zookeeper-untuned) echo "--system=zookeeper --zk_resolution_delay_ms=0" ;;
    synod-zk) echo "--system=zookeeper" ;;  # the same client, window and all, as zookeeper
    *) echo "--system=$(base_system "$1")" ;;
  esac
}

# synod-bench's progress: every few seconds on a terminal (its stderr then
# goes to the terminal and to $WORK/bench.err), else one line per phase
# into $WORK/bench.err only.
run_bench() {  # run_bench ARGS...: synod-bench's stdout; stderr as above
  if [[ -t 2 ]]; then
    "$BENCH_BIN" --progress=lines "$@" 2> >(tee "$WORK/bench.err" >&2)
  else
    "$BENCH_BIN" --progress=phases "$@" 2> "$WORK/bench.err"
  fi
}

# Runs done and to do, for the [run k/N] lines.
RUNS_DONE=0
RUNS_TOTAL=0
RUNS_STARTED=$SECONDS
run_progress() {  # run_progress WHAT: "[run k/N, elapsed, rate, ~left] WHAT" to stderr
  local elapsed=$((SECONDS - RUNS_STARTED)) rate="" left="time left ?"
  if ((RUNS_DONE > 0 && elapsed > 0)); then
    rate=", $(awk -v n="$RUNS_DONE" -v s="$elapsed" 'BEGIN { printf "%.1f", n * 60 / s }') runs/min"
    left="~$(((RUNS_TOTAL - RUNS_DONE) * elapsed / RUNS_DONE / 60)) min left"
  fi
  log "[run $((RUNS_DONE + 1))/$RUNS_TOTAL, $((elapsed / 60)) min elapsed$rate, $left] $*"
}

# Whether workload $2 runs on system $1: unary rows are Synod's gRPC only,
# library rows plaintext Synod's only (the library driver takes no TLS).
applies() {
  [[ $2 != *_unary && $2 != *_library ]] || [[ $1 == synod ]] ||
    [[ $1 == synod-tls && $2 == *_unary ]]
}

# bench SYSTEM LABEL ROUND ARGS...: one synod-bench run, its JSON line (plus
# round and load average) appended to $RAW. A failed run is recorded too.
bench() {
  local system=$1 label=$2 round=$3 out load
  shift 3
  load=$(cut -d' ' -f1-3 /proc/loadavg)
  run_progress "round $round: $system $label"
  # shellcheck disable=SC2046
  if out=$(run_bench --json $(system_args "$system") --endpoints="$ENDPOINTS" \
    --server_pids="$SERVER_PIDS" --label="$label" --keys="$KEYS" --value_size="$VALUE_SIZE" \
    "$@"); then
    :
  else
    log "$system $label failed: $(tail -n 3 "$WORK/bench.err" | tr '\n' ' ')"
    [[ -n "$out" ]] || out="{\"label\":\"$label\",\"system\":\"$system\",\"ok\":0,\"errors\":-1,\"failed\":true}"
  fi
  out="${out%\}},\"variant\":\"$system\",\"round\":$round"
  echo "$out,\"loadavg_before\":\"$load\"}" >> "$RAW"
  echo "$out}"
}

# Keys for the workloads: preloaded through a tool run, retried while the
# new cluster elects its first leader.
preload() {
  local system=$1 keys=$2 tries=0
  # shellcheck disable=SC2046
  until "$BENCH_BIN" $(system_args "$system") --endpoints="$ENDPOINTS" --workload=preload \
    --keys="$keys" --value_size="$VALUE_SIZE" --clients=8 --inflight=16 --target=leader \
    > "$WORK/preload.out" 2>&1; do
    tries=$((tries + 1))
    ((tries < 30)) || die "preload on $system failed: $(tail -n 3 "$WORK/preload.out")"
    sleep 1
  done
}

run_round() {
  local round=$1 system=$2 w
  start_cluster "$system" "r$round"
  log "round $round: $system up (pids $SERVER_PIDS)"
  preload "$system" "$KEYS"
  for w in $WORKLOADS; do
    applies "$system" "$w" || continue
    # shellcheck disable=SC2046
    bench "$system" "$w" "$round" $(workload_args "$w") --duration_s="$DURATION" \
      --warmup_s="$WARMUP" | summarize_line
    RUNS_DONE=$((RUNS_DONE + 1))  # here: bench runs in the pipeline's subshell
  done
  stop_cluster
}

run_memory() {
  local system=$1 load du_bytes out
  start_cluster "$system" "mem"
  log "memory: $system up (pids $SERVER_PIDS), loading $MEMORY_NODES nodes of $VALUE_SIZE B"
  preload "$system" 1
  load=$(cut -d' ' -f1-3 /proc/loadavg)
  run_progress "memory: $system, $MEMORY_NODES nodes"
  # shellcheck disable=SC2046
  out=$(run_bench --json $(system_args "$system") --endpoints="$ENDPOINTS" \
    --server_pids="$SERVER_PIDS" --label="memory_nodes" --workload=preload \
    --keys="$MEMORY_NODES" --value_size="$VALUE_SIZE" --clients=8 --inflight=16 --target=leader) ||
    log "memory load on $system: $(tail -n 3 "$WORK/bench.err")"
  [[ -n "$out" ]] || out="{\"label\":\"memory_nodes\",\"system\":\"$system\",\"ok\":0,\"failed\":true}"
  # Let each server settle (flushes, GC) before RSS and disk are read.
  sleep 5
  local rss=0 pid kb per_rss="" per_disk
  for pid in "${CLUSTER_PIDS[@]}"; do
    kb=$(awk '/^VmRSS:/ {print $2}' "/proc/$pid/status" 2> /dev/null || echo 0)
    rss=$((rss + ${kb:-0} * 1024))
    per_rss+="${per_rss:+,}$((${kb:-0} * 1024))"
  done
  du_bytes=$(du -sb "${DATA_DIRS[@]}" | awk '{s += $1} END {print s}')
  per_disk=$(du -sb "${DATA_DIRS[@]}" | awk '{printf "%s%s", (NR > 1 ? "," : ""), $1}')
  out="${out%\}},\"variant\":\"$system\",\"round\":0,\"settled_rss_bytes\":$rss,\"disk_bytes\":$du_bytes,\"rss_per_replica\":[$per_rss],\"disk_per_replica\":[$per_disk],\"memory_nodes\":$MEMORY_NODES,\"loadavg_before\":\"$load\"}"
  echo "$out" >> "$RAW"
  echo "$out" | summarize_line
  RUNS_DONE=$((RUNS_DONE + 1))
  stop_cluster
}

summarize_line() {  # one short human line per JSON result, to stderr
  python3 -c '
import json, sys
for line in sys.stdin:
    r = json.loads(line)
    if r.get("failed"):
        print("  %-10s %-17s FAILED" % (r.get("variant") or r["system"], r["label"]), file=sys.stderr); continue
    extra = ""
    if "expected_events" in r:
        extra = "  events %d/%d, lost watchers %d" % (r["received_events"], r["expected_events"], r["lost_watchers"])
    if "ephemerals_left" in r:
        extra = "  ephemerals left %d" % r["ephemerals_left"]
    if "settled_rss_bytes" in r:
        extra = "  rss %.0f MiB  disk %.0f MiB" % (r["settled_rss_bytes"] / 2**20, r["disk_bytes"] / 2**20)
    rate = {"watch_fanout": "ev/s", "session_churn": "ses/s"}.get(r["label"], "ops/s")
    print("  %-10s %-17s %9.0f %-5s  p50 %7.3f ms  p99 %7.3f ms  cpu %6.0f us/op  err %d%s" % (
        r.get("variant") or r["system"], r["label"], r["ops_per_s"], rate, r["p50_ms"], r["p99_ms"],
        r["server_cpu_us_per_op"], r["errors"], extra), file=sys.stderr)
'
}

# ------------------------------------------------------------ the run ----
install_peers
# The measured binary is a copy: a rebuild during the run changes nothing.
if [[ " $SYSTEMS " == *" synod"[\ -]* ]]; then
  SYNOD_BIN="$WORK/synod"
  cp "$SYNOD_SRC_BIN" "$SYNOD_BIN"
fi

STARTED=$(date -u +%Y-%m-%dT%H:%M:%SZ)
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
# The source revision as the run starts (the tree may change while it runs).
SYNOD_REV="$(git -C "$ROOT" rev-parse --short HEAD 2> /dev/null || echo '?') (working tree $( [[ -n "$(git -C "$ROOT" status --porcelain -- server storage raft 2> /dev/null)" ]] && echo 'with uncommitted server/storage/raft changes' || echo clean) at the start)"
log "work dir $WORK; $REPEATS rounds x [$SYSTEMS] x [$WORKLOADS], ${DURATION}s each (+${WARMUP}s warm-up; watch_fanout: $FANOUT_WRITES sets), ports from $PORT_BASE"
read -r -a SYS_ARR <<< "$SYSTEMS"
for s in "${SYS_ARR[@]}"; do
  for w in $WORKLOADS; do
    workload_args "$w" > /dev/null
    if applies "$s" "$w"; then RUNS_TOTAL=$((RUNS_TOTAL + REPEATS)); fi
  done
done
((DO_MEMORY)) && RUNS_TOTAL=$((RUNS_TOTAL + ${#SYS_ARR[@]}))
RUNS_STARTED=$SECONDS
for ((round = 1; round <= REPEATS; round++)); do
  # Rotate the order each round so no system always runs first or last.
  n=${#SYS_ARR[@]}
  for ((k = 0; k < n; k++)); do
    run_round "$round" "${SYS_ARR[(k + round - 1) % n]}"
  done
done
if ((DO_MEMORY)); then
  for s in "${SYS_ARR[@]}"; do run_memory "$s"; done
fi
LOAD_END=$(cut -d' ' -f1-3 /proc/loadavg)

# ------------------------------------------------------------- report ----
machine() {
  echo "- CPU: $(lscpu | sed -n 's/^Model name: *//p' | head -1), $(nproc) cores online"
  echo "- RAM: $(free -g | awk '/^Mem:/ {print $2}') GiB"
  local dev
  dev=$(df --output=source "$WORK" | tail -1)
  local base=${dev#/dev/}
  base=${base%%[0-9]*}
  local rota
  rota=$(cat "/sys/block/$base/queue/rotational" 2> /dev/null || echo "?")
  local driver
  driver=$(basename "$(readlink -f "/sys/block/$base/device/driver" 2> /dev/null)" 2> /dev/null || echo "?")
  # A virtual disk reports what its driver says, not what backs it.
  echo "- Disk: $dev ($(df --output=fstype "$WORK" | tail -1)), driver $driver, kernel says rotational=$rota; all data dirs under $(dirname "$WORK")"
  echo "- Kernel: $(uname -sr)"
  echo "- Synod: $SYNOD_REV, binary $SYNOD_SRC_BIN built $(date -u -r "$SYNOD_SRC_BIN" +%Y-%m-%dT%H:%MZ 2> /dev/null || echo '?')"
  echo "- ZooKeeper: $(dpkg-query -W -f '${Version}' zookeeper 2> /dev/null), $(java -version 2>&1 | head -1), -Xms2g -Xmx2g (zookeeper-untuned: -Xmx2g), forceSync=yes; client: libzookeeper-mt $(dpkg-query -W -f '${Version}' libzookeeper-mt2 2> /dev/null), servers resolution delay 10 s (zookeeper-untuned: 0, the library default)"
  [[ " $SYSTEMS " == *" synod-zk "* ]] &&
    echo "- synod-zk: the Synod binary above with --zk_addr and --zk_max_client_cnxns=0; client: libzookeeper-mt as for ZooKeeper (resolution delay 10 s)"
  echo "- etcd: $(etcd --version 2> /dev/null | head -1 | sed 's/etcd Version: //') (default flags)"
  echo "- Load average (1/5/15 min) at start: $LOAD_START; at end: $LOAD_END" \
    "(it counts the run's own clusters and load generator; each raw result line has the load average before its run)"
}

TABLE=$(python3 - "$RAW" "$SYSTEMS" "$WORKLOADS" << 'PY'
import json, statistics, sys
raw, systems, workloads = sys.argv[1], sys.argv[2].split(), sys.argv[3].split()
rows = [json.loads(l) for l in open(raw) if l.strip()]
# A variant (synod-tls, zookeeper-untuned) runs as its system's client.
def sysof(r):
    return r.get("variant") or r.get("system")
def runs(label, system):
    return [r for r in rows if r.get("label") == label and sysof(r) == system]
def cell(vals):
    if not vals: return "–", None
    m = statistics.median(vals)
    fmt = (lambda v: "%.0f" % v) if m >= 100 else (lambda v: "%.2f" % v) if m >= 1 else (lambda v: "%.3f" % v)
    return "%s [%s–%s]" % (fmt(m), fmt(min(vals)), fmt(max(vals))), m
figures = [("ops/s", "ops_per_s", 1), ("p50 ms", "p50_ms", 1), ("p99 ms", "p99_ms", 1),
           ("p99.9 ms", "p999_ms", 1), ("server CPU µs/op", "server_cpu_us_per_op", 1)]
# What an "op" is where it is not one request: a delivered watch event, one
# open-create-close session cycle.
op_name = {"watch_fanout": "event", "session_churn": "session"}
peers = [s for s in systems if s != "synod"]
head = "| workload | figure | " + " | ".join(systems) + "".join(" | Synod ÷ %s" % p for p in peers if "synod" in systems) + " |"
print(head)
print("|" + "---|" * (head.count("|") - 1))
def emit(name, fig, values_by_sys, notes):
    cells, med = [], {}
    for s in systems:
        c, m = cell(values_by_sys.get(s, []))
        cells.append(c + notes.get(s, ""))
        med[s] = m
    ratios = []
    if "synod" in systems:
        for p in peers:
            a, b = med.get("synod"), med.get(p)
            ratios.append("%.2f×" % (a / b) if a is not None and b else "–")
    print("| %s | %s | %s |" % (name, fig, " | ".join(cells + ratios)))
for w in workloads:
    if not any(runs(w, s) for s in systems):
        continue  # not run (e.g. --repeats 0)
    for fig, key, _ in figures:
        unit = op_name.get(w)
        if unit:
            fig = fig.replace("ops/s", unit + "s/s").replace("µs/op", "µs/" + unit)
        vals, notes = {}, {}
        for s in systems:
            rs = runs(w, s)
            good = [r for r in rs if not r.get("failed") and r.get("ok", 0) > 0]
            vals[s] = [r[key] for r in good if r.get(key, -1) >= 0]
            errs = sum(max(0, r.get("errors", 0)) for r in good)
            failed = len(rs) - len(good)
            left = sum(max(0, r.get("ephemerals_left", 0)) for r in good)
            lost = sum(r.get("lost_watchers", 0) for r in good)
            if key == "ops_per_s" and (errs or failed or left or lost):
                notes[s] = " (%s)" % ", ".join(x for x in [
                    "%d errors" % errs if errs else "", "%d runs failed" % failed if failed else "",
                    "%d ephemerals left" % left if left else "",
                    "%d watchers lost" % lost if lost else ""] if x)
        emit(w, fig, vals, notes)
mem = {s: runs("memory_nodes", s) for s in systems}
if any(mem.values()):
    n = next((r.get("memory_nodes") for v in mem.values() for r in v), "?")
    for fig, key in [("RSS, 3 replicas, MiB", "settled_rss_bytes"), ("disk, 3 replicas, MiB", "disk_bytes")]:
        emit("memory %s × 256 B" % n, fig,
             {s: [r[key] / 2**20 for r in mem[s] if r.get(key)] for s in systems}, {})
    emit("memory %s × 256 B" % n, "load ops/s",
         {s: [r["ops_per_s"] for r in mem[s] if r.get("ops_per_s")] for s in systems}, {})
# Side-by-side pairs: the two runs of one workload in one round ran back to
# back (the order alternating by round), so their ratio cancels most of
# what the shared machine does to both.
pairs = [(a, b, what) for a, b, what in [
    ("synod", "synod-tls", "TLS on ÷ off"),
    ("zookeeper-untuned", "zookeeper", "tuned ÷ untuned"),
    ("zookeeper", "synod-zk", "Synod's ZooKeeper port ÷ ZooKeeper"),
    ("synod", "synod-zk", "Synod's ZooKeeper port ÷ its gRPC API")] if a in systems and b in systems]
for a, b, what in pairs:
    print()
    print("%s (%s ÷ %s), each round's pair; median [min–max] over the pairs:" % (what, b, a))
    print()
    print("| workload | pairs | ops/s ratio | per pair | server CPU µs/op ratio | p99 ratio |")
    print("|---|---|---|---|---|---|")
    for w in workloads:
        ra, rb = {}, {}
        for r in runs(w, a):
            if not r.get("failed") and r.get("ok", 0) > 0: ra[r["round"]] = r
        for r in runs(w, b):
            if not r.get("failed") and r.get("ok", 0) > 0: rb[r["round"]] = r
        common = sorted(set(ra) & set(rb))
        if not common:
            continue
        def ratios(key):
            return [rb[k][key] / ra[k][key] for k in common if ra[k].get(key, -1) > 0 and rb[k].get(key, -1) >= 0]
        def fmt(v):
            return "%.3f [%.3f–%.3f]" % (statistics.median(v), min(v), max(v)) if v else "–"
        ops = ratios("ops_per_s")
        print("| %s | %d | %s | %s | %s | %s |" % (
            w, len(common), fmt(ops), " ".join("%.3f" % x for x in ops),
            fmt(ratios("server_cpu_us_per_op")), fmt(ratios("p99_ms"))))
PY
)

echo
echo "$TABLE"

((PUBLISH)) || exit 0
STAMP=$(date -u +%Y-%m-%d-%H%M)
RESULT_FILE="$ROOT/bench/results/$STAMP.md"
mkdir -p "$ROOT/bench/results"
SETTINGS="$REPEATS rounds (systems alternating, order rotating), ${DURATION} s measured + ${WARMUP} s warm-up per run, $KEYS keys × $VALUE_SIZE B preloaded; watch_fanout: $FANOUT_WRITES sets; memory: $MEMORY_NODES nodes × $VALUE_SIZE B"
((QUICK)) && SETTINGS="--quick: $SETTINGS"
{
  echo "# Synod vs ZooKeeper vs etcd, $STARTED"
  echo
  echo "Run: \`bench/compare.sh ${ORIG_ARGS% }\`; $SETTINGS."
  echo
  echo "## Machine"
  echo
  machine
  echo
  echo "## Table"
  echo
  echo "Median [min–max] over the rounds. Synod ÷ peer: above 1 is better for ops/s;"
  echo "below 1 is better for latency, CPU, RSS and disk."
  echo
  echo "$TABLE"
  echo
  echo "## Raw results (synod-bench --json, one line per run)"
  echo
  echo '```'
  cat "$RAW"
  echo '```'
} > "$RESULT_FILE"
log "wrote $RESULT_FILE"

README="$ROOT/bench/README.md"
if ((README_UPDATE)) && [[ -f "$README" ]] && grep -q '<!-- latest-table:begin -->' "$README"; then
  python3 - "$README" "$RESULT_FILE" "$STARTED" "$SETTINGS" << 'PY'
import sys, re, os
readme, result, started, settings = sys.argv[1:]
text = open(readme).read()
body = open(result).read()
machine = body.split("## Machine\n\n", 1)[1].split("\n## ", 1)[0].strip()
table = body.split("## Table\n\n", 1)[1].split("\n## ", 1)[0].strip()
block = ("<!-- latest-table:begin -->\nFrom `bench/results/%s` (%s; %s).\n\n%s\n\n%s\n<!-- latest-table:end -->"
         % (os.path.basename(result), started, settings, machine, table))
text = re.sub(r"<!-- latest-table:begin -->.*?<!-- latest-table:end -->", lambda m: block, text, flags=re.S)
open(readme, "w").write(text)
PY
  log "updated the latest table in $README"
fi
