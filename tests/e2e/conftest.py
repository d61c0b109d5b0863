"""
conftest.py — fixtures of the Sealbox end-to-end suite.

The suite starts the real sealboxd (built in $SEALBOX_BUILD, default build/) on
free loopback ports and speaks to it with real clients: Python's imaplib, a raw
socket client (lib/imapwire.py) where exact bytes matter, and mbsync.

Fixtures:
  server        session-scoped: one data directory with domain example.org and the
                users of USERS (known passwords, set with --password-stdin); shared
                by the protocol tests. Each test works in its own folder (`mbox`) or
                its own user, so tests do not see each other's messages.
  fresh_server  function-scoped factory: make(users) -> a new, started Server in its
                own temporary directory (kill/restart, at-rest, CLI tests).
  connect       factory: connect(user=None, tls=False) -> lib.imapwire.Raw on the
                session server, logged in when `user` is given; closed at teardown.
  imap          an imaplib.IMAP4 logged in as alice (logged out at teardown).
  mbox          a new folder for this test, owned by alice; its name is returned.
  delim         the hierarchy delimiter the server announces (LIST "" "").

Teardown asserts that sealboxd exits 0 on SIGTERM (an ASan build reports leaks
through its exit status there).
"""
import imaplib
import itertools
import os
import re
import sys

import pytest

sys.path.insert(0, os.path.dirname(__file__))

from lib.server import Server  # noqa: E402
from lib.imapwire import Raw, quote  # noqa: E402

DOMAIN = "example.org"
USERS = {
    "alice@example.org": "alice-e2e-Passw0rd!x",    # most protocol tests
    "bob@example.org": "bob-e2e-Passw0rd!xyz",      # two-session / IDLE tests
    "carol@example.org": "carol-e2e-Passw0rd!z",    # INBOX rename (changes INBOX)
    "dave@example.org": "dave-e2e-Passw0rd!zz",     # LIST of the whole tree
    "sync@example.org": "sync-e2e-Passw0rd!zz",     # mbsync push/pull into INBOX
}
ALICE = "alice@example.org"


def pytest_configure(config):
    imaplib._MAXLINE = 10_000_000     # big FETCH lines are legitimate here
    # Commands imaplib 3.11 does not know; _simple_command needs their valid states.
    for name, states in (("ID", ("NONAUTH", "AUTH", "SELECTED")), ("MOVE", ("SELECTED",)),
                         ("UNSELECT", ("SELECTED",)), ("ENABLE", ("AUTH",))):
        imaplib.Commands.setdefault(name, states)


@pytest.fixture(scope="session")
def server(tmp_path_factory):
    srv = Server(str(tmp_path_factory.mktemp("sealbox")))
    srv.setup(domains=(DOMAIN,), users=USERS)
    srv.start()
    yield srv
    alive = srv.alive()
    rc = srv.stop()
    assert alive, "sealboxd died during the session; stderr tail:\n%s" % srv.log()[-3000:].decode("utf-8", "replace")
    assert rc == 0, "sealboxd exited %r on SIGTERM; stderr tail:\n%s" % (rc, srv.log()[-3000:].decode("utf-8", "replace"))


@pytest.fixture
def fresh_server(tmp_path):
    made = []
    counter = itertools.count()

    def make(users=None, domains=(DOMAIN,), start=True):
        srv = Server(str(tmp_path / ("srv%d" % next(counter))))
        srv.setup(domains=domains, users=users or {})
        if start:
            srv.start()
        made.append(srv)
        return srv

    yield make
    problems = []
    for srv in made:
        if srv.proc is None:
            continue                  # stopped or killed by the test itself
        if not srv.alive():
            rc = srv.proc.poll()
            srv.kill()
            problems.append("sealboxd in %s died (exit %r); stderr tail:\n%s" % (
                srv.workdir, rc, srv.log()[-3000:].decode("utf-8", "replace")))
            continue
        rc = srv.stop()
        if rc != 0:
            problems.append("sealboxd in %s exited %r on SIGTERM; stderr tail:\n%s" % (
                srv.workdir, rc, srv.log()[-3000:].decode("utf-8", "replace")))
    assert not problems, "\n".join(problems)


@pytest.fixture
def connect(server):
    opened = []

    def make(user=None, tls=False, srv=None, timeout=10.0):
        s = srv or server
        port = s.imaps_port if tls else s.imap_port
        r = Raw(s.host, port, tls=tls, timeout=timeout)
        opened.append(r)
        if user:
            r.login(user, s.users[user])
        return r

    yield make
    for r in opened:
        r.close()


def imaplib_login(srv, user):
    m = imaplib.IMAP4(srv.host, srv.imap_port, timeout=20)
    m.login(user, srv.users[user])
    return m


@pytest.fixture
def imap(server):
    m = imaplib_login(server, ALICE)
    yield m
    try:
        m.logout()
    except Exception:
        pass


_mbox_counter = itertools.count(1)


def _mbox_name(request):
    base = re.sub(r"[^A-Za-z0-9]+", "_", request.node.name)[:60]
    return "t%03d_%s" % (next(_mbox_counter), base)


@pytest.fixture
def mbox(server, request):
    name = _mbox_name(request)
    with Raw(server.host, server.imap_port) as r:
        r.login(ALICE, server.users[ALICE])
        resp = r.cmd("CREATE %s" % quote(name))
        assert resp.ok(), "CREATE %s: %r" % (name, resp.tagged)
        r.logout()
    return name


@pytest.fixture(scope="session")
def delim(server):
    with Raw(server.host, server.imap_port) as r:
        r.login(ALICE, server.users[ALICE])
        resp = r.cmd('LIST "" ""')
        r.logout()
    assert resp.ok(), resp
    lines = resp.of("LIST")
    assert len(lines) == 1, 'LIST "" "" must answer one line: %r' % resp.untagged
    from lib.imapwire import parse
    toks = parse(lines[0])
    d = toks[2]
    assert isinstance(d, bytes) and len(d) == 1, 'LIST "" "" delimiter: %r' % lines[0]
    return d.decode()
