#!/usr/bin/python3
"""Drives Synod's ZooKeeper port with kazoo (python3-kazoo), unchanged.

Usage: zk_kazoo.py HOST:PORT HOST:PORT HOST:PORT METRICS_HOST:PORT
         (three replicas' ZooKeeper ports, the second one's /metrics; the
          first two answer every four-letter word, the third only srvr)
       zk_kazoo.py --hold HOST:PORT                (internal: see below)

Exits 0 when every check passed; prints each check as it passes. Every wait
is bounded.
"""
import socket
import struct
import subprocess
import sys
import re
import threading
import urllib.request

from kazoo.exceptions import BadVersionError, NoNodeError, NotEmptyError, RolledBackError
from kazoo.security import make_digest_acl

from zk_check import TIMEOUT, check, client
from zk_kazoo_auth import check_auth_and_acls
from zk_raw import Raw, jute_string


def check_watch_requests(a, r2, r3):
    """addWatch (persistent, persistent-recursive), checkWatches,
    removeWatches and setWatches2, as ZooKeeper 3.8 answers them."""
    created, deleted, changed, children = 1, 2, 3, 4
    a.create("/zk-e2e/pw")
    a.create("/zk-e2e/pw/q")
    raw = Raw(r2)

    def path(p):
        return jute_string(p.encode())
    ok_body = struct.pack(">i", 0)
    check("addWatch persistent-recursive",
          raw.call(1, 106, path("/zk-e2e/pw") + struct.pack(">i", 1)) == (0, ok_body))
    check("addWatch persistent",
          raw.call(2, 106, path("/zk-e2e/pw/q") + struct.pack(">i", 0)) == (0, ok_body))
    check("addWatch bad mode: MarshallingError",
          raw.call(3, 106, path("/zk-e2e/pw") + struct.pack(">i", 7))[0] == -5)
    check("checkWatches finds it", raw.call(4, 17, path("/zk-e2e/pw") + struct.pack(">i", 3)) ==
          (0, b""))
    check("checkWatches of none: NoWatcher",
          raw.call(5, 17, path("/zk-e2e/none") + struct.pack(">i", 2))[0] == -121)
    a.create("/zk-e2e/pw/q/c1")
    a.set("/zk-e2e/pw/q/c1", b"1")
    a.set("/zk-e2e/pw/q/c1", b"2")
    got = raw.next_events(4)
    check("persistent watches fire and stay", got is not None and sorted(got[:2]) == sorted(
        [(created, "/zk-e2e/pw/q/c1"), (children, "/zk-e2e/pw/q")]) and
        got[2:] == [(changed, "/zk-e2e/pw/q/c1")] * 2)
    # One event, one notification per connection, however many of its
    # watches match (ZooKeeper's triggerWatch): the recursive and the
    # persistent watch both match this change.
    a.set("/zk-e2e/pw/q", b"x")
    a.set("/zk-e2e/pw/q/c1", b"3")
    check("one notification for two matching watches",
          raw.next_events(2) == [(changed, "/zk-e2e/pw/q"), (changed, "/zk-e2e/pw/q/c1")])
    check("removeWatches", raw.call(6, 18, path("/zk-e2e/pw") + struct.pack(">i", 3)) ==
          (0, b""))
    check("removeWatches again: NoWatcher",
          raw.call(7, 18, path("/zk-e2e/pw") + struct.pack(">i", 3))[0] == -121)
    check("checkWatches after remove: NoWatcher",
          raw.call(8, 17, path("/zk-e2e/pw") + struct.pack(">i", 3))[0] == -121)
    # Events come in revision order: had the removed watch fired, its event
    # would come first.
    a.create("/zk-e2e/pw/after")
    a.set("/zk-e2e/pw/q", b"y")
    check("a removed watch no longer fires",
          raw.next_events(1) == [(changed, "/zk-e2e/pw/q")])
    check("removeWatches Data covers a persistent watch",
          raw.call(9, 18, path("/zk-e2e/pw/q") + struct.pack(">i", 2)) == (0, b""))
    # setWatches2 (a reconnecting client's persistent watches), from the
    # zxid it last saw.
    again = Raw(r3)
    again.call(1, 3, path("/zk-e2e/pw") + b"\0")  # exists: learn a zxid
    empty = struct.pack(">i", 0)
    check("setWatches2", again.call(-8, 105, struct.pack(">q", again.zxid) + empty * 3 + empty +
                                    struct.pack(">i", 1) + path("/zk-e2e/pw")) == (0, b""))
    a.delete("/zk-e2e/pw/after")
    check("setWatches2 persistent-recursive fires",
          again.next_events(1) == [(deleted, "/zk-e2e/pw/after")])


