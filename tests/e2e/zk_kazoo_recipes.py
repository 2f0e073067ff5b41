#!/usr/bin/python3
"""Runs kazoo's recipes (python3-kazoo), unchanged, against Synod's
ZooKeeper port: lock (and read/write locks, semaphore), election, barrier,
double barrier, counter, queue, locking queue, party, shallow party, set
partitioner, DataWatch, ChildrenWatch and TreeCache. Clients are spread over the three replicas, so every
recipe also relies on watches and writes crossing replicas.

Usage: zk_kazoo_recipes.py HOST:PORT HOST:PORT HOST:PORT

Exits 0 when every check passed, 1 at the first failure; prints each check
as it passes. Every wait is bounded.
"""
import sys
import threading

from kazoo.exceptions import LockTimeout
from kazoo.recipe.cache import TreeCache, TreeEvent

from zk_check import TIMEOUT, check, client

ROOT = "/recipes-e2e"


def bounded_thread(target, *args):
    t = threading.Thread(target=target, args=args, daemon=True)
    t.start()
    return t


def check_locks(a, b, c):
    la = a.Lock(ROOT + "/lock", "a")
    lb = b.Lock(ROOT + "/lock", "b")
    check("lock: first acquire", la.acquire(timeout=TIMEOUT))
    try:
        lb.acquire(timeout=0.5)
        check("lock: second acquire while held times out", False)
    except LockTimeout:
        check("lock: second acquire while held times out", True)
    check("lock: contenders", la.contenders() == ["a"])
    got = threading.Event()

    def take():
        if lb.acquire(timeout=TIMEOUT):
            got.set()
    t = bounded_thread(take)
    # b waits on a's node through a watch on another replica.
    check("lock: waiter is queued", wait_until(lambda: la.contenders() == ["a", "b"]))
    la.release()
    check("lock: waiter gets it on release", got.wait(TIMEOUT))
    t.join(TIMEOUT)
    lb.release()
    check("lock: released nodes are gone", a.get_children(ROOT + "/lock") == [])

    # Read/write locks: readers share, a writer excludes.
    r1 = a.ReadLock(ROOT + "/rw", "r1")
    r2 = b.ReadLock(ROOT + "/rw", "r2")
    w = c.WriteLock(ROOT + "/rw", "w")
    check("read lock 1", r1.acquire(timeout=TIMEOUT))
    check("read lock 2 shares", r2.acquire(timeout=TIMEOUT))
    try:
        w.acquire(timeout=0.5)
        check("write lock waits for readers", False)
    except LockTimeout:
        check("write lock waits for readers", True)
    r1.release()
    r2.release()
    check("write lock after readers left", w.acquire(timeout=TIMEOUT))
    w.release()

    # Semaphore with two leases.
    s1 = a.Semaphore(ROOT + "/sem", "s1", max_leases=2)
    s2 = b.Semaphore(ROOT + "/sem", "s2", max_leases=2)
    s3 = c.Semaphore(ROOT + "/sem", "s3", max_leases=2)
    check("semaphore: two leases", s1.acquire(timeout=TIMEOUT) and s2.acquire(timeout=TIMEOUT))
    check("semaphore: lease holders", sorted(s3.lease_holders()) == ["s1", "s2"])
    check("semaphore: third waits", not s3.acquire(blocking=False))
    s1.release()
    check("semaphore: third after a release", s3.acquire(timeout=TIMEOUT))
    s2.release()
    s3.release()


def wait_until(cond, timeout=TIMEOUT):
    event = threading.Event()
    for _ in range(int(timeout / 0.05)):
        if cond():
            return True
        event.wait(0.05)
    return cond()


def check_election(a, b):
    leaders = []
    done = {"a": threading.Event(), "b": threading.Event()}
    resign = {"a": threading.Event(), "b": threading.Event()}

    def lead(name):
        leaders.append(name)
        resign[name].wait(TIMEOUT)
        done[name].set()
    ea = a.Election(ROOT + "/election", "a")
    eb = b.Election(ROOT + "/election", "b")
    ta = bounded_thread(ea.run, lead, "a")
    check("election: first candidate leads", wait_until(lambda: leaders == ["a"]))
    tb = bounded_thread(eb.run, lead, "b")
    check("election: contenders in order",
          wait_until(lambda: eb.contenders() == ["a", "b"]))
    check("election: one leader at a time", leaders == ["a"])
    resign["a"].set()
    check("election: next candidate leads after resignation",
          wait_until(lambda: leaders == ["a", "b"]))
    resign["b"].set()
    ta.join(TIMEOUT)
    tb.join(TIMEOUT)
    check("election: both runs returned", not ta.is_alive() and not tb.is_alive())


