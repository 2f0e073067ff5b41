# Sourced by bench/compare.sh: the report of a run: one line per result
# while it runs, then the markdown table, the results file under
# bench/results/ and the latest table in bench/README.md. Uses compare.sh's
# globals (RAW, SYSTEMS, WORKLOADS, settings, start and end load) and its log.
# shellcheck shell=bash

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

# The source revision measured: the commit, and whether the sources the
# synod binary is built from (server/, storage/, raft/) had uncommitted
# changes; tests and their data do not count.
source_revision() {  # source_revision ROOT
  local dirty
  dirty=$(git -C "$1" status --porcelain -- server storage raft ':(exclude)*_test.cc' \
    ':(exclude)*_test_util.*' ':(exclude)*_testing.h' ':(exclude)*/testdata/*' \
    ':(exclude)*/tests/*' 2> /dev/null)
  echo "$(git -C "$1" rev-parse --short HEAD 2> /dev/null || echo '?') (working tree $([[ -n "$dirty" ]] && echo 'with uncommitted server/storage/raft changes' || echo clean) at the start)"
}

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

report_table() {  # the markdown table of $RAW, on stdout
  python3 - "$RAW" "$SYSTEMS" "$WORKLOADS" << 'PY'
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
}

publish_results() {  # the results file and, unless --no-readme, the README table
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
}
