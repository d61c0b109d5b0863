"""
The SMTP MX (RFC 5321) of the real sealboxd, driven by Python's smtplib and by a raw
socket where exact bytes matter: EHLO capabilities, PIPELINING (RFC 2920), BDAT
(RFC 3030), STARTTLS (RFC 3207), SIZE (RFC 1870), SMTPUTF8 (RFC 6531), unknown users,
relay attempts, and delivery into the encrypted mailboxes:

  - to an address nobody is logged in to: sealed into the spool, in INBOX after the
    next IMAP login, and its canary in no file under the data directory and in no log;
  - to an address with a session in IDLE: "* n EXISTS" within PUSH_TIMEOUT (1 s,
    scaled by SEALBOX_E2E_TIME_SCALE) of the 250.

Fixture: `mx`, one daemon for this module with its SMTP port on a free loopback port
an implicit-TLS port (smtps), and a message size limit of MAX_SIZE (all written to DIR/sealbox.conf before start,
so other servers of the suite are not affected). When lib/server.py passes --smtp
itself (Server.smtp_port), that port is used.
"""
import os
import re
import secrets
import socket
import smtplib
import ssl
import time

import pytest

from lib.helpers import fetch, select
from lib.imapwire import Raw
from lib.server import TIME_SCALE, Server, set_conf, free_port, port_open

DOMAIN = "example.org"
MAX_SIZE = 100_000
PUSH_TIMEOUT = 1.0 * TIME_SCALE
USERS = {
    "live@example.org": "live-e2e-Passw0rd!xy",        # IDLE push
    "away@example.org": "away-e2e-Passw0rd!xy",        # offline delivery + login drain
    "pipe@example.org": "pipe-e2e-Passw0rd!xy",        # pipelining, BDAT (checked live)
    "tls@example.org": "tls-e2e-Passw0rd!xyz",         # STARTTLS
    "utf@example.org": "utf-e2e-Passw0rd!xyz",         # SMTPUTF8 sender
    "crash@example.org": "crash-e2e-Passw0rd!x",       # kill -9 after 250
}



def start_mx(workdir, users):
    srv = Server(str(workdir))
    srv.setup(domains=(DOMAIN,), users=users)
    conf = os.path.join(srv.dir, "sealbox.conf")
    port, tls_port = free_port(), free_port()
    while tls_port == port:
        tls_port = free_port()
    set_conf(conf, "smtp_listen", "127.0.0.1:%d" % port)
    set_conf(conf, "smtps_listen", "127.0.0.1:%d" % tls_port)
    set_conf(conf, "smtp_max_message_size", str(MAX_SIZE))
    srv.start()
    srv.smtp_port = getattr(srv, "smtp_port", None) or port
    srv.smtps_port = getattr(srv, "smtps_port", None) or tls_port
    deadline = time.monotonic() + 20 * TIME_SCALE
    while not (port_open(srv.host, srv.smtp_port) and port_open(srv.host, srv.smtps_port)):
        assert time.monotonic() < deadline, "no SMTP listener on %d; stderr:\n%s" % (
            srv.smtp_port, srv.log()[-3000:].decode("utf-8", "replace"))
        time.sleep(0.05)
    with open(conf) as f:
        srv.hostname = re.search(r"(?m)^hostname\s*=\s*(\S+)", f.read()).group(1)
    return srv


@pytest.fixture(scope="module")
def mx(tmp_path_factory):
    srv = start_mx(tmp_path_factory.mktemp("smtp"), USERS)
    yield srv
    alive = srv.alive()
    rc = srv.stop()
    assert alive, "sealboxd died; stderr tail:\n%s" % srv.log()[-3000:].decode("utf-8", "replace")
    assert rc == 0, "sealboxd exited %r on SIGTERM" % rc


def smtp(srv, timeout=20):
    s = smtplib.SMTP(srv.host, srv.smtp_port, local_hostname="client.example", timeout=timeout)
    return s


