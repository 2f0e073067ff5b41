#!/usr/bin/python3
"""Drives Synod's ZooKeeper port with kazoo (python3-kazoo), unchanged.

Usage: zk_kazoo.py HOST:PORT HOST:PORT HOST:PORT   (three replicas)
       zk_kazoo.py --hold HOST:PORT                (internal: see below)

Exits 0 when every check passed; prints each check as it passes. Every wait
is bounded.
"""
import socket
import struct
import subprocess
import sys
import threading

from kazoo.client import KazooClient
from kazoo.exceptions import BadVersionError, NoNodeError, NotEmptyError, RolledBackError

TIMEOUT = 15


def client(host, **kw):
    c = KazooClient(hosts=host, timeout=10, **kw)
    c.start(timeout=TIMEOUT)
    return c


def check(what, cond):
    if not cond:
        print("FAILED:", what, flush=True)
        sys.exit(1)
    print("ok:", what, flush=True)


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


def main(r1, r2, r3):
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
    main(*sys.argv[1:4])