def check_barriers(a, b, c):
    barrier = a.Barrier(ROOT + "/barrier")
    barrier.create()
    check("barrier: wait while up times out", not b.Barrier(ROOT + "/barrier").wait(0.5))
    passed = threading.Event()
    t = bounded_thread(lambda: b.Barrier(ROOT + "/barrier").wait(TIMEOUT) and passed.set())
    barrier.remove()
    check("barrier: waiter passes when removed", passed.wait(TIMEOUT))
    t.join(TIMEOUT)

    # Double barrier for three: nobody enters before all three arrive,
    # nobody leaves before all three leave.
    entered = []
    left = []
    lock = threading.Lock()

    def member(cl, name):
        db = cl.DoubleBarrier(ROOT + "/double", 3, identifier=name)
        db.enter()
        with lock:
            entered.append(name)
        db.leave()
        with lock:
            left.append(name)
    a.ensure_path(ROOT + "/double")
    threads = [bounded_thread(member, a, "a"), bounded_thread(member, b, "b")]
    check("double barrier: two of three wait to enter",
          wait_until(lambda: len(a.get_children(ROOT + "/double")) == 2) and entered == [])
    threads.append(bounded_thread(member, c, "c"))
    for t in threads:
        t.join(TIMEOUT)
    check("double barrier: all three entered and left",
          sorted(entered) == ["a", "b", "c"] and sorted(left) == ["a", "b", "c"])


def check_counter(a, b):
    ca = a.Counter(ROOT + "/counter")
    cb = b.Counter(ROOT + "/counter")
    ca += 5
    check("counter: add", ca.value == 5)
    # Concurrent increments through two replicas: each retries on
    # BadVersion, none is lost.
    n = 20

    def bump(counter):
        for _ in range(n):
            counter += 1
    ts = [bounded_thread(bump, ca), bounded_thread(bump, cb)]
    for t in ts:
        t.join(TIMEOUT * 2)
    check("counter: concurrent increments", a.Counter(ROOT + "/counter").value == 5 + 2 * n)
    cb -= 3
    check("counter: subtract", ca.value == 2 + 2 * n)
    fc = a.Counter(ROOT + "/fcounter", default=0.0)
    fc += 1.5
    check("counter: float", fc.value == 1.5)


def check_queues(a, b):
    qa = a.Queue(ROOT + "/queue")
    qb = b.Queue(ROOT + "/queue")
    qa.put(b"one")
    qa.put(b"two")
    qa.put(b"urgent", priority=10)
    qa.put(b"first", priority=1)
    check("queue: length", len(qb) == 4)
    got = [qb.get() for _ in range(4)]
    check("queue: priority then FIFO order", got == [b"first", b"urgent", b"one", b"two"])
    check("queue: empty", qb.get() is None)

    la = a.LockingQueue(ROOT + "/lqueue")
    lb = b.LockingQueue(ROOT + "/lqueue")
    la.put_all([b"x", b"y"])
    la.put(b"z", priority=0)
    check("locking queue: length", len(lb) == 3)
    item = lb.get(timeout=TIMEOUT)
    check("locking queue: get the first", item == b"z" and lb.holds_lock())
    # Taken but not consumed: another consumer gets the next one.
    other = la.get(timeout=TIMEOUT)
    check("locking queue: another consumer skips a taken item", other == b"x")
    check("locking queue: release puts it back", lb.release() and len(la) == 3)
    check("locking queue: consume", la.consume() and len(la) == 2)
    check("locking queue: the released item again", lb.get(timeout=TIMEOUT) == b"z")
    check("locking queue: consume it", lb.consume())
    check("locking queue: the last one", lb.get(timeout=TIMEOUT) == b"y" and lb.consume())
    check("locking queue: get on empty times out", lb.get(timeout=0.5) is None)
    waiter = {}
    t = bounded_thread(lambda: waiter.setdefault("item", lb.get(timeout=TIMEOUT)))
    la.put(b"late")
    t.join(TIMEOUT)
    check("locking queue: a waiting get sees a later put", waiter.get("item") == b"late")
    check("locking queue: consume the late item", lb.consume())


