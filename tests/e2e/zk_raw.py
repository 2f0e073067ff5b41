"""A bare ZooKeeper client connection (length-prefixed jute frames), for
what kazoo has no call for: whoAmI, sasl, an auth scheme the server does not
know, requests kazoo would not send."""
import socket
import struct

from zk_check import TIMEOUT


def recv_exact(s, n):
    out = b""
    while len(out) < n:
        part = s.recv(n - len(out))
        if not part:
            return None
        out += part
    return out


def jute_string(b):
    return struct.pack(">i", len(b)) + b


class Raw:
    """A bare ZooKeeper connection, for what kazoo has no call for (whoAmI,
    sasl, an auth scheme the server does not know)."""

    def __init__(self, host):
        h, p = host.rsplit(":", 1)
        self.s = socket.create_connection((h, int(p)), timeout=TIMEOUT)
        # ConnectRequest: protocolVersion, lastZxidSeen, timeOut, sessionId,
        # passwd, readOnly.
        self.send(struct.pack(">iqiq", 0, 0, 10000, 0) + jute_string(b"\0" * 16) + b"\0")
        self.recv()

    def send(self, body):
        self.s.sendall(struct.pack(">i", len(body)) + body)

    def recv(self):
        head = recv_exact(self.s, 4)
        if head is None:
            return None
        return recv_exact(self.s, struct.unpack(">i", head)[0])

    events = None  # (type, path) of the notifications read so far
    zxid = 0  # of the last reply

    def call(self, xid, op, body=b""):
        """Returns (err, reply body), or None if the server closed."""
        self.send(struct.pack(">ii", xid, op) + body)
        while True:
            reply = self.read_one()
            if reply is None:
                return None
            if reply[0] == xid:
                return reply[1], reply[2]

    def read_one(self):
        """The next reply as (xid, err, body); notifications go to events."""
        reply = self.recv()
        if reply is None:
            return None
        rxid, self.zxid, err = struct.unpack(">iqi", reply[:16])
        if rxid == -1:
            etype, _, size = struct.unpack(">iii", reply[16:28])
            self.events = (self.events or []) + [(etype, reply[28:28 + size].decode())]
        return rxid, err, reply[16:]

    def next_events(self, n):
        """The next n notifications (blocking reads, each bounded)."""
        while len(self.events or []) < n:
            if self.read_one() is None:
                return None
        taken, self.events = self.events[:n], self.events[n:]
        return taken

    def auth(self, scheme, credential):
        return self.call(-4, 100, struct.pack(">i", 0) + jute_string(scheme.encode()) +
                         jute_string(credential.encode()))

    def whoami(self):
        err, body = self.call(1, 107)
        n = struct.unpack(">i", body[:4])[0]
        pos, infos = 4, []
        for _ in range(n):
            fields = []
            for _ in range(2):
                size = struct.unpack(">i", body[pos:pos + 4])[0]
                fields.append(body[pos + 4:pos + 4 + size].decode())
                pos += 4 + size
            infos.append(tuple(fields))
        return err, infos

    def closed(self):
        try:
            return self.s.recv(1) == b""
        except ConnectionResetError:
            return True
