"""
Connection-level IMAP commands (RFC 3501 6.1, 6.2; RFC 4959 SASL-IR; RFC 2595 STARTTLS):
CAPABILITY, NOOP, LOGOUT, STARTTLS, AUTHENTICATE PLAIN, LOGIN, and commands in
the wrong state. Driven through imaplib and, where imaplib hides bytes, a raw socket.
"""
import base64
import imaplib
import ssl

import pytest

from conftest import ALICE
from lib.helpers import capabilities
from lib.imapwire import Raw, quote

REQUIRED = {"IMAP4REV1", "IDLE", "UIDPLUS", "MOVE", "UNSELECT", "NAMESPACE", "ID", "ENABLE",
            "CHILDREN", "SPECIAL-USE", "LITERAL+", "SASL-IR", "AUTH=PLAIN"}
# Before login a server may advertise less (RFC 3501 7.2.1: clients ask again after
# login); what a client needs to log in must be there.
REQUIRED_PREAUTH = {"IMAP4REV1", "LITERAL+", "SASL-IR", "AUTH=PLAIN", "ID"}


def tls_ctx(server):
    ctx = ssl.create_default_context(cafile=server.cert)
    ctx.check_hostname = True
    return ctx


def caps_of(raw):
    r = raw.cmd("CAPABILITY")
    assert r.ok(), r
    lines = r.of("CAPABILITY")
    assert len(lines) == 1, "CAPABILITY must answer exactly one untagged CAPABILITY: %r" % r.untagged
    return capabilities(lines[0])


def appendlimit(caps):
    lim = [c for c in caps if c.startswith("APPENDLIMIT=")]
    assert len(lim) == 1, "APPENDLIMIT=<n> must be advertised once: %r" % sorted(caps)
    return int(lim[0].split("=", 1)[1])


def test_greeting_is_ok_untagged(connect):
    r = connect()
    assert r.greeting.startswith(b"* OK"), r.greeting


def test_capability_plaintext_port_lists_required_set_and_starttls(connect):
    caps = caps_of(connect())
    missing = REQUIRED_PREAUTH - caps
    assert not missing, "not advertised: %s (got %s)" % (sorted(missing), sorted(caps))
    assert "STARTTLS" in caps
    # plaintext auth from loopback is allowed by default: no LOGINDISABLED here
    assert "LOGINDISABLED" not in caps


def test_capability_after_login_keeps_required_set(connect):
    caps = caps_of(connect(ALICE))
    missing = (REQUIRED - {"AUTH=PLAIN", "SASL-IR"}) - caps
    assert not missing, "not advertised after login: %s (got %s)" % (sorted(missing), sorted(caps))
    assert appendlimit(caps) > 0
    assert "STARTTLS" not in caps, "STARTTLS is not valid once authenticated (RFC 3501 6.2.1)"


def test_capability_via_imaplib(server):
    m = imaplib.IMAP4(server.host, server.imap_port, timeout=20)
    try:
        typ, data = m.capability()
        assert typ == "OK"
        caps = {c.upper() for c in data[0].decode().split()}
        assert not REQUIRED_PREAUTH - caps, sorted(REQUIRED_PREAUTH - caps)
    finally:
        m.logout()


def test_capability_implicit_tls_has_no_starttls(server):
    with Raw(server.host, server.imaps_port, tls=True, ctx=tls_ctx(server), server_hostname="localhost") as r:
        caps = caps_of(r)
        assert "STARTTLS" not in caps, sorted(caps)
        assert not REQUIRED_PREAUTH - caps, sorted(REQUIRED_PREAUTH - caps)


def test_noop_answers_ok_in_every_state(connect, server):
    r = connect()
    assert r.cmd("NOOP").ok()
    r.login(ALICE, server.users[ALICE])
    assert r.cmd("NOOP").ok()
    assert r.cmd("SELECT INBOX").ok()
    assert r.cmd("NOOP").ok()


def test_logout_sends_bye_then_ok_then_closes(connect):
    r = connect(ALICE)
    resp = r.cmd("LOGOUT")
    assert resp.ok(), resp
    assert any(u.upper().startswith(b"BYE") for u in resp.untagged), \
        "LOGOUT must send an untagged BYE before the tagged OK: %r" % resp.untagged
    r.settimeout(5)
    try:
        rest = r.sock.recv(100)
    except OSError:
        rest = b""
    assert rest == b"", "connection must close after LOGOUT, got %r" % rest


