"""
mx.py — helpers for the SMTP durability and interoperability tests: a daemon that
restarts on the ports it had, a test's demand for an external tool, and reading a
whole INBOX back over IMAP.

What it offers:
  SamePortsServer(workdir)   a lib.server.Server whose start() after the first one
                             listens on the same IMAP/IMAPS/SMTP ports again, so a
                             client that reconnects after a kill -9 finds the new
                             daemon where the old one was.
  require_tool(name, package) -> absolute path; fails the test (never skips) with a
                             message saying to run `scripts/deps.sh test`.
  imap_login(srv, user, timeout) -> lib.imapwire.Raw, logged in
  inbox(raw) -> {seq: raw message bytes} of INBOX (SELECT, FETCH 1:* BODY.PEEK[]);
                             asserts that every message announced by EXISTS is served.

What it promises: nothing here changes lib/server.py; SamePortsServer only decides
which ports Server.start() gets, through the module's free_port() it calls.

How it fails: AssertionError with what was expected and what came back.
"""
import os
import re
import shutil

import pytest

from lib import server as _server
from lib.helpers import select
from lib.imapwire import Raw, fetch_map
from lib.server import TIME_SCALE, Server


class SamePortsServer(Server):
    """Server.start() picks three fresh ports by calling lib.server.free_port(); after
    the first start this class hands it the ports of the first start instead (in the
    same order, so sorted() gives each service the port it had), then falls back to
    real free ports if start() ever asks for more."""

    def __init__(self, workdir):
        super().__init__(workdir)
        self.ports = None
        self.starts = 0

    def start(self):
        if self.ports is None:
            super().start()
            self.ports = (self.imap_port, self.imaps_port, self.smtp_port)
        else:
            saved = list(self.ports)
            real = _server.free_port

            def same_port():
                return saved.pop(0) if saved else real()

            _server.free_port = same_port
            try:
                super().start()
            finally:
                _server.free_port = real
            assert (self.imap_port, self.imaps_port, self.smtp_port) == self.ports, \
                "restart moved the ports: %r -> %r" % (self.ports, (self.imap_port, self.imaps_port, self.smtp_port))
        self.starts += 1


def require_tool(name, package):
    path = shutil.which(name) or next(
        (p for p in ("/usr/sbin/" + name, "/usr/bin/" + name, "/sbin/" + name) if os.access(p, os.X_OK)), None)
    if path is None:
        pytest.fail("%s (Debian package %s) is not installed: run `scripts/deps.sh test` "
                    "(CI installs it); this test is never skipped" % (name, package), pytrace=False)
    return path


def imap_login(srv, user, timeout=20.0):
    r = Raw(srv.host, srv.imap_port, timeout=timeout * TIME_SCALE)
    r.login(user, srv.users[user])
    return r


def inbox(raw):
    resp = select(raw, "INBOX")
    exists = [int(u.split()[0]) for u in resp.untagged if re.match(rb"\d+ EXISTS$", u)]
    n = exists[-1] if exists else 0
    if n == 0:
        return {}
    r = raw.cmd("FETCH 1:* BODY.PEEK[]")
    assert r.ok(), "FETCH 1:* BODY.PEEK[]: %r" % (r.tagged,)
    got = {k: v["BODY[]"] for k, v in fetch_map(r.untagged).items() if "BODY[]" in v}
    missing = sorted(set(range(1, n + 1)) - set(got))
    assert not missing, "INBOX has %d messages but these were not served: %r" % (n, missing[:20])
    return got
