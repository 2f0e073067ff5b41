"""kazoo (python3-kazoo, SASL through python3-pure-sasl) authenticating with
DIGEST-MD5 on Synod's ZooKeeper port: run by zk_sasl_e2e_test against
replicas whose --zk_sasl_users file holds alice, bob and root (the
--zk_sasl_superuser). Usage: zk_kazoo_sasl.py ZK_ADDR_A ZK_ADDR_B"""
import sys

from kazoo.client import KazooClient
from kazoo.exceptions import AuthFailedError, NoAuthError
from kazoo.security import make_acl

from zk_check import TIMEOUT, check


def sasl_client(host, user, password):
    c = KazooClient(hosts=host, timeout=10,
                    sasl_options={"mechanism": "DIGEST-MD5", "username": user,
                                  "password": password})
    c.start(timeout=TIMEOUT)
    return c


def refused(f):
    try:
        f()
    except NoAuthError:
        return True
    return False


def main():
    a, b = sys.argv[1], sys.argv[2]
    alice = sasl_client(a, "alice", "alice-secret")
    alice.create("/kazoo-sasl", b"for alice", acl=[make_acl("sasl", "alice", all=True)])
    check("alice reads her sasl:alice node", alice.get("/kazoo-sasl")[0] == b"for alice")
    acl, _ = alice.get_acls("/kazoo-sasl")
    check("the ACL is sasl:alice", [(e.id.scheme, e.id.id) for e in acl] == [("sasl", "alice")])

    # Another replica: the same identity from the same users file.
    alice_b = sasl_client(b, "alice", "alice-secret")
    check("alice reads it through another replica",
          alice_b.get("/kazoo-sasl")[0] == b"for alice")
    alice_b.stop()

    bob = sasl_client(b, "bob", "bob-secret")
    check("bob may not read alice's node", refused(lambda: bob.get("/kazoo-sasl")))
    check("bob may not set it", refused(lambda: bob.set("/kazoo-sasl", b"bob")))
    bob.stop()

    root = sasl_client(a, "root", "root-secret")
    check("the SASL superuser reads it", root.get("/kazoo-sasl")[0] == b"for alice")
    root.delete("/kazoo-sasl")
    root.stop()

    # A wrong password: the server answers AuthFailed and closes the
    # connection, as ZooKeeper does; kazoo then fails every request.
    wrong = KazooClient(hosts=a, timeout=5,
                        sasl_options={"mechanism": "DIGEST-MD5", "username": "alice",
                                      "password": "not-her-secret"})
    failed = False
    try:
        wrong.start(timeout=8)
        wrong.get("/")
    except AuthFailedError:
        failed = True
    check("a wrong password is AuthFailed", failed)
    wrong.stop()
    alice.stop()


if __name__ == "__main__":
    main()
