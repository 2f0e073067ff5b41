#!/usr/bin/env bash
# deploy/cluster.sh end to end, in a temporary directory on ports no one
# listens on: start 3, write, add (4 joins as a learner and is promoted),
# remove the leader, status, restart, stop. Whatever happens, the trap stops
# every replica the script recorded and deletes the directory.
#
#   cluster_sh_test.sh BUILD_DIR
set -euo pipefail

BUILD_DIR=$(cd "${1:?usage: cluster_sh_test.sh BUILD_DIR}" && pwd)
REPO=$(cd "$(dirname "$0")/../.." && pwd)
CLUSTER="$REPO/deploy/cluster.sh"
SYNODCTL="$BUILD_DIR/client/synodctl/synodctl"

TMP=$(mktemp -d "${TMPDIR:-/tmp}/synod-cluster-sh-XXXXXX")
export SYNOD_BUILD_DIR="$BUILD_DIR" SYNOD_CLUSTER_DIR="$TMP/cluster" SYNOD_WAIT_SECONDS=60
export SYNOD_FLAGS="--heartbeat_ms=50 --election_ms=500 --cache_mb=16 --log_cache_mb=16"

cleanup() {
  "$CLUSTER" stop > /dev/null 2>&1 || true
  rm -rf "$TMP"
}
trap cleanup EXIT

fail() {
  echo "FAIL: $*" >&2
  for log in "$TMP"/cluster/*/synod.log "$TMP"/cluster/removed/*/synod.log; do
    [[ -f "$log" ]] && { echo "---- $log" >&2; tail -n 20 "$log" >&2; }
  done
  exit 1
}

port_open() { (exec 3<> "/dev/tcp/127.0.0.1/$1") 2> /dev/null; }

# Four bases (client, peer, metrics, ZooKeeper) 100 apart with ports base+1..base+9
# free; tried at random in 20000-59999.
found=0
for _ in $(seq 1 50); do
  base=$((20000 + (RANDOM * 32768 + RANDOM) % 40000))
  base=$((base - base % 10))
  busy=0
  for off in 0 100 200 300; do
    for i in $(seq 1 9); do port_open $((base + off + i)) && busy=1; done
  done
  if ((busy == 0)); then
    found=1
    break
  fi
done
((found == 1)) || fail "no free port range"
export SYNOD_CLIENT_PORT_BASE=$base SYNOD_PEER_PORT_BASE=$((base + 100))
export SYNOD_METRICS_PORT_BASE=$((base + 200)) SYNOD_ZK_PORT_BASE=$((base + 300))
EP="127.0.0.1:$((base + 1)),127.0.0.1:$((base + 2)),127.0.0.1:$((base + 3))"

ctl() { "$SYNODCTL" --endpoints="$EP" --timeout=10s "$@"; }
# Ids of the voters (learners excluded), ascending, blank-separated.
voters() {
  ctl -o json member list | python3 -c '
import json, sys
print(" ".join(str(m["id"]) for m in sorted(json.load(sys.stdin), key=lambda m: m["id"])
               if not m["learner"]))'
}
leader() {
  ctl -o json status | python3 -c 'import json, sys; print(json.load(sys.stdin)["leader_id"])'
}

"$CLUSTER" --help | grep -q "remove ID" || fail "--help does not describe remove"
started=$("$CLUSTER" start 3) || fail "start 3"
echo "$started"
zk="127.0.0.1:$((base + 301)),127.0.0.1:$((base + 302)),127.0.0.1:$((base + 303))"
grep -qx "ZooKeeper clients: zkCli.sh -server $zk" <<< "$started" ||
  fail "start does not print the zkCli connect string $zk"
# Every replica serves ZooKeeper clients there: srvr (always answered, as
# ZooKeeper does) says so.
for i in 1 2 3; do
  srvr=$(python3 -c '
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=5)
s.sendall(b"srvr")
out = b""
while True:
    part = s.recv(4096)
    if not part:
        break
    out += part