class Wire:
    """A raw SMTP client: exact reply lines, pipelined sends."""

    def __init__(self, srv, timeout=10.0):
        self.sock = socket.create_connection((srv.host, srv.smtp_port), timeout=timeout * TIME_SCALE)
        self.buf = b""
        self.greeting = self.reply()

    def send(self, data):
        self.sock.sendall(data)

    def line(self):
        while b"\r\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("server closed; unread: %r" % self.buf)
            self.buf += chunk
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def reply(self):
        """One whole (possibly multi-line) reply, lines joined with CRLF."""
        lines = [self.line()]
        while len(lines[-1]) > 3 and lines[-1][3:4] == b"-":
            lines.append(self.line())
        return b"\r\n".join(lines)

    def cmd(self, text):
        self.send(text.encode("utf-8") + b"\r\n")
        return self.reply()

    def close(self):
        self.sock.close()


def msg(subject, body="hello\r\n", sender="sender@elsewhere.example", to="x@example.org"):
    return ("From: <%s>\r\nTo: <%s>\r\nSubject: %s\r\nMessage-ID: <%s@elsewhere.example>\r\n\r\n%s"
            % (sender, to, subject, secrets.token_hex(8), body)).encode("utf-8")


def imap_login(srv, user):
    r = Raw(srv.host, srv.imap_port, timeout=10 * TIME_SCALE)
    r.login(user, srv.users[user])
    return r


def inbox_messages(r):
    """{seq: raw bytes} of INBOX, read with BODY.PEEK[]."""
    resp = select(r, "INBOX")
    exists = [int(u.split()[0]) for u in resp.untagged if re.match(rb"\d+ EXISTS$", u)]
    n = exists[-1] if exists else 0
    if n == 0:
        return {}
    return {k: v["BODY[]"] for k, v in fetch(r, "1:*", "BODY.PEEK[]").items()}


# --- Capabilities and small commands ------------------------------------------------------

def test_greeting_and_ehlo_capabilities_are_exact(mx):
    w = Wire(mx)
    assert w.greeting == b"220 %s ESMTP Sealbox" % mx.hostname.encode()
    assert w.cmd("EHLO client.example") == (
        b"250-%s Hello [127.0.0.1]\r\n250-PIPELINING\r\n250-SIZE %d\r\n250-STARTTLS\r\n"
        b"250-ENHANCEDSTATUSCODES\r\n250-8BITMIME\r\n250-SMTPUTF8\r\n250 CHUNKING"
        % (mx.hostname.encode(), MAX_SIZE))
    assert w.cmd("NOOP") == b"250 2.0.0 Ok"
    assert w.cmd("VRFY live@example.org") == \
        b"252 2.5.0 Cannot VRFY user, but will accept message and attempt delivery"
    assert w.cmd("HELP").endswith(b"\r\n214 2.0.0 End of HELP info")
    assert w.cmd("RSET") == b"250 2.0.0 Ok"
    assert w.cmd("DATA") == b"503 5.5.1 Error: need MAIL command"
    assert w.cmd("FROBNICATE") == b"500 5.5.2 Error: command not recognized"
    assert w.cmd("QUIT") == b"221 2.0.0 Bye"
    w.close()


def test_smtplib_sees_the_extensions(mx):
    s = smtp(mx)
    code, _ = s.ehlo()
    assert code == 250
    assert set(s.esmtp_features) == {"pipelining", "size", "starttls", "enhancedstatuscodes",
                                     "8bitmime", "smtputf8", "chunking"}
    assert s.esmtp_features["size"] == str(MAX_SIZE)
    s.quit()


# --- Recipients ------------------------------------------------------------------------------

def test_unknown_user_is_550_and_relay_is_554(mx):
    s = smtp(mx)
    s.ehlo()
    assert s.mail("sender@elsewhere.example") == (250, b"2.1.0 Ok")
    assert s.rcpt("nobody@example.org") == (550, b"5.1.1 Recipient address rejected: user unknown")
    assert s.rcpt("someone@gmail.com") == (554, b"5.7.1 Relay access denied")
    assert s.rcpt("live@sub.example.org") == (554, b"5.7.1 Relay access denied")
    assert s.rcpt("live@[127.0.0.1]") == (554, b"5.7.1 Relay access denied")
    assert s.rset() == (250, b"2.0.0 Ok")
    # With only refused recipients there is nothing to send: no open relay.
    with pytest.raises(smtplib.SMTPRecipientsRefused):
        s.sendmail("sender@elsewhere.example", ["someone@gmail.com"], msg("relay"))
    s.quit()


