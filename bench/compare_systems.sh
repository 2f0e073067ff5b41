# Sourced by bench/compare.sh: installs the peers and starts and stops the
# 3-replica clusters (synod and its variants, zookeeper, etcd) on 127.0.0.1,
# every process by the PID it was started with. Uses compare.sh's globals
# (WORK, TLS_DIR, the port arrays, KEEP, SYNOD_BIN) and its die/log.
# shellcheck shell=bash disable=SC2034,SC2153  # globals shared with compare.sh

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

port_open() { (exec 3<> "/dev/tcp/127.0.0.1/$1") 2> /dev/null; }

# A throw-away CA and one certificate for 127.0.0.1 (server and client
# use), as deploy/cluster.sh start --tls makes them: synod-tls replicas
# serve and dial with it, synod-bench presents it as its client certificate.
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