def check_party(a, b, c):
    pa = a.Party(ROOT + "/party", "a")
    pb = b.Party(ROOT + "/party", "b")
    pa.join()
    pb.join()
    c.sync(ROOT)
    check("party: members", sorted(c.Party(ROOT + "/party")) == ["a", "b"])
    check("party: len", len(c.Party(ROOT + "/party")) == 2)
    pa.leave()
    c.sync(ROOT)
    check("party: after leave", list(c.Party(ROOT + "/party")) == ["b"])
    pb.leave()
    sa = a.ShallowParty(ROOT + "/shallow", "a")
    sb = b.ShallowParty(ROOT + "/shallow", "b")
    sa.join()
    sb.join()
    c.sync(ROOT)
    check("shallow party: members", sorted(c.ShallowParty(ROOT + "/shallow")) == ["a", "b"])
    sa.leave()
    sb.leave()


def check_partitioner(a, b):
    items = ["p%d" % i for i in range(6)]
    pa = a.SetPartitioner(ROOT + "/partition", set=items, identifier="a", time_boundary=0.3)
    pb = b.SetPartitioner(ROOT + "/partition", set=items, identifier="b", time_boundary=0.3)

    def settle(*ps):
        for _ in range(100):
            for p in ps:
                if p.failed:
                    return False
                if p.release:
                    p.release_set()
                elif p.allocating:
                    p.wait_for_acquire(timeout=TIMEOUT)
            if all(p.acquired for p in ps):
                return True
        return False
    check("partitioner: both acquire", settle(pa, pb))
    sa, sb = set(pa), set(pb)
    check("partitioner: a split of the whole set",
          sa | sb == set(items) and not sa & sb and sa and sb)
    pb.finish()
    # The party's change (a child watch) moves the survivor out of ACQUIRED.
    check("partitioner: the survivor sees the party change",
          wait_until(lambda: not pa.acquired))
    check("partitioner: the survivor takes over",
          settle(pa) and set(pa) == set(items))
    pa.finish()


def check_watchers_and_cache(a, b):
    path = ROOT + "/watched"
    seen_data = []
    seen_children = []
    # DataWatch and ChildrenWatch read again on each event: a change made
    # before that read is seen merged with the next, so wait for each.
    a.DataWatch(path, lambda data, stat: seen_data.append(data))
    check("DataWatch: called for a missing node", wait_until(lambda: seen_data == [None]))
    b.create(path, b"1")
    check("DataWatch: the create", wait_until(lambda: seen_data == [None, b"1"]))
    b.set(path, b"2")
    check("DataWatch: the change", wait_until(lambda: seen_data == [None, b"1", b"2"]))
    a.ChildrenWatch(path, lambda children: seen_children.append(sorted(children)))
    b.create(path + "/k1")
    check("ChildrenWatch: a child", wait_until(lambda: seen_children == [[], ["k1"]]))
    b.create(path + "/k2")
    check("ChildrenWatch: another",
          wait_until(lambda: seen_children == [[], ["k1"], ["k1", "k2"]]))

    events = []
    cache = TreeCache(a, path)
    cache.listen(lambda e: events.append((e.event_type, e.event_data and e.event_data.path)))
    cache.start()
    check("TreeCache: initialized",
          wait_until(lambda: (TreeEvent.INITIALIZED, None) in events))
    check("TreeCache: the tree", sorted(cache.get_children(path) or []) == ["k1", "k2"] and
          cache.get_data(path).data == b"2")
    b.set(path + "/k1", b"x")
    b.delete(path + "/k2")
    b.create(path + "/k3", b"y")
    check("TreeCache: sees changes made through another replica", wait_until(
        lambda: (TreeEvent.NODE_ADDED, path + "/k3") in events))
    check("TreeCache: the tree after",
          cache.get_data(path + "/k1").data == b"x" and cache.get_data(path + "/k2") is None and
          cache.get_data(path + "/k3").data == b"y")
    check("TreeCache: events", (TreeEvent.NODE_UPDATED, path + "/k1") in events and
          (TreeEvent.NODE_REMOVED, path + "/k2") in events)
    cache.close()


def main(r1, r2, r3):
    a = client(r1)
    b = client(r2)
    c = client(r3)
    if a.exists(ROOT):  # left by an earlier run against the same cluster
        a.delete(ROOT, recursive=True)
    a.ensure_path(ROOT)
    check_locks(a, b, c)
    check_election(a, b)
    check_barriers(a, b, c)
    check_counter(a, b)
    check_queues(a, b)
    check_party(a, b, c)
    check_partitioner(a, b)
    check_watchers_and_cache(a, b)
    a.delete(ROOT, recursive=True)
    for cl in (a, b, c):
        cl.stop()
        cl.close()
    print("all kazoo recipe checks passed", flush=True)


if __name__ == "__main__":
    main(*sys.argv[1:4])