def test_smtputf8_sender_and_address_rules(mx):
    s = smtp(mx)
    s.ehlo()
    body = "Grüße aus München — ünïcödé\r\n"
    data = msg("Grüße", body=body, sender="jörg@bücher.example", to="utf@example.org")
    refused = s.sendmail("jörg@bücher.example", ["utf@example.org"], data, mail_options=["SMTPUTF8"])
    assert refused == {}
    s.quit()

    w = Wire(mx)
    w.cmd("EHLO client.example")
    # Non-ASCII without SMTPUTF8 is refused (RFC 6531 3.5).
    assert w.cmd("MAIL FROM:<jörg@bücher.example>") == b"553 5.6.7 Non-ASCII address requires SMTPUTF8"
    assert w.cmd("MAIL FROM:<jörg@bücher.example> SMTPUTF8") == b"250 2.1.0 Ok"
    # Our aliases are ASCII: a UTF-8 local part in our domain is simply unknown.
    assert w.cmd("RCPT TO:<jörg@example.org>") == b"550 5.1.1 Recipient address rejected: user unknown"
    assert w.cmd("RCPT TO:<utf@example.org>") == b"250 2.1.5 Ok"
    assert w.cmd("QUIT") == b"221 2.0.0 Bye"
    w.close()


# --- Pipelining and BDAT, checked in the mailbox ----------------------------------------------

def test_pipelined_transaction_replies_in_order_and_arrives_byte_exact(mx):
    r = imap_login(mx, "pipe@example.org")     # live: delivered straight into INBOX
    before = len(inbox_messages(r))
    w = Wire(mx)
    assert w.cmd("EHLO client.example").startswith(b"250-")
    w.send(b"MAIL FROM:<sender@elsewhere.example> BODY=8BITMIME\r\n"
           b"RCPT TO:<pipe@example.org>\r\n"
           b"RCPT TO:<nobody@example.org>\r\n"
           b"RCPT TO:<victim@elsewhere.example>\r\n"
           b"DATA\r\n")
    assert [w.reply() for _ in range(5)] == [
        b"250 2.1.0 Ok", b"250 2.1.5 Ok", b"550 5.1.1 Recipient address rejected: user unknown",
        b"554 5.7.1 Relay access denied", b"354 End data with <CR><LF>.<CR><LF>"]
    content = b"Subject: pipelined\r\n\r\n8-bit: \xc3\xa9t\xc3\xa9\r\n..a line that began with a dot\r\n"
    w.send(content + b".\r\nNOOP\r\nQUIT\r\n")
    stored = w.reply()
    assert re.match(rb"250 2\.0\.0 Ok: stored as [0-9a-f]{16}$", stored), stored
    assert w.reply() == b"250 2.0.0 Ok"
    assert w.reply() == b"221 2.0.0 Bye"
    w.close()

    msgs = inbox_messages(r)
    assert len(msgs) == before + 1
    got = msgs[max(msgs)]
    mid = stored.split()[-1]
    head, _, rest = got.partition(b"Subject: pipelined\r\n")
    # Trace headers first (RFC 5321 4.4), then the content dot-unstuffed.
    assert re.match(rb"Return-Path: <sender@elsewhere\.example>\r\n"
                    rb"Received: from client\.example \(\[127\.0\.0\.1\]\)\r\n"
                    rb"\tby " + re.escape(mx.hostname.encode()) + rb" \(Sealbox\) with ESMTP id " + mid +
                    rb"\r\n\tfor <pipe@example\.org>; \w{3}, \d{1,2} \w{3} \d{4} \d\d:\d\d:\d\d \+0000\r\n$",
                    head), head
    assert rest == b"\r\n8-bit: \xc3\xa9t\xc3\xa9\r\n.a line that began with a dot\r\n"
    r.logout()


