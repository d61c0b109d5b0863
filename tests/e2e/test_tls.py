"""
TLS: the implicit-TLS port and STARTTLS on the plaintext port, verified against the
self-signed certificate that `sealbox init` wrote to DIR/tls/cert.pem (used as the CA).
"""
import imaplib
import socket
import ssl

import pytest

from conftest import ALICE
from lib.imapwire import Raw


def ctx_for(server):
    ctx = ssl.create_default_context(cafile=server.cert)
    ctx.check_hostname = True
    ctx.verify_mode = ssl.CERT_REQUIRED
    return ctx


def test_certificate_names_localhost_and_loopback_ip(server):
    info = ssl._ssl._test_decode_cert(server.cert)
    san = set(info.get("subjectAltName", ()))
    assert ("DNS", "localhost") in san, san
    assert ("IP Address", "127.0.0.1") in san, san


@pytest.mark.parametrize("hostname", ["localhost", "127.0.0.1"])
def test_implicit_tls_verifies_and_serves_imap(server, hostname):
    with Raw(server.host, server.imaps_port, tls=True, ctx=ctx_for(server), server_hostname=hostname) as r:
        assert r.greeting.startswith(b"* OK"), r.greeting
        assert r.sock.version() in ("TLSv1.2", "TLSv1.3"), r.sock.version()
        r.login(ALICE, server.users[ALICE])
        assert r.cmd("SELECT INBOX").ok()
        assert r.cmd("LOGOUT").ok()


def test_implicit_tls_rejects_wrong_hostname(server):
    """The certificate is checked for real: a name it does not carry fails verification."""
    with pytest.raises(ssl.SSLCertVerificationError):
        Raw(server.host, server.imaps_port, tls=True, ctx=ctx_for(server), server_hostname="not-this-host.example")


def test_implicit_tls_via_imaplib(server):
    m = imaplib.IMAP4_SSL("localhost" if _localhost_v4() else server.host, server.imaps_port,
                          ssl_context=ctx_for(server), timeout=20)
    try:
        assert m.login(ALICE, server.users[ALICE])[0] == "OK"
        assert m.select("INBOX")[0] == "OK"
        assert "STARTTLS" not in m.capabilities
    finally:
        m.logout()


def _localhost_v4():
    try:
        return any(ai[4][0] == "127.0.0.1" for ai in socket.getaddrinfo("localhost", None, socket.AF_INET))
    except OSError:
        return False


def test_starttls_port_verifies(server):
    m = imaplib.IMAP4(server.host, server.imap_port, timeout=20)
    try:
        ctx = ctx_for(server)
        # imaplib passes self.host as server_hostname: check the IP SAN here
        assert m.starttls(ssl_context=ctx)[0] == "OK"
        assert m.sock.version() in ("TLSv1.2", "TLSv1.3")
        assert m.login(ALICE, server.users[ALICE])[0] == "OK"
        typ, data = m.capability()
        assert b"STARTTLS" not in data[0].upper()
    finally:
        m.logout()


def test_starttls_drops_pipelined_plaintext_and_keeps_the_handshake(server):
    """RFC 2595 / CVE-2011-0411: a command pipelined after STARTTLS in plaintext
    never runs inside TLS; the ClientHello sent after the OK is not dropped."""
    for _ in range(20):      # the loss of a ClientHello was a race: try it often
        s = socket.create_connection((server.host, server.imap_port), timeout=20)
        f = s.makefile("rb")
        assert f.readline().startswith(b"* OK")
        s.sendall(b"a STARTTLS\r\nb LOGOUT\r\n")
        assert f.readline() == b"a OK Begin TLS negotiation now.\r\n"
        tls = ctx_for(server).wrap_socket(s, server_hostname="localhost")
        tls.sendall(b"c NOOP\r\n")
        got = tls.recv(4096)
        assert got.startswith(b"c OK"), got          # no reply to the injected LOGOUT
        tls.close()


def test_plaintext_on_tls_port_does_not_get_imap(server):
    """A client speaking plaintext to the TLS port gets no IMAP greeting."""
    s = socket.create_connection((server.host, server.imaps_port), timeout=5)
    try:
        s.sendall(b"A1 CAPABILITY\r\n")
        try:
            data = s.recv(100)
        except (socket.timeout, ConnectionResetError):
            data = b""
        assert not data.startswith(b"* OK") and b"CAPABILITY" not in data, data
    finally:
        s.close()
    with Raw(server.host, server.imaps_port, tls=True, ctx=ctx_for(server), server_hostname="localhost") as r:
        assert r.cmd("NOOP").ok(), "the server still serves TLS clients"


def test_many_tls_handshakes_in_a_row(server):
    for _ in range(20):
        with Raw(server.host, server.imaps_port, tls=True, ctx=ctx_for(server), server_hostname="localhost") as r:
            assert r.cmd("NOOP").ok()


def test_plaintext_auth_disabled_when_configured(fresh_server):
    """plaintext_auth_loopback = 0: the plaintext port advertises LOGINDISABLED, no
    AUTH=PLAIN, refuses LOGIN and AUTHENTICATE; after STARTTLS login works (RFC 3501 6.2.3,
    7.2.1; RFC 2595 3.2)."""
    user, pw = "tlsonly@example.org", "tls-only-Passw0rd"
    srv = fresh_server(users={user: pw}, start=False)
    conf = srv.dir + "/sealbox.conf"
    with open(conf) as f:
        text = f.read()
    assert "plaintext_auth_loopback = 1" in text, text
    with open(conf, "w") as f:
        f.write(text.replace("plaintext_auth_loopback = 1", "plaintext_auth_loopback = 0"))
    srv.start()
    from lib.helpers import capabilities
    with Raw(srv.host, srv.imap_port, timeout=15) as r:
        caps = capabilities(r.cmd("CAPABILITY").of("CAPABILITY")[0])
        assert "LOGINDISABLED" in caps and "STARTTLS" in caps, sorted(caps)
        assert not any(c.startswith("AUTH=") for c in caps), sorted(caps)
        resp = r.cmd('LOGIN "%s" "%s"' % (user, pw))
        assert resp.status in ("NO", "BAD"), "LOGIN over plaintext: %r" % resp.tagged
        import base64
        ir = base64.b64encode(b"\0" + user.encode() + b"\0" + pw.encode()).decode()
        resp = r.cmd("AUTHENTICATE PLAIN " + ir)
        assert resp.status in ("NO", "BAD"), "AUTHENTICATE over plaintext: %r" % resp.tagged
        assert r.cmd("STARTTLS").ok()
        r.starttls(ctx_for(srv), "localhost")
        caps = capabilities(r.cmd("CAPABILITY").of("CAPABILITY")[0])
        assert "LOGINDISABLED" not in caps and "AUTH=PLAIN" in caps, sorted(caps)
        r.login(user, pw)
    with Raw(srv.host, srv.imaps_port, tls=True, ctx=ctx_for(srv), server_hostname="localhost") as r:
        r.login(user, pw)