def test_logout_before_login(connect):
    r = connect()
    resp = r.cmd("LOGOUT")
    assert resp.ok() and resp.of("BYE"), resp


def test_starttls_then_login_over_tls_and_no_starttls_capability(server):
    r = Raw(server.host, server.imap_port)
    try:
        resp = r.cmd("STARTTLS")
        assert resp.ok(), resp
        r.starttls(tls_ctx(server), "localhost")
        caps = caps_of(r)
        assert "STARTTLS" not in caps, "STARTTLS advertised after TLS: %s" % sorted(caps)
        assert "AUTH=PLAIN" in caps
        r.login(ALICE, server.users[ALICE])
        assert r.cmd("SELECT INBOX").ok()
        again = r.cmd("STARTTLS")
        assert again.status in ("BAD", "NO"), "second STARTTLS: %r" % again.tagged
        r.logout()
    finally:
        r.close()


def test_starttls_via_imaplib(server):
    m = imaplib.IMAP4(server.host, server.imap_port, timeout=20)
    try:
        typ, _ = m.starttls(ssl_context=tls_ctx(server))
        assert typ == "OK"
        typ, _ = m.login(ALICE, server.users[ALICE])
        assert typ == "OK"
        typ, data = m.select("INBOX")
        assert typ == "OK"
    finally:
        m.logout()


def test_starttls_discards_commands_pipelined_before_handshake(server):
    """RFC 2595 / CVE-2011-0411: plaintext sent after STARTTLS must not be executed."""
    r = Raw(server.host, server.imap_port)
    try:
        r.send(b"S1 STARTTLS\r\nS2 NOOP\r\n")
        line = r.read_response()
        while line.startswith(b"* "):
            line = r.read_response()
        assert line.startswith(b"S1 OK"), line
        # The server may or may not have read S2 yet. Either it drops those bytes and
        # the handshake works, or it feeds them to TLS and the handshake fails (Dovecot
        # does that); executing S2 is the one wrong answer.
        r.buf = b""
        try:
            r.starttls(tls_ctx(server), "localhost")
        except (ssl.SSLError, ConnectionError, OSError):
            return
        resp = r.cmd("NOOP", tag="S3")
        assert resp.ok()
        assert not any(b"S2" in u for u in resp.untagged), resp.untagged
    finally:
        r.close()


def test_starttls_after_login_is_refused(connect):
    r = connect(ALICE)
    resp = r.cmd("STARTTLS")
    assert resp.status in ("BAD", "NO"), resp.tagged
    assert r.cmd("NOOP").ok()


def _plain(user, pw):
    return base64.b64encode(b"\0" + user.encode() + b"\0" + pw.encode()).decode()


def test_authenticate_plain_with_sasl_ir(connect, server):
    r = connect()
    resp = r.cmd("AUTHENTICATE PLAIN " + _plain(ALICE, server.users[ALICE]))
    assert resp.ok(), resp.tagged
    assert r.cmd("SELECT INBOX").ok()


def test_authenticate_plain_with_continuation(connect, server):
    r = connect()
    r.send(b"P1 AUTHENTICATE PLAIN\r\n")
    cont = r.read_response()
    assert cont.startswith(b"+"), "expected a continuation request, got %r" % cont
    r.send(_plain(ALICE, server.users[ALICE]).encode() + b"\r\n")
    resp = r.read_until_tag("P1")
    assert resp.ok(), resp.tagged
    assert r.cmd("SELECT INBOX").ok()


def test_authenticate_plain_via_imaplib(server):
    m = imaplib.IMAP4(server.host, server.imap_port, timeout=20)
    try:
        pw = server.users[ALICE]
        typ, _ = m.authenticate("PLAIN", lambda _: b"\0" + ALICE.encode() + b"\0" + pw.encode())
        assert typ == "OK"
        assert m.select("INBOX")[0] == "OK"
    finally:
        m.logout()


def test_authenticate_cancelled_with_star_is_bad(connect):
    r = connect()
    r.send(b"P2 AUTHENTICATE PLAIN\r\n")
    cont = r.read_response()
    assert cont.startswith(b"+"), cont
    r.send(b"*\r\n")
    resp = r.read_until_tag("P2")
    assert resp.status == "BAD", "RFC 3501 6.2.2: a cancelled exchange is answered BAD: %r" % resp.tagged
    assert r.cmd("NOOP").ok()


def test_authenticate_unknown_mechanism_is_refused(connect):
    r = connect()
    resp = r.cmd("AUTHENTICATE X-NOSUCH-MECH")
    assert resp.status in ("NO", "BAD"), resp.tagged
    assert r.cmd("NOOP").ok()


