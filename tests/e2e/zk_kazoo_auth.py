"""The ZooKeeper port's ACLs and digest auth, checked with kazoo and raw
frames as against ZooKeeper 3.8 (zk_kazoo.py runs them)."""
import struct
import threading

from kazoo.exceptions import BadVersionError, InvalidACLError, NoAuthError
from kazoo.security import ACL, Id, Permissions, make_acl, make_digest_acl

from zk_check import TIMEOUT, check, client
from zk_raw import Raw, jute_string


def check_auth_and_acls(a, b, r1, r2, r3):
    """ACLs and digest auth, as against ZooKeeper 3.8."""
    alice = client(r1)
    alice.add_auth("digest", "alice:secret")
    mine = [make_digest_acl("alice", "secret", all=True)]
    alice.create("/zk-e2e/acl", b"private", acl=mine)
    acls, st = alice.get_acls("/zk-e2e/acl")
    check("getACL: the digest ACL and its stat", acls == mine and st.aversion == 0 and
          st.dataLength == 7)
    b.sync("/zk-e2e")
    for what, op in [("get", lambda: b.get("/zk-e2e/acl")),
                     ("set", lambda: b.set("/zk-e2e/acl", b"x")),
                     ("create child", lambda: b.create("/zk-e2e/acl/c")),
                     ("getACL", lambda: b.get_acls("/zk-e2e/acl"))]:
        try:
            op()
            check("%s without auth fails" % what, False)
        except NoAuthError:
            check("%s without auth: NoAuthError" % what, True)
    # A watch is for the identities that set it: alice's sees the change.
    fired = threading.Event()
    alice.get("/zk-e2e/acl", watch=lambda e: fired.set())
    check("get with auth", alice.get("/zk-e2e/acl")[0] == b"private")
    check("set with auth", alice.set("/zk-e2e/acl", b"mine").version == 1)
    check("watch with auth fires on a protected node", fired.wait(TIMEOUT))
    raw = Raw(r1)
    count = raw.call(1, 104, jute_string(b"/zk-e2e/acl"))
    check("getAllChildrenNumber without auth: NoAuth", count[0] == -102 and count[1] == b"")
    raw.auth("digest", "alice:secret")
    check("getAllChildrenNumber with auth",
          raw.call(2, 104, jute_string(b"/zk-e2e/acl")) == (0, struct.pack(">i", 0)))
    # An empty ACL list (kazoo always sends one entry or more): InvalidACL,
    # for create (path, data, acl, flags) and setACL (path, acl, version).
    check("create with an empty ACL: InvalidACL",
          raw.call(3, 1, jute_string(b"/zk-e2e/empty") + jute_string(b"") +
                   struct.pack(">ii", 0, 0)) == (-114, b""))
    check("setACL with an empty ACL: InvalidACL",
          raw.call(4, 7, jute_string(b"/zk-e2e/acl") + struct.pack(">ii", 0, -1)) ==
          (-114, b""))
    # The session was opened before addauth: writes through it, ephemerals
    # included, still work.
    alice.create("/zk-e2e/acl/eph", b"", ephemeral=True, acl=mine)
    _, st = alice.get("/zk-e2e/acl/eph")
    check("ephemeral after addauth", st.ephemeralOwner == alice.client_id[0])
    try:
        b.delete("/zk-e2e/acl/eph")
        check("delete without auth fails", False)
    except NoAuthError:
        check("delete without auth: NoAuthError", True)
    alice.delete("/zk-e2e/acl/eph")

    # setACL: by aversion.
    readable = mine + [make_acl("world", "anyone", read=True)]
    try:
        alice.set_acls("/zk-e2e/acl", readable, version=3)
        check("setACL with a stale aversion fails", False)
    except BadVersionError:
        check("setACL with a stale aversion: BadVersionError", True)
    st = alice.set_acls("/zk-e2e/acl", readable, version=0)
    check("setACL bumps aversion", st.aversion == 1)
    try:
        b.set_acls("/zk-e2e/acl", [make_acl("world", "anyone", all=True)])
        check("setACL without admin fails", False)
    except NoAuthError:
        check("setACL without admin: NoAuthError", True)
    b.sync("/zk-e2e")
    check("world read after setACL", b.get("/zk-e2e/acl")[0] == b"mine")
    acls, _ = b.get_acls("/zk-e2e/acl")
    # Read without admin: ZooKeeper 3.8 hides the digest's hash.
    check("getACL without admin hides digests",
          acls[0].id.scheme == "digest" and acls[0].id.id == "alice:x" and
          acls[1] == readable[1])
    try:
        b.set("/zk-e2e/acl", b"x")
        check("world still may not write", False)
    except NoAuthError:
        check("world still may not write: NoAuthError", True)

    # Bad ACLs.
    for what, op in [
            ("unknown scheme", lambda: alice.create(
                "/zk-e2e/bad", acl=[ACL(Permissions.ALL, Id("nosuch", "x"))])),
            ("malformed digest", lambda: alice.set_acls(
                "/zk-e2e/acl", [ACL(Permissions.ALL, Id("digest", "alice"))])),
            ("auth without identity", lambda: b.create(
                "/zk-e2e/bad", acl=[make_acl("auth", "", all=True)]))]:
        try:
            op()
            check("%s: fails" % what, False)
        except InvalidACLError:
            check("%s: InvalidACLError" % what, True)
    check("bad ACLs changed nothing", a.exists("/zk-e2e/bad") is None and
          alice.get_acls("/zk-e2e/acl")[1].aversion == 1)
    # A multi's create carries its ACL too.
    t = alice.transaction()
    t.create("/zk-e2e/acl-multi", b"m", acl=mine)
    check("multi create with an ACL", t.commit() == ["/zk-e2e/acl-multi"] and
          alice.get_acls("/zk-e2e/acl-multi")[0] == mine)
    b.sync("/zk-e2e")
    try:
        b.get("/zk-e2e/acl-multi")
        check("multi-created node is protected", False)
    except NoAuthError:
        check("multi-created node is protected: NoAuthError", True)
    alice.delete("/zk-e2e/acl-multi")
    # "auth" stands for the caller's identities (not its address).
    alice.create("/zk-e2e/by-auth", acl=[make_acl("auth", "", all=True)])
    check("auth ACL becomes the digest", alice.get_acls("/zk-e2e/by-auth")[0] == mine)

    # The superuser digest (--superuser_digest super:duper).
    root = client(r3)
    root.add_auth("digest", "super:duper")
    root.sync("/zk-e2e")
    check("superuser reads", root.get("/zk-e2e/acl")[0] == b"mine")
    root.delete("/zk-e2e/by-auth")
    root.delete("/zk-e2e/acl")
    a.sync("/zk-e2e")
    check("superuser deletes", a.exists("/zk-e2e/acl") is None)
    root.stop()
    root.close()
    alice.stop()
    alice.close()

    # whoAmI, sasl and auth schemes, on a bare connection.
    raw = Raw(r2)
    check("whoAmI: the address", raw.whoami() == (0, [("ip", "127.0.0.1")]))
    # ZooKeeper keeps a connection's identities in a set: compared as one.
    check("addauth ip succeeds", raw.auth("ip", "anything")[0] == 0)
    check("addauth digest", raw.auth("digest", "bob:pw")[0] == 0)
    check("addauth super", raw.auth("digest", "super:duper")[0] == 0)
    err, infos = raw.whoami()
    check("whoAmI: every identity, once", err == 0 and sorted(infos) == sorted([
        ("ip", "127.0.0.1"), ("digest", "bob"), ("super", ""), ("digest", "super")]))
    err, body = raw.call(2, 102, jute_string(b""))
    check("sasl without SASL configured: OK, no token", err == 0 and body == b"\xff\xff\xff\xff")
    check("unknown scheme: AuthFailed", raw.auth("kerberos", "x") == (-115, b""))
    check("unknown scheme closes the connection", raw.closed())