print(out.decode())' $((base + 300 + i)))
  grep -q "^Zookeeper version: 3.8" <<< "$srvr" || fail "replica $i ZooKeeper port: $srvr"
done
[[ "$(voters)" == "1 2 3" ]] || fail "voters after start: $(voters)"
ctl create /k v1 > /dev/null || fail "create /k"

"$CLUSTER" add || fail "add"
[[ "$(voters)" == "1 2 3 4" ]] || fail "voters after add: $(voters)"
# Promoted means caught up to within the allowed lag; /k arrives soon after.
got=""
for _ in $(seq 1 50); do
  got=$("$SYNODCTL" --endpoints="127.0.0.1:$((base + 4))" get --consistency=serializable /k || true)
  [[ "$got" == v1 ]] && break
  sleep 0.1
done
[[ "$got" == v1 ]] || fail "replica 4 reads /k as '$got'"

old=$(leader)
[[ "$old" =~ ^[1-4]$ ]] || fail "no leader: $old"
"$CLUSTER" remove "$old" || fail "remove $old (the leader)"
want=""
for i in 1 2 3 4; do ((i != old)) && want+="${want:+ }$i"; done
EP=""
for i in $want; do EP+="${EP:+,}127.0.0.1:$((base + i))"; done
[[ "$(voters)" == "$want" ]] || fail "voters after removing $old: $(voters), want $want"
new=$(leader)
[[ "$new" != "$old" && "$new" != 0 ]] || fail "leader after removing $old: $new"
ctl set /k v2 > /dev/null || fail "set /k after the removal"
[[ -d "$SYNOD_CLUSTER_DIR/removed/$old/data" ]] || fail "removed member's data not kept aside"
[[ ! -e "$SYNOD_CLUSTER_DIR/$old" ]] || fail "removed member still has its directory"

status=$("$CLUSTER" status)
echo "$status"
for i in $want; do
  grep -Eq "^$i +running" <<< "$status" || fail "status does not show $i running"
done
! grep -Eq "^$old " <<< "$status" || fail "status still lists removed member $old"

# With --metrics_addr in this synod, every member serves /health and /ready
# on its metrics port (7200+i from the base).
help=$("$SYNOD_BUILD_DIR/server/synod" --help 2>&1 || true)  # --help exits 1
if grep -q -- --metrics_addr <<< "$help"; then
  for i in $want; do
    addr=$(cat "$SYNOD_CLUSTER_DIR/$i/metrics_addr")
    [[ "$addr" == "127.0.0.1:$((base + 200 + i))" ]] || fail "replica $i metrics on $addr"
    grep -Eq "^$i +running .* $addr " <<< "$status" || fail "status does not show $addr"
    for path in health ready; do
      code=0
      for _ in $(seq 1 50); do
        code=$(python3 -c '
import sys, urllib.request, urllib.error
try:
    print(urllib.request.urlopen(sys.argv[1], timeout=5).status)
except urllib.error.HTTPError as e:
    print(e.code)
except OSError:
    print(0)' "http://$addr/$path")
        [[ "$code" == 200 ]] && break
        sleep 0.1
      done
      [[ "$code" == 200 ]] || fail "replica $i /$path answers $code"
    done
  done
else
  echo "synod has no --metrics_addr: /health and /ready not checked"
fi

"$CLUSTER" restart || fail "restart"
[[ "$(ctl get /k)" == "v2" ]] || fail "/k after restart"

pids=$(cat "$SYNOD_CLUSTER_DIR"/*/synod.pid)
"$CLUSTER" stop || fail "stop"
for p in $pids; do [[ ! -d "/proc/$p" ]] || fail "pid $p still runs after stop"; done
"$CLUSTER" status | grep -q running && fail "status shows a replica running after stop"
echo "cluster.sh: start 3, add, remove leader $old, restart, stop: OK"
