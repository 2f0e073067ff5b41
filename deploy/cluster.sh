#!/usr/bin/env bash
# A local Synod cluster on 127.0.0.1, for trying Synod out and for demos.
#
#   deploy/cluster.sh start [N] [--tls]
#                                 start a new cluster of N replicas (default 3),
#                                 or every member of the existing one, and
#                                 waits until they have a leader; --tls
#                                 (new clusters only) makes a throw-away CA
#                                 and certificates in <dir>/tls with openssl
#                                 and serves clients over TLS (client
#                                 certificates verified when sent; synodctl
#                                 gets --cacert/--cert/--key) and peers over
#                                 mutual TLS
#   deploy/cluster.sh stop        stop every replica this script started
#   deploy/cluster.sh status      members: state, PID, ports, log
#   deploy/cluster.sh restart     stop, then start every member again
#   deploy/cluster.sh add         add one replica: next id, `synodctl member
#                                 add` (learner), start it with --join, wait
#                                 until it has caught up, promote it
#   deploy/cluster.sh remove ID   `synodctl member remove ID` (the leader
#                                 hands over first if ID leads), stop it,
#                                 move its directory to <dir>/removed/ID
#   deploy/cluster.sh wipe        stop, then delete the cluster's directory
#                                 (removed members' kept data included)
#
# Replica i listens for clients on 127.0.0.1:(7000+i), for peers on
# 127.0.0.1:(7100+i), for ZooKeeper clients (kazoo, zkCli, Curator,
# libzookeeper) on 127.0.0.1:(2180+i) and, when synod has --metrics_addr,
# serves /metrics, /health and /ready on 127.0.0.1:(7200+i). `start` prints
# the zkCli command line for the members. Ids are never reused: `add`
# takes one more than the highest id ever used. Everything lives under one
# directory (default ./.cluster): <dir>/<i>/data, <dir>/<i>/synod.log,
# <dir>/<i>/synod.pid; <dir>/members lists the current members; <dir>/tls
# holds the CA and certificates of a --tls cluster. Only
# processes whose PIDs this script recorded are ever signalled, and only
# while /proc says that PID still runs synod --id=<i>.
#
# Environment: SYNOD_BUILD_DIR (default ./build; the binaries are
# $SYNOD_BUILD_DIR/server/synod and $SYNOD_BUILD_DIR/client/synodctl/synodctl),
# SYNOD_CLUSTER_DIR (default ./.cluster), SYNOD_CLIENT_PORT_BASE (7000),
# SYNOD_PEER_PORT_BASE (7100), SYNOD_METRICS_PORT_BASE (7200),
# SYNOD_ZK_PORT_BASE (2180),
# SYNOD_FLAGS (extra flags for every replica), SYNOD_WAIT_SECONDS (how long
# start and add wait, default 60). Relative paths are taken from the
# repository root.
set -euo pipefail

cd "$(dirname "$0")/.."
BUILD_DIR=${SYNOD_BUILD_DIR:-build}
CLUSTER_DIR=${SYNOD_CLUSTER_DIR:-.cluster}
CLIENT_BASE=${SYNOD_CLIENT_PORT_BASE:-7000}
PEER_BASE=${SYNOD_PEER_PORT_BASE:-7100}
METRICS_BASE=${SYNOD_METRICS_PORT_BASE:-7200}
ZK_BASE=${SYNOD_ZK_PORT_BASE:-2180}
WAIT_SECONDS=${SYNOD_WAIT_SECONDS:-60}
BINARY="$BUILD_DIR/server/synod"
SYNODCTL="$BUILD_DIR/client/synodctl/synodctl"

die() {
  echo "cluster.sh: $*" >&2
  exit 1
}

# The current members' ids, ascending. A directory written before `members`
# existed holds only `size`: its members are 1..size.
members() {
  if [[ -f "$CLUSTER_DIR/members" ]]; then
    tr ' ' '\n' < "$CLUSTER_DIR/members" | grep -E '^[0-9]+$' | sort -n | paste -sd ' '
  elif [[ -f "$CLUSTER_DIR/size" ]]; then
    seq -s ' ' 1 "$(cat "$CLUSTER_DIR/size")"
  fi
}

set_members() {
  echo "$*" > "$CLUSTER_DIR/members.tmp"
  mv "$CLUSTER_DIR/members.tmp" "$CLUSTER_DIR/members"
}

