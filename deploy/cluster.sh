#!/usr/bin/env bash
# A local Synod cluster on 127.0.0.1, for trying Synod out and for demos.
#
#   deploy/cluster.sh start [N]   start N replicas (default 3; N is remembered)
#   deploy/cluster.sh stop        stop every replica this script started
#   deploy/cluster.sh status      which replicas run, their PIDs, ports, logs
#   deploy/cluster.sh restart     stop, then start again with the same N
#   deploy/cluster.sh wipe        stop, then delete the cluster's data
#
# Replica i listens for clients on 127.0.0.1:(7000+i) and for peers on
# 127.0.0.1:(7100+i). Everything lives under one directory (default
# ./.cluster): <dir>/<i>/data, <dir>/<i>/synod.log, <dir>/<i>/synod.pid.
# Only processes whose PIDs this script recorded are ever signalled.
#
# Environment: SYNOD_BUILD_DIR (default ./build; the binary is
# $SYNOD_BUILD_DIR/server/synod), SYNOD_CLUSTER_DIR (default ./.cluster),
# SYNOD_CLIENT_PORT_BASE (7000), SYNOD_PEER_PORT_BASE (7100),
# SYNOD_FLAGS (extra flags for every replica).
set -euo pipefail

cd "$(dirname "$0")/.."
BUILD_DIR=${SYNOD_BUILD_DIR:-build}
CLUSTER_DIR=${SYNOD_CLUSTER_DIR:-.cluster}
CLIENT_BASE=${SYNOD_CLIENT_PORT_BASE:-7000}
PEER_BASE=${SYNOD_PEER_PORT_BASE:-7100}
BINARY="$BUILD_DIR/server/synod"

die() { echo "cluster.sh: $*" >&2; exit 1; }

size() {
  if [[ -f "$CLUSTER_DIR/size" ]]; then cat "$CLUSTER_DIR/size"; else echo 0; fi
}

pid_of() {  # prints the recorded PID of replica $1 if that process is a live synod
  local f="$CLUSTER_DIR/$1/synod.pid"
  [[ -f "$f" ]] || return 1
  local pid
  pid=$(cat "$f")
  [[ -n "$pid" && -d "/proc/$pid" ]] || return 1
  # A recycled PID belongs to someone else: never signal it.
  tr '\0' ' ' < "/proc/$pid/cmdline" 2>/dev/null | grep -q -- "--id=$1 " || return 1
  echo "$pid"
}

port_open() {  # true if 127.0.0.1:$1 accepts TCP connections
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

initial_cluster() {
  local n=$1 out="" i
  for ((i = 1; i <= n; i++)); do
    out+="${out:+,}$i=127.0.0.1:$((PEER_BASE + i))/127.0.0.1:$((CLIENT_BASE + i))"
  done
  echo "$out"
}

start() {
  local n=${1:-}
  local known
  known=$(size)
  if [[ -z "$n" ]]; then n=$((known > 0 ? known : 3)); fi
  [[ "$n" =~ ^[1-9][0-9]*$ ]] || die "replica count must be a positive number, not '$n'"
  if ((known > 0 && known != n)); then
    die "$CLUSTER_DIR holds a $known-replica cluster; use 'start $known', or 'wipe' first"
  fi
  [[ -x "$BINARY" ]] || die "$BINARY not found; build first (deploy/build.sh) or set SYNOD_BUILD_DIR"
  mkdir -p "$CLUSTER_DIR"
  echo "$n" > "$CLUSTER_DIR/size"
  local cluster i pid
  cluster=$(initial_cluster "$n")
  for ((i = 1; i <= n; i++)); do
    if pid=$(pid_of "$i"); then
      echo "replica $i already running (pid $pid)"
      continue
    fi
    mkdir -p "$CLUSTER_DIR/$i"
    # shellcheck disable=SC2086
    nohup "$BINARY" --id="$i" --data_dir="$CLUSTER_DIR/$i/data" \
      --initial_cluster="$cluster" ${SYNOD_FLAGS:-} \
      >> "$CLUSTER_DIR/$i/synod.log" 2>&1 < /dev/null &
    echo $! > "$CLUSTER_DIR/$i/synod.pid"
  done
  # Up when every client port answers; give up after 30 s.
  local deadline=$((SECONDS + 30)) up
  while :; do
    up=0
    for ((i = 1; i <= n; i++)); do
      if pid_of "$i" > /dev/null && port_open $((CLIENT_BASE + i)); then up=$((up + 1)); fi
    done
    ((up == n)) && break
    if ((SECONDS >= deadline)); then
      status
      die "not all replicas came up within 30 s; see the logs above"
    fi
    for ((i = 1; i <= n; i++)); do
      if ! pid_of "$i" > /dev/null; then
        tail -n 5 "$CLUSTER_DIR/$i/synod.log" >&2 || true
        die "replica $i exited; its log is $CLUSTER_DIR/$i/synod.log"
      fi
    done
    sleep 0.2
  done
  echo "started $n replicas; clients: $(client_endpoints "$n")"
}

client_endpoints() {
  local n=$1 out="" i
  for ((i = 1; i <= n; i++)); do out+="${out:+,}127.0.0.1:$((CLIENT_BASE + i))"; done
  echo "$out"
}

stop() {
  local n i pid
  n=$(size)
  local pids=()
  for ((i = 1; i <= n; i++)); do
    if pid=$(pid_of "$i"); then
      kill -TERM "$pid"
      pids+=("$i:$pid")
    fi
  done
  # A clean stop takes well under a second; SIGKILL after 15 s.
  local entry deadline
  for entry in "${pids[@]+"${pids[@]}"}"; do
    i=${entry%%:*}
    pid=${entry##*:}
    deadline=$((SECONDS + 15))
    while [[ -d "/proc/$pid" ]] && ((SECONDS < deadline)); do sleep 0.1; done
    if [[ -d "/proc/$pid" ]]; then
      echo "replica $i (pid $pid) ignored SIGTERM; sending SIGKILL"
      kill -KILL "$pid" 2>/dev/null || true
    fi
    rm -f "$CLUSTER_DIR/$i/synod.pid"
    echo "stopped replica $i (pid $pid)"
  done
  ((${#pids[@]} > 0)) || echo "no replica running"
}

status() {
  local n i pid state
  n=$(size)
  if ((n == 0)); then
    echo "no cluster in $CLUSTER_DIR (start one with: deploy/cluster.sh start 3)"
    return 0
  fi
  printf "%-8s %-9s %-8s %-17s %-17s %s\n" replica state pid client peer log
  for ((i = 1; i <= n; i++)); do
    if pid=$(pid_of "$i"); then state=running; else state=stopped; pid=-; fi
    printf "%-8s %-9s %-8s %-17s %-17s %s\n" "$i" "$state" "$pid" \
      "127.0.0.1:$((CLIENT_BASE + i))" "127.0.0.1:$((PEER_BASE + i))" "$CLUSTER_DIR/$i/synod.log"
  done
}

case "${1:-}" in
  start) start "${2:-}" ;;
  stop) stop ;;
  status) status ;;
  restart)
    stop
    start ""
    ;;
  wipe)
    stop
    rm -rf "$CLUSTER_DIR"
    echo "removed $CLUSTER_DIR"
    ;;
  *)
    sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'
    exit 2
    ;;
esac