def test_bdat_chunks_arrive_as_one_message(mx):
    r = imap_login(mx, "pipe@example.org")
    before = len(inbox_messages(r))
    w = Wire(mx)
    w.cmd("EHLO client.example")
    part1 = b"Subject: chunked\r\n\r\n"
    part2 = b"first line\r\n.\r\nnot the end: BDAT has no dot-stuffing\r\n"
    w.send(b"MAIL FROM:<sender@elsewhere.example>\r\nRCPT TO:<pipe@example.org>\r\n"
           b"BDAT %d\r\n" % len(part1) + part1 + b"BDAT %d LAST\r\n" % len(part2) + part2)
    assert w.reply() == b"250 2.1.0 Ok"
    assert w.reply() == b"250 2.1.5 Ok"
    assert w.reply() == b"250 2.0.0 Ok: %d octets received" % len(part1)
    assert re.match(rb"250 2\.0\.0 Ok: stored as [0-9a-f]{16}$", w.reply())
    # BDAT without a transaction: the chunk is still consumed, the session goes on.
    w.send(b"BDAT 6\r\nQUIT\r\nNOOP\r\n")
    assert w.reply() == b"503 5.5.1 Error: need MAIL command"
    assert w.reply() == b"250 2.0.0 Ok"
    assert w.cmd("QUIT") == b"221 2.0.0 Bye"
    w.close()
    msgs = inbox_messages(r)
    assert len(msgs) == before + 1
    assert msgs[max(msgs)].endswith(part1 + part2)
    r.logout()


# --- STARTTLS and SIZE ---------------------------------------------------------------------------

def test_starttls_then_delivery(mx):
    ctx = ssl.create_default_context(cafile=mx.cert)
    s = smtp(mx)
    s.ehlo()
    assert s.has_extn("starttls")
    code, text = s.starttls(context=ctx)
    assert (code, text) == (220, b"2.0.0 Ready to start TLS")
    assert s.sock.version() in ("TLSv1.2", "TLSv1.3")
    s.ehlo()
    assert not s.has_extn("starttls"), "STARTTLS must not be offered again inside TLS"
    assert s.sendmail("sender@elsewhere.example", ["tls@example.org"], msg("over tls")) == {}
    assert s.docmd("STARTTLS") == (503, b"5.5.1 Error: TLS already active")
    s.quit()


def test_implicit_tls_port_serves_smtp_without_starttls(mx):
    ctx = ssl.create_default_context(cafile=mx.cert)
    s = smtplib.SMTP_SSL(mx.host, mx.smtps_port, local_hostname="client.example", context=ctx,
                         timeout=20)
    s.ehlo()
    assert not s.has_extn("starttls")
    assert s.has_extn("chunking") and s.has_extn("size")
    assert s.sendmail("sender@elsewhere.example", ["tls@example.org"], msg("implicit tls")) == {}
    s.quit()


def test_starttls_drops_pipelined_plaintext(mx):
    w = Wire(mx)
    w.cmd("EHLO client.example")
    # CVE-2011-0411: a command injected after STARTTLS must not run inside TLS.
    w.send(b"STARTTLS\r\nMAIL FROM:<injected@elsewhere.example>\r\n")
    assert w.reply() == b"220 2.0.0 Ready to start TLS"
    ctx = ssl.create_default_context(cafile=mx.cert)
    tls = ctx.wrap_socket(w.sock, server_hostname="localhost")
    tls.sendall(b"MAIL FROM:<a@elsewhere.example>\r\n")
    assert tls.recv(4096) == b"503 5.5.1 Error: send HELO/EHLO first\r\n"
    tls.close()