next_id() {  # one more than the highest id ever used (removed ones count)
  local highest=0 i d
  for d in "$CLUSTER_DIR"/[0-9]* "$CLUSTER_DIR"/removed/[0-9]*; do
    [[ -d "$d" ]] || continue
    i=$(basename "$d")
    i=${i%%-*}
    ((i > highest)) && highest=$i
  done
  for i in $(members); do ((i > highest)) && highest=$i; done
  echo $((highest + 1))
}

pid_of() {  # prints the recorded PID of replica $1 if that process is a live synod
  local f="$CLUSTER_DIR/$1/synod.pid"
  [[ -f "$f" ]] || return 1
  local pid
  pid=$(cat "$f")
  [[ "$pid" =~ ^[0-9]+$ && -d "/proc/$pid" ]] || return 1
  # A recycled PID belongs to someone else: never signal it.
  tr '\0' ' ' < "/proc/$pid/cmdline" 2> /dev/null | grep -q -- "--id=$1 " || return 1
  echo "$pid"
}

port_open() {  # true if 127.0.0.1:$1 accepts TCP connections
  (exec 3<> "/dev/tcp/127.0.0.1/$1") 2> /dev/null
}

client_addr() { echo "127.0.0.1:$((CLIENT_BASE + $1))"; }
peer_addr() { echo "127.0.0.1:$((PEER_BASE + $1))"; }
metrics_addr() { echo "127.0.0.1:$((METRICS_BASE + $1))"; }
zk_addr() { echo "127.0.0.1:$((ZK_BASE + $1))"; }

has_metrics_flag() {  # does this synod build have --metrics_addr?
  local help
  # Not a pipe into grep -q: with pipefail, synod's exit status (and a
  # SIGPIPE when grep stops reading early) would decide instead of grep.
  help=$("$BINARY" --help 2>&1 || true)
  grep -q -- '--metrics_addr' <<< "$help"
}