def multi_read_body(ops):
    """A MultiOperationRecord of (type, path) read ops (getData 4,
    getChildren 8), as ZooKeeper 3.8's client sends a multiRead."""
    body = b""
    for op, p in ops:
        body += struct.pack(">i?i", op, False, -1) + jute_string(p.encode()) + b"\0"
    return body + struct.pack(">i?i", -1, True, -1)


def parse_multi_read(body):
    """A multiRead reply as [(4, data, version) | (8, children) | (-1, err)]."""
    out, pos = [], 0

    def string():
        nonlocal pos
        size = struct.unpack(">i", body[pos:pos + 4])[0]
        pos += 4
        value = body[pos:pos + max(size, 0)]
        pos += max(size, 0)
        return value
    while True:
        op, done, err = struct.unpack(">i?i", body[pos:pos + 9])
        pos += 9
        if done:
            return out if pos == len(body) else None
        if op == 4:
            data = string()
            version = struct.unpack(">i", body[pos + 32:pos + 36])[0]  # Stat.version
            pos += 68
            out.append((4, data, version))
        elif op == 8:
            n = struct.unpack(">i", body[pos:pos + 4])[0]
            pos += 4
            out.append((8, sorted(string().decode() for _ in range(n))))
        else:
            out.append((op, struct.unpack(">i", body[pos:pos + 4])[0]))
            check("multiRead: an error result carries the header's code", err == out[-1][1])
            pos += 4


def check_multi_read(a, r1):
    """multiRead (22), on a bare connection: kazoo 2.8 has no call for it."""
    a.create("/zk-e2e/mr", b"d")
    a.create("/zk-e2e/mr/c1")
    a.create("/zk-e2e/mr/c2")
    alice = client(r1)
    alice.add_auth("digest", "alice:secret")
    alice.create("/zk-e2e/mr-private", b"p", acl=[make_digest_acl("alice", "secret", all=True)])
    raw = Raw(r1)
    raw.call(1, 9, jute_string(b"/zk-e2e"))  # sync: see alice's write
    ops = [(4, "/zk-e2e/mr"), (8, "/zk-e2e/mr"), (4, "/zk-e2e/missing"),
           (4, "/zk-e2e/mr-private"), (8, "/zk-e2e/missing"), (8, "/zk-e2e/mr-private")]
    err, body = raw.call(2, 22, multi_read_body(ops))
    check("multiRead: each op's result or its own error, no rollback",
          err == 0 and parse_multi_read(body) == [
              (4, b"d", 0), (8, ["c1", "c2"]), (-1, -101), (-1, -102), (-1, -101), (-1, -102)])
    raw.auth("digest", "alice:secret")
    err, body = raw.call(3, 22, multi_read_body([(4, "/zk-e2e/mr-private")]))
    check("multiRead: READ is checked per op with the connection's identities",
          err == 0 and parse_multi_read(body) == [(4, b"p", 0)])
    check("empty multiRead", raw.call(4, 22, multi_read_body([])) ==
          (0, struct.pack(">i?i", -1, True, -1)))
    write = (struct.pack(">i?i", 2, False, -1) + jute_string(b"/zk-e2e/mr/c1") +
             struct.pack(">i", -1) + struct.pack(">i?i", -1, True, -1))
    check("multiRead with a write op: MarshallingError, nothing deleted",
          raw.call(5, 22, write) == (-5, b"") and a.exists("/zk-e2e/mr/c1") is not None)
    check("the connection serves on after it",
          raw.call(6, 3, jute_string(b"/zk-e2e/mr") + b"\0")[0] == 0)
    # A reply is bounded like a request (--zk_max_frame_bytes): two reads of
    # 600 KB pass it.
    a.create("/zk-e2e/mr-big", b"x" * 600000)
    err, body = raw.call(7, 22, multi_read_body([(4, "/zk-e2e/mr-big")]))
    check("multiRead of 600 KB", err == 0 and len(parse_multi_read(body)[0][1]) == 600000)
    check("multiRead over the reply bound: BadArguments",
          raw.call(8, 22, multi_read_body([(4, "/zk-e2e/mr-big")] * 2)) == (-8, b""))
    a.delete("/zk-e2e/mr-big")
    alice.delete("/zk-e2e/mr-private")
    alice.stop()
    alice.close()