def test_size_limit_is_advertised_and_enforced(mx):
    s = smtp(mx)
    s.ehlo()
    assert s.mail("sender@elsewhere.example", ["SIZE=%d" % (MAX_SIZE + 1)]) == \
        (552, b"5.3.4 Message size exceeds fixed maximum message size")
    # Without SIZE= (smtplib's sendmail would send it), the data itself is
    # counted; the refusal comes after the dot.
    big = msg("big", body=("y" * 998 + "\r\n") * 110)
    assert len(big) > MAX_SIZE
    assert s.mail("sender@elsewhere.example") == (250, b"2.1.0 Ok")
    assert s.rcpt("tls@example.org") == (250, b"2.1.5 Ok")
    assert s.data(big) == (552, b"5.3.4 Message size exceeds fixed maximum message size")
    assert s.noop() == (250, b"2.0.0 Ok"), "the session goes on after a refused message"
    # Just under the limit is accepted.
    ok = msg("fits", body=("z" * 998 + "\r\n") * ((MAX_SIZE - 400) // 1000))
    assert len(ok) <= MAX_SIZE
    assert s.sendmail("sender@elsewhere.example", ["tls@example.org"], ok) == {}
    s.quit()


# --- Delivery: live, offline, at rest ------------------------------------------------------------

def test_idle_session_sees_exists_within_a_second_of_the_250(mx):
    r = imap_login(mx, "live@example.org")
    n = len(inbox_messages(r))
    r.send(b"I1 IDLE\r\n")
    line = r.read_response()
    assert line.startswith(b"+"), line
    s = smtp(mx)
    s.sendmail("sender@elsewhere.example", ["live@example.org"], msg("idle push"))
    acked = time.monotonic()
    line = r.wait_for(lambda l: re.match(rb"\* \d+ EXISTS$", l), PUSH_TIMEOUT)
    assert line == b"* %d EXISTS" % (n + 1), "no EXISTS within %.1fs of the 250; got %r" % (
        PUSH_TIMEOUT, r.seen)
    assert time.monotonic() - acked <= PUSH_TIMEOUT
    s.quit()
    r.send(b"DONE\r\n")
    assert r.read_until_tag("I1").ok()
    got = inbox_messages(r)[n + 1]
    assert b"Subject: idle push\r\n" in got and got.startswith(b"Return-Path: <sender@elsewhere.example>\r\n")
    r.logout()


def spool_files(srv):
    d = os.path.join(srv.dir, "spool")
    return sorted(os.listdir(d)) if os.path.isdir(d) else []


def test_offline_delivery_is_sealed_and_appears_after_login(mx):
    s = smtp(mx)
    data = msg("while you were away", body="sealed for you\r\n")
    assert s.sendmail("sender@elsewhere.example", ["away@example.org"], data) == {}
    s.quit()
    # Nobody held the key: the message went into the spool, named by a random id.
    names = spool_files(mx)
    assert any(re.match(r"[0-9a-f]{32}\.db$", n) for n in names), names
    assert not any("away" in n for n in names)

    r = imap_login(mx, "away@example.org")
    msgs = inbox_messages(r)
    assert len(msgs) == 1, "the spooled message must be in INBOX right after login: %r" % msgs
    assert msgs[1].endswith(data)
    assert b"\tfor <away@example.org>; " in msgs[1]
    r.logout()
    # A second login does not import it again.
    r = imap_login(mx, "away@example.org")
    assert len(inbox_messages(r)) == 1
    r.logout()


def scan(root, needle):
    hits = []
    for dirpath, _, filenames in os.walk(root):
        for n in filenames:
            p = os.path.join(dirpath, n)
            try:
                with open(p, "rb") as f:
                    if needle in f.read():
                        hits.append(p)
            except (FileNotFoundError, PermissionError):
                pass
    return hits


def test_offline_canary_reaches_no_file_and_no_log(mx):
    canary = "cnry" + secrets.token_hex(10)
    addr = "c%s@example.org" % secrets.token_hex(6)
    mx.add_user(addr, "pw-" + secrets.token_hex(16))
    s = smtp(mx)
    data = msg("canary %s" % canary, body=("%s in the body\r\n" % canary) * 50,
               sender="%s@elsewhere.example" % canary, to=addr)
    assert s.sendmail("%s@elsewhere.example" % canary, [addr], data) == {}
    s.quit()
    needle = canary.encode()
    assert scan(mx.dir, needle) == []
    assert scan(mx.tmpdir, needle) == []
    assert needle not in mx.log() and needle not in mx.stdout()
    assert addr.encode() not in mx.log()

    r = imap_login(mx, addr)
    msgs = inbox_messages(r)
    assert len(msgs) == 1 and needle in msgs[1]
    r.logout()
    assert scan(mx.dir, needle) == []
    assert needle not in mx.log()


def test_acknowledged_offline_message_survives_kill_9(tmp_path):
    srv = start_mx(tmp_path / "crash", {"crash@example.org": USERS["crash@example.org"]})
    try:
        s = smtp(srv)
        data = msg("survives", body="acknowledged means durable\r\n")
        assert s.sendmail("sender@elsewhere.example", ["crash@example.org"], data) == {}
        srv.kill()
        srv.start()
        r = imap_login(srv, "crash@example.org")
        msgs = inbox_messages(r)
        assert len(msgs) == 1 and msgs[1].endswith(data)
        r.logout()
    finally:
        srv.stop()