client_endpoints() {  # client addresses of the current members (or of $@)
  local out="" i ids=("$@")
  ((${#ids[@]} > 0)) || read -r -a ids <<< "$(members)"
  for i in "${ids[@]}"; do out+="${out:+,}$(client_addr "$i")"; done
  echo "$out"
}

zk_endpoints() {  # ZooKeeper addresses of the current members, as zkCli's -server takes them
  local out="" i
  for i in $(members); do out+="${out:+,}$(zk_addr "$i")"; done
  echo "$out"
}

tls_on() { [[ -f "$CLUSTER_DIR/tls/ca.crt" ]]; }

tls_client_flags() {  # synodctl's TLS flags for a --tls cluster (none otherwise)
  tls_on || return 0
  echo "--cacert=$CLUSTER_DIR/tls/ca.crt --cert=$CLUSTER_DIR/tls/client.crt --key=$CLUSTER_DIR/tls/client.key"
}

# Issues $CLUSTER_DIR/tls/$1.{crt,key} from the cluster's CA, for 127.0.0.1
# and localhost, usable as a server and as a client certificate.
issue_cert() {
  local name=$1 dir="$CLUSTER_DIR/tls"
  openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=$name" \
    -keyout "$dir/$name.key" -out "$dir/$name.csr" 2> /dev/null
  printf '%s\n' "subjectAltName=IP:127.0.0.1,DNS:localhost" \
    "extendedKeyUsage=serverAuth,clientAuth" "basicConstraints=CA:FALSE" > "$dir/$name.ext"
  openssl x509 -req -in "$dir/$name.csr" -CA "$dir/ca.crt" -CAkey "$dir/ca.key" \
    -CAcreateserial -days 365 -extfile "$dir/$name.ext" -out "$dir/$name.crt" 2> /dev/null
  rm -f "$dir/$name.csr" "$dir/$name.ext"
  chmod 600 "$dir/$name.key"
}

make_ca() {  # a throw-away CA for this cluster (never for production)
  command -v openssl > /dev/null || die "--tls needs the openssl tool (apt-get install openssl)"
  mkdir -p "$CLUSTER_DIR/tls"
  chmod 700 "$CLUSTER_DIR/tls"
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 365 \
    -subj "/CN=synod local cluster CA" -keyout "$CLUSTER_DIR/tls/ca.key" \
    -out "$CLUSTER_DIR/tls/ca.crt" 2> /dev/null || die "openssl could not make the CA"
  issue_cert client
}

tls_replica_flags() {  # synod's TLS flags for replica $1 (none without --tls)
  tls_on || return 0
  local dir="$CLUSTER_DIR/tls"
  [[ -f "$dir/replica-$1.crt" ]] || issue_cert "replica-$1"
  echo "--tls_cert=$dir/replica-$1.crt --tls_key=$dir/replica-$1.key" \
    "--tls_client_ca=$dir/ca.crt --tls_client_auth=request" \
    "--peer_tls_cert=$dir/replica-$1.crt --peer_tls_key=$dir/replica-$1.key" \
    "--peer_tls_ca=$dir/ca.crt"
}

ctl() {  # synodctl against the current members
  # shellcheck disable=SC2046
  "$SYNODCTL" --endpoints="$(client_endpoints)" --timeout=10s $(tls_client_flags) "$@"
}

# Starts replica $1 unless it runs. Founding members (listed in
# <dir>/initial_cluster) start with --initial_cluster; members added later
# with --join pointing at the other members (a joined replica with data
# still asks a running member for the cluster's identity).
launch() {
  local i=$1 pid mode
  if pid=$(pid_of "$i"); then
    echo "replica $i already running (pid $pid)"
    return 0
  fi
  mkdir -p "$CLUSTER_DIR/$i"
  if [[ -f "$CLUSTER_DIR/$i/joined" ]]; then
    local others=() j
    for j in $(members); do ((j != i)) && others+=("$j"); done
    ((${#others[@]} > 0)) || die "replica $i joined a cluster that has no other member left"
    mode="--join=$(client_endpoints "${others[@]}")"
  else
    mode="--initial_cluster=$(cat "$CLUSTER_DIR/initial_cluster")"
  fi
  local extra=("--zk_addr=$(zk_addr "$i")")
  if has_metrics_flag; then
    extra+=("--metrics_addr=$(metrics_addr "$i")")
    metrics_addr "$i" > "$CLUSTER_DIR/$i/metrics_addr"
  else
    rm -f "$CLUSTER_DIR/$i/metrics_addr"
  fi
  # Its addresses come from --initial_cluster or, for a joined replica,
  # from the membership its --join endpoints report.
  local tls
  tls=$(tls_replica_flags "$i")
  # shellcheck disable=SC2086
  nohup "$BINARY" --id="$i" --data_dir="$CLUSTER_DIR/$i/data" "$mode" \
    "${extra[@]+"${extra[@]}"}" $tls ${SYNOD_FLAGS:-} \
    >> "$CLUSTER_DIR/$i/synod.log" 2>&1 < /dev/null &
  echo $! > "$CLUSTER_DIR/$i/synod.pid"
}

wait_up() {  # waits until every replica in $@ runs and its client port answers
  local deadline=$((SECONDS + WAIT_SECONDS)) up i
  while :; do
    up=0
    for i in "$@"; do
      # Not pid_of: just after the fork, /proc shows the shell until it
      # execs synod.
      if [[ ! -d "/proc/$(cat "$CLUSTER_DIR/$i/synod.pid")" ]]; then
        tail -n 5 "$CLUSTER_DIR/$i/synod.log" >&2 || true
        die "replica $i exited; its log is $CLUSTER_DIR/$i/synod.log"
      fi
      port_open $((CLIENT_BASE + i)) && up=$((up + 1))
    done
    ((up == $#)) && return 0
    if ((SECONDS >= deadline)); then
      status
      die "not all replicas came up within $WAIT_SECONDS s; see the logs above"
    fi
    sleep 0.2
  done
}

wait_leader() {  # waits until the members report a leader, so the next command is served
  local deadline=$((SECONDS + WAIT_SECONDS)) out
  while :; do
    out=$(ctl status 2>&1) && grep -q "^leader: [1-9]" <<< "$out" && return 0
    # With auth enabled, status needs credentials this script does not have.
    grep -q "UNAUTHENTICATED" <<< "$out" && return 0
    if ((SECONDS >= deadline)); then
      die "no leader within $WAIT_SECONDS s: $out"
    fi
    sleep 0.2
  done
}

start() {
  local n="" tls=0 arg ids i
  for arg in "$@"; do
    case "$arg" in
      --tls) tls=1 ;;
      *) n=$arg ;;
    esac
  done
  [[ -x "$BINARY" ]] || die "$BINARY not found; build first (deploy/build.sh) or set SYNOD_BUILD_DIR"
  ids=$(members)
  if [[ -n "$ids" ]]; then
    local count
    count=$(wc -w <<< "$ids")
    if [[ -n "$n" && "$n" != "$count" ]]; then
      die "$CLUSTER_DIR holds a cluster of $count members ($ids); use 'start' or 'wipe' first"
    fi
    if ((tls)) && ! tls_on; then
      die "$CLUSTER_DIR holds a cluster without TLS; 'wipe' it first to start one with --tls"
    fi
    if [[ ! -f "$CLUSTER_DIR/initial_cluster" ]]; then
      # Written by an older cluster.sh: founding members 1..size.
      initial_cluster "$(cat "$CLUSTER_DIR/size")" > "$CLUSTER_DIR/initial_cluster"
    fi
  else
    n=${n:-3}
    [[ "$n" =~ ^[1-9][0-9]*$ ]] || die "replica count must be a positive number, not '$n'"
    mkdir -p "$CLUSTER_DIR"
    ((tls)) && make_ca
    initial_cluster "$n" > "$CLUSTER_DIR/initial_cluster"
    set_members "$(seq -s ' ' 1 "$n")"
    ids=$(members)
  fi
  for i in $ids; do launch "$i"; done
  # shellcheck disable=SC2086
  wait_up $ids
  wait_leader
  echo "started $(wc -w <<< "$ids") replicas; clients: $(client_endpoints)"
  # The ZooKeeper port is plaintext, --tls or not.
  echo "ZooKeeper clients: zkCli.sh -server $(zk_endpoints)"
  if tls_on; then
    echo "TLS: clients verify with $CLUSTER_DIR/tls/ca.crt (client certificate:" \
      "$CLUSTER_DIR/tls/client.crt, key client.key)"
  fi
}

initial_cluster() {
  local n=$1 out="" i
  for ((i = 1; i <= n; i++)); do
    out+="${out:+,}$i=$(peer_addr "$i")/$(client_addr "$i")"
  done
  echo "$out"
}

wait_gone() {  # waits for replica $1's process $2 to exit; SIGKILL after 15 s
  local i=$1 pid=$2 deadline=$((SECONDS + 15))
  while [[ -d "/proc/$pid" ]] && ((SECONDS < deadline)); do sleep 0.1; done
  if [[ -d "/proc/$pid" ]]; then
    echo "replica $i (pid $pid) ignored SIGTERM; sending SIGKILL"
    kill -KILL "$pid" 2> /dev/null || true
  fi
  rm -f "$CLUSTER_DIR/$i/synod.pid"
  echo "stopped replica $i (pid $pid)"
}

stop_one() {  # stops replica $1 if it runs
  local pid
  pid=$(pid_of "$1") || return 1
  kill -TERM "$pid"
  wait_gone "$1" "$pid"
}

stop() {
  # Every replica directory, not only current members: a replica whose
  # `add` or `remove` was cut short may still run. All get SIGTERM at once.
  local d i pid entry pids=()
  for d in "$CLUSTER_DIR"/[0-9]*; do
    [[ -d "$d" ]] || continue
    i=$(basename "$d")
    if pid=$(pid_of "$i"); then
      kill -TERM "$pid"
      pids+=("$i:$pid")
    fi
  done
  for entry in "${pids[@]+"${pids[@]}"}"; do wait_gone "${entry%%:*}" "${entry##*:}"; done
  ((${#pids[@]} > 0)) || echo "no replica running"
}

status() {
  local ids i pid state metrics
  ids=$(members)
  if [[ -z "$ids" ]]; then
    echo "no cluster in $CLUSTER_DIR (start one with: deploy/cluster.sh start 3)"
    return 0
  fi
  printf "%-8s %-9s %-8s %-17s %-17s %-17s %-17s %s\n" replica state pid client peer metrics \
    zookeeper log
  for i in $ids; do
    if pid=$(pid_of "$i"); then state=running; else
      state=stopped
      pid=-
    fi
    metrics=-
    [[ -f "$CLUSTER_DIR/$i/metrics_addr" ]] && metrics=$(cat "$CLUSTER_DIR/$i/metrics_addr")
    printf "%-8s %-9s %-8s %-17s %-17s %-17s %-17s %s\n" "$i" "$state" "$pid" \
      "$(client_addr "$i")" "$(peer_addr "$i")" "$metrics" "$(zk_addr "$i")" \
      "$CLUSTER_DIR/$i/synod.log"
  done
  echo "roles, lag and digests: $SYNODCTL --endpoints=$(client_endpoints) status"
}

add() {
  [[ -x "$BINARY" ]] || die "$BINARY not found; build first (deploy/build.sh) or set SYNOD_BUILD_DIR"
  [[ -x "$SYNODCTL" ]] || die "$SYNODCTL not found; build first or set SYNOD_BUILD_DIR"
  [[ -n "$(members)" ]] || die "no cluster in $CLUSTER_DIR; start one first"
  local id out
  id=$(next_id)
  echo "adding replica $id as a learner (client $(client_addr "$id"), peer $(peer_addr "$id")," \
    "ZooKeeper $(zk_addr "$id"))"
  out=$(ctl member add "$id" "$(peer_addr "$id")" "$(client_addr "$id")" 2>&1) ||
    die "synodctl member add $id failed: $out"
  # From here on it is a member: record it so that `remove $id` can undo.
  mkdir -p "$CLUSTER_DIR/$id"
  touch "$CLUSTER_DIR/$id/joined"
  set_members "$(members) $id"
  launch "$id"
  wait_up "$id"
  # The leader decides when it has caught up: promote is refused with
  # LEARNER_NOT_READY until then.
  local deadline=$((SECONDS + WAIT_SECONDS))
  echo "replica $id is up; waiting until it has caught up to promote it"
  while ! out=$(ctl member promote "$id" 2>&1); do
    if ! grep -q LEARNER_NOT_READY <<< "$out"; then
      die "synodctl member promote $id failed: $out (it stays a learner; 'remove $id' undoes the add)"
    fi
    if ((SECONDS >= deadline)); then
      die "replica $id did not catch up within $WAIT_SECONDS s: $out (it stays a learner; see $CLUSTER_DIR/$id/synod.log)"
    fi
    pid_of "$id" > /dev/null || die "replica $id exited; its log is $CLUSTER_DIR/$id/synod.log"
    sleep 0.5
  done
  echo "replica $id promoted to voter; members: $(members)"
}

remove() {
  local id=${1:-}
  [[ "$id" =~ ^[1-9][0-9]*$ ]] || die "usage: cluster.sh remove ID"
  [[ -x "$SYNODCTL" ]] || die "$SYNODCTL not found; build first or set SYNOD_BUILD_DIR"
  grep -qw -- "$id" <<< "$(members)" || die "replica $id is not a member (members: $(members))"
  local out rest=() j
  out=$(ctl member remove "$id" 2>&1) || {
    # Already gone from the membership (an earlier remove cut short) is fine.
    grep -q MEMBER_NOT_FOUND <<< "$out" || die "synodctl member remove $id failed: $out"
  }
  for j in $(members); do ((j != id)) && rest+=("$j"); done
  set_members "${rest[*]+"${rest[*]}"}"
  stop_one "$id" || echo "replica $id was not running"
  # Kept, not wiped: its log and data may explain something later. The id
  # is never reused, so the kept copy cannot be mistaken for a member.
  mkdir -p "$CLUSTER_DIR/removed"
  local dest="$CLUSTER_DIR/removed/$id"
  [[ -e "$dest" ]] && dest="$dest-$(date +%s)"
  mv "$CLUSTER_DIR/$id" "$dest"
  echo "removed replica $id (its directory is now $dest); members: $(members)"
}

case "${1:-}" in
  start)
    shift
    start "$@"
    ;;
  stop) stop ;;
  status) status ;;
  restart)
    stop
    start ""
    ;;
  add) add ;;
  remove) remove "${2:-}" ;;
  wipe)
    stop
    rm -rf "$CLUSTER_DIR"
    echo "removed $CLUSTER_DIR"
    ;;
  -h | --help | help)
    sed -n '2,41p' "$0" | sed 's/^# \{0,1\}//'
    ;;
  *)
    sed -n '2,41p' "$0" | sed 's/^# \{0,1\}//' >&2
    exit 2
    ;;
esac