def four_letter(host, word):
    """Sends a four-letter word as a connection's first bytes; returns the
    whole answer (the server closes the connection after it)."""
    h, p = host.rsplit(":", 1)
    s = socket.create_connection((h, int(p)), timeout=TIMEOUT)
    s.sendall(word.encode())
    out = b""
    while True:
        part = s.recv(65536)
        if not part:
            return out.decode()
        out += part


def mntr(host):
    return dict(line.split("\t", 1) for line in four_letter(host, "mntr").splitlines())


def check_four_letter_words(a, r1, r3):
    """Four-letter words, answered then closed, as ZooKeeper 3.8 answers them.
    r1 answers every word Synod serves (--zk_4lw_whitelist=*), r3 keeps
    ZooKeeper's default whitelist (srvr only)."""
    check("ruok: imok", four_letter(r1, "ruok") == "imok")
    check("isro: rw", four_letter(r1, "isro") == "rw")
    srvr = four_letter(r1, "srvr")
    check("srvr: version, zxid, mode, node count",
          srvr.startswith("Zookeeper version: 3.8.") and "\nZxid: 0x" in srvr and
          re.search(r"^Mode: (leader|follower)$", srvr, re.M) and
          re.search(r"^Node count: \d+$", srvr, re.M))
    stat = four_letter(r1, "stat")
    check("stat: the clients, then the stats",
          "\nClients:\n /127.0.0.1:" in stat and "\nMode: " in stat)
    sid = a.client_id[0]
    check("cons: this client's session", "sid=0x%x," % sid in four_letter(r1, "cons"))
    m = mntr(r1)
    check("mntr: zk_ keys, tab-separated",
          m["zk_version"].startswith("3.8.") and m["zk_server_state"] in ("leader", "follower") and
          int(m["zk_num_alive_connections"]) >= 1 and int(m["zk_packets_received"]) > 0)
    port = r1.rsplit(":", 1)[1]
    check("conf: clientPort", "clientPort=%s\n" % port in four_letter(r1, "conf"))
    check("envi: the ZooKeeper version spoken",
          four_letter(r1, "envi").startswith("Environment:\nzookeeper.version=3.8."))
    a.exists("/zk-e2e", watch=lambda e: None)
    wchs = re.match(r"(\d+) connections watching (\d+) paths\nTotal watches:(\d+)\n$",
                    four_letter(r1, "wchs"))
    check("wchs: a summary of the watches", wchs and int(wchs.group(1)) >= 1 and
          int(wchs.group(3)) >= 1)
    check("a word ZooKeeper knows and Synod does not serve: not in the whitelist",
          four_letter(r1, "dump") == "dump is not executed because it is not in the whitelist.\n")
    check("default whitelist: ruok refused as ZooKeeper does",
          four_letter(r3, "ruok") == "ruok is not executed because it is not in the whitelist.\n")
    check("default whitelist: srvr answered",
          four_letter(r3, "srvr").startswith("Zookeeper version: 3.8."))
    check("clients still served", a.exists("/zk-e2e") is not None)


def scrape(metrics_addr):
    return urllib.request.urlopen("http://%s/metrics" % metrics_addr, timeout=TIMEOUT).read().decode()