def test_login_wrong_password_is_no_authenticationfailed(connect):
    r = connect(timeout=15)
    resp = r.cmd("LOGIN %s %s" % (quote(ALICE), quote("definitely-not-the-password")))
    assert resp.status == "NO", resp.tagged
    assert resp.code == "AUTHENTICATIONFAILED", resp.tagged
    assert r.cmd("SELECT INBOX").status in ("BAD", "NO"), "still not authenticated"


def test_login_unknown_user_looks_like_wrong_password(connect):
    r = connect(timeout=15)
    resp = r.cmd("LOGIN %s %s" % (quote("nobody@example.org"), quote("whatever-password-1")))
    assert resp.status == "NO" and resp.code == "AUTHENTICATIONFAILED", resp.tagged


def test_login_via_imaplib_and_wrong_password_raises(server):
    m = imaplib.IMAP4(server.host, server.imap_port, timeout=20)
    try:
        with pytest.raises(imaplib.IMAP4.error) as e:
            m.login(ALICE, "wrong-password-xyz")
        assert "AUTHENTICATIONFAILED" in str(e.value)
        typ, _ = m.login(ALICE, server.users[ALICE])
        assert typ == "OK"
    finally:
        m.logout()


def test_login_twice_is_refused(connect, server):
    r = connect(ALICE)
    resp = r.cmd("LOGIN %s %s" % (quote(ALICE), quote(server.users[ALICE])))
    assert resp.status in ("BAD", "NO"), "LOGIN in authenticated state: %r" % resp.tagged


@pytest.mark.parametrize("command", [
    "SELECT INBOX", "EXAMINE INBOX", "CREATE x", "DELETE x", "LIST \"\" *", "STATUS INBOX (MESSAGES)",
    "APPEND INBOX {1+}\r\nx", "FETCH 1 FLAGS", "STORE 1 +FLAGS (\\Seen)", "SEARCH ALL", "EXPUNGE",
    "CLOSE", "IDLE", "UID FETCH 1 FLAGS", "NAMESPACE", "ENABLE IMAP4rev1",
])
def test_command_before_login_is_refused(connect, command):
    r = connect()
    resp = r.cmd(command)
    assert resp.status in ("BAD", "NO"), "%s before LOGIN: %r" % (command, resp.tagged)
    assert r.cmd("NOOP").ok()


@pytest.mark.parametrize("command", [
    "FETCH 1 FLAGS", "STORE 1 +FLAGS (\\Seen)", "SEARCH ALL", "EXPUNGE", "CLOSE", "UID FETCH 1:* FLAGS",
    "COPY 1 INBOX", "MOVE 1 INBOX", "UID EXPUNGE 1", "UNSELECT", "CHECK",
])
def test_selected_state_command_before_select_is_refused(connect, command):
    r = connect(ALICE)
    resp = r.cmd(command)
    assert resp.status in ("BAD", "NO"), "%s before SELECT: %r" % (command, resp.tagged)
    assert r.cmd("NOOP").ok()


def test_failed_login_waits_without_holding_a_worker(tmp_path):
    """The delayed NO of a failed login comes from a timer, not a sleeping worker:
    with a single worker thread, another connection is served meanwhile, and the
    failing connection's pipelined command runs after its NO, in order."""
    import select
    import socket
    from lib.server import Server
    srv = Server(str(tmp_path / "one-worker"), extra_args=["--workers", "1"])
    srv.setup(domains=("example.org",), users={"w@example.org": "one-worker-password-1"})
    srv.start()
    try:
        a = socket.create_connection((srv.host, srv.imap_port), timeout=20)
        fa = a.makefile("rb")
        assert fa.readline().startswith(b"* OK")
        a.sendall(b"a1 LOGIN w@example.org not-the-password-1\r\na2 NOOP\r\n")
        b = socket.create_connection((srv.host, srv.imap_port), timeout=20)
        fb = b.makefile("rb")
        assert fb.readline().startswith(b"* OK")
        b.sendall(b"b1 NOOP\r\n")
        assert fb.readline().startswith(b"b1 OK")
        # B was answered while A's reply is still held back.
        assert select.select([a], [], [], 0)[0] == [], "the failed login answered before the other connection"
        assert fa.readline().startswith(b"a1 NO [AUTHENTICATIONFAILED]")
        assert fa.readline().startswith(b"a2 OK")
        a.close()
        b.close()
    finally:
        assert srv.stop() == 0
