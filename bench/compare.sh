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

# The cluster start/stop and report functions, beside this script.
# shellcheck source=bench/compare_systems.sh
source "$ROOT/bench/compare_systems.sh"
# shellcheck source=bench/compare_report.sh
source "$ROOT/bench/compare_report.sh"

# ------------------------------------------------------------ processes ----
WORK=$(mktemp -d /tmp/synod-compare.XXXXXX)
declare -a CLUSTER_PIDS=()  # the running cluster's server PIDs
declare -a ALL_PIDS=()      # every server PID this script started

cleanup() {
  local rc=$?
  if ((${#ALL_PIDS[@]})); then stop_pids "${ALL_PIDS[@]}"; fi
  if ((KEEP)); then log "kept $WORK"; else rm -rf "$WORK"; fi
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Where make_tls (compare_systems.sh) keeps the synod-tls certificates.
TLS_DIR="$WORK/tls"

# Ports (ports_at), by default (27000) away from deploy/cluster.sh's 7000s
# and the peers' defaults.
read -r -a SYNOD_CLIENT <<< "$(ports_at 1)"
read -r -a SYNOD_PEER <<< "$(ports_at 101)"
read -r -a ZK_CLIENT <<< "$(ports_at 181)"
read -r -a ZK_QUORUM <<< "$(ports_at 281)"
read -r -a ZK_ELECTION <<< "$(ports_at 381)"
read -r -a SYNOD_ZK <<< "$(ports_at 481)"  # synod-zk's --zk_addr
read -r -a ETCD_CLIENT <<< "$(ports_at 791)"
read -r -a ETCD_PEER <<< "$(ports_at 801)"

CLUSTER_DIR=""

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
SYNOD_REV=$(source_revision "$ROOT")
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
TABLE=$(report_table)

echo
echo "$TABLE"

((PUBLISH)) || exit 0
publish_results