def metric(text, series):
    """The value of one series (name and labels as rendered), 0 if absent."""
    for line in text.splitlines():
        if line.startswith(series + " "):
            return float(line.split()[-1])
    return 0.0


def check_metrics(r2, m2):
    """The ZooKeeper port's metrics on /metrics, and mntr from the same
    numbers."""
    before = scrape(m2)
    raw = Raw(r2)
    check("getData of a missing node", raw.call(1, 4, jute_string(b"/zk-e2e/none") + b"\0")[0] ==
          -101)
    raw.call(2, 22, multi_read_body([(4, "/zk-e2e")]))
    after = scrape(m2)

    def delta(series):
        return metric(after, series) - metric(before, series)
    check("metrics: one more NONODE error", delta('synod_zk_errors_total{code="NONODE"}') == 1)
    check("metrics: requests by opcode",
          delta('synod_zk_requests_total{op="multiRead"}') == 1 and
          delta('synod_zk_requests_total{op="getData"}') >= 1 and
          delta('synod_zk_requests_total{op="connect"}') >= 1)
    check("metrics: bytes in and out",
          delta('synod_zk_bytes_total{direction="received"}') > 0 and
          delta('synod_zk_bytes_total{direction="sent"}') > 0)
    check("metrics: open connections", metric(after, "synod_zk_connections") >= 2)
    received = 'synod_zk_packets_total{direction="received"}'
    first = metric(scrape(m2), received)
    counted = int(mntr(r2)["zk_packets_received"])
    last = metric(scrape(m2), received)
    check("mntr reports the metrics' numbers", first <= counted <= last and counted > 0)


def hold(host):
    """Creates an ephemeral node and exits without closing its session, as a
    crashed client would; prints the session id and password."""
    c = client(host)
    c.create("/zk-e2e/held", b"h", ephemeral=True)
    sid, pwd = c.client_id
    print("%d %s" % (sid, pwd.hex()), flush=True)
    sys.stdout.flush()
    import os
    os._exit(0)


