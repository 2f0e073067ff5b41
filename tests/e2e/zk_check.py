"""What the kazoo e2e scripts share: the bound on every wait, a started
kazoo client, and check(), which prints a passed check or exits 1 at the
first failure."""
import sys

from kazoo.client import KazooClient

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