def main(r1, r2, r3, m2):
    a = client(r1)
    b = client(r2)
    if a.exists("/zk-e2e"):  # left by an earlier run against the same cluster
        a.delete("/zk-e2e", recursive=True)
    a.ensure_path("/zk-e2e")

    # create / get / set / children / delete
    a.create("/zk-e2e/n", b"v1")
    data, stat = a.get("/zk-e2e/n")
    check("get after create", data == b"v1" and stat.version == 0 and stat.czxid > 0)
    stat = a.set("/zk-e2e/n", b"v2")
    check("set bumps version", stat.version == 1 and stat.mzxid > stat.czxid)
    try:
        a.set("/zk-e2e/n", b"v3", version=0)
        check("set with a stale version fails", False)
    except BadVersionError:
        check("set with a stale version: BadVersionError", True)
    # Another client on another replica may read older state (as with
    # ZooKeeper) until it syncs.
    b.sync("/zk-e2e/n")
    data, _ = b.get("/zk-e2e/n")
    check("read on another replica after sync sees the write", data == b"v2")
    a.create("/zk-e2e/n/c1")
    try:
        a.delete("/zk-e2e/n")
        check("delete of a parent fails", False)
    except NotEmptyError:
        check("delete of a parent: NotEmptyError", True)
    check("children", a.get_children("/zk-e2e/n") == ["c1"])
    a.delete("/zk-e2e/n", recursive=True)
    check("deleted", a.exists("/zk-e2e/n") is None)
    try:
        a.get("/zk-e2e/missing")
        check("get of a missing node fails", False)
    except NoNodeError:
        check("get of a missing node: NoNodeError", True)

    # sequential and ephemeral
    a.create("/zk-e2e/sq")
    a.create("/zk-e2e/sq/x")
    a.delete("/zk-e2e/sq/x")
    s1 = a.create("/zk-e2e/sq/seq-", b"", sequence=True)
    s2 = a.create("/zk-e2e/sq/seq-", b"", sequence=True)
    # The suffix is the parent's cversion (two child changes before): 10 digits.
    check("sequential names",
          s1 == "/zk-e2e/sq/seq-0000000002" and s2 == "/zk-e2e/sq/seq-0000000003")
    a.create("/zk-e2e/eph", b"", ephemeral=True)
    b.sync("/zk-e2e")
    _, st = b.get("/zk-e2e/eph")
    check("ephemeral owner", st.ephemeralOwner == a.client_id[0])

    # a watch set on one replica fires on a write through another
    fired = threading.Event()
    events = []
    a.get("/zk-e2e/sq/seq-0000000002", watch=lambda e: (events.append(e), fired.set()))
    b.set("/zk-e2e/sq/seq-0000000002", b"changed")
    check("data watch fired", fired.wait(TIMEOUT) and events[0].type == "CHANGED")
    child_fired = threading.Event()
    a.get_children("/zk-e2e", watch=lambda e: child_fired.set())
    b.create("/zk-e2e/new-child")
    check("child watch fired", child_fired.wait(TIMEOUT))

    # multi: all or nothing, per-op results
    t = a.transaction()
    t.create("/zk-e2e/m1", b"x")
    t.check("/zk-e2e/sq/seq-0000000002", version=7)
    results = t.commit()
    check("failed multi: rolled back + bad version",
          isinstance(results[0], RolledBackError) and isinstance(results[1], BadVersionError))
    check("failed multi changed nothing", a.exists("/zk-e2e/m1") is None)
    t = a.transaction()
    t.create("/zk-e2e/m1", b"x")
    t.set_data("/zk-e2e/sq/seq-0000000002", b"y")
    t.delete("/zk-e2e/sq/seq-0000000003")
    results = t.commit()
    check("multi results", results[0] == "/zk-e2e/m1" and results[1].version == 2 and
          results[2] is True)

    check_auth_and_acls(a, b, r1, r2, r3)
    check_watch_requests(a, r2, r3)
    check_multi_read(a, r1)
    check_four_letter_words(a, r1, r3)
    check_metrics(r2, m2)

    # a session resumed on another replica keeps its ephemeral
    out = subprocess.run([sys.executable, __file__, "--hold", r1], capture_output=True,
                         text=True, timeout=60)
    sid, pwd = out.stdout.split()
    sid = int(sid)
    c = client(r2, client_id=(sid, bytes.fromhex(pwd)))
    check("session resumed on another replica", c.client_id[0] == sid)
    c.sync("/zk-e2e")
    _, st = c.get("/zk-e2e/held")
    check("resumed session keeps its ephemeral", st.ephemeralOwner == sid)
    # closeSession removes it at once
    c.stop()
    c.close()
    b.sync("/zk-e2e")
    check("closeSession removed the ephemeral", b.exists("/zk-e2e/held") is None)
    # the same id and password again: the session is gone
    # The same id and password again: the server answers "expired" (timeout
    # 0); kazoo logs "Session has expired" and opens a new session, its
    # initial state being LOST already (so no listener call to wait for).
    d = client(r3, client_id=(sid, bytes.fromhex(pwd)))
    check("closed session is expired (a new one was opened)", d.client_id[0] != sid)
    d.stop()
    d.close()

    # an oversized frame closes only that connection
    e = client(r3)
    s = socket.create_connection(tuple(r3.rsplit(":", 1)[0:1]) + (int(r3.rsplit(":", 1)[1]),),
                                 timeout=TIMEOUT)
    s.sendall(struct.pack(">i", 8 << 20) + b"\0" * 1024)
    closed = False
    try:
        closed = s.recv(1) == b""
    except ConnectionResetError:
        closed = True
    check("oversized frame closes its connection", closed)
    check("other connections keep working", e.exists("/zk-e2e") is not None)
    e.stop()
    e.close()

    a.delete("/zk-e2e", recursive=True)
    a.stop()
    b.stop()
    a.close()
    b.close()
    print("all kazoo checks passed", flush=True)


if __name__ == "__main__":
    if sys.argv[1] == "--hold":
        hold(sys.argv[2])
    main(*sys.argv[1:5])
