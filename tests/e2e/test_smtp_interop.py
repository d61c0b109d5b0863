"""
Interoperability of Sealbox's SMTP MX with real clients (issue 3, "Tests that must
exist"): swaks (Debian `swaks`, TLS through `libnet-ssleay-perl`) and a real MTA,
Postfix (Debian `postfix`), run by the test as a private instance on loopback ports
(lib/postfix.py) that relays everything to Sealbox. Every message is checked where it
lands: in the encrypted mailbox, read back over IMAP.

swaks: PIPELINING (--pipeline: MAIL, RCPT, DATA go out before the first reply),
STARTTLS with the certificate verified against DIR/tls/cert.pem (and refused against
the system CAs), an 8-bit body byte-exact (with a dot-stuffed line), the size limit
(552 5.3.4 after the data), an unknown user (550 5.1.1), relay attempts (554 5.7.1),
and a UTF-8 sender without SMTPUTF8 (553 5.6.7).
Not with swaks: Debian 12's swaks 20201014 has neither BDAT/CHUNKING nor a way to send
the SMTPUTF8 MAIL parameter (both came in later swaks releases). BDAT is covered by
test_smtp.py (raw socket); SMTPUTF8 with a real client is covered here through
Postfix, which sends MAIL FROM:<...> SMTPUTF8 when its client asked for it.

Postfix: a message sent into Postfix arrives in the Sealbox mailbox with Postfix's
Received: header under Sealbox's, over opportunistic STARTTLS ("with ESMTPS"); the
queue id Postfix logs as "status=sent (250 2.0.0 Ok: stored as ID)" is the id in
Sealbox's Received: header. A UTF-8 sender relayed through Postfix comes with
SMTPUTF8 ("with UTF8SMTPS"). An unknown recipient is refused by Sealbox with 550 5.1.1
and Postfix returns a DSN to the (Sealbox-hosted) sender, which lands in its INBOX.

A server bug found this way (fixed in d3f3c62): now and then sealboxd read a client's
ClientHello after "220 2.0.0 Ready to start TLS" and never answered it;
test_starttls_handshake_never_stalls keeps it fixed (a few seconds of handshakes from
three threads; about 1 in 100 stalled before the fix).

SEALBOX_E2E_POSTFIX_CF: extra main.cf lines for the private Postfix ("\\n" between
lines), e.g. "debug_peer_list = 127.0.0.1" to log the SMTP dialogue when debugging.

Missing tools fail the test with a message saying to run `scripts/deps.sh test`: these
tests are never skipped. The private Postfix needs root (its master drops to the
`postfix` user), as the suite runs in CI.
"""
import os
import re
import secrets
import smtplib
import socket
import ssl
import subprocess
import threading
import time

import pytest

from lib.mx import imap_login, inbox, require_tool
from lib.postfix import PrivatePostfix
from lib.server import TIME_SCALE, Server, set_conf

DOMAIN = "example.org"
MAX_SIZE = 100_000
ARRIVAL_TIMEOUT = 20.0 * TIME_SCALE     # Postfix's queue manager and delivery agent
SENDER = "sender@elsewhere.example"
USERS = {
    "swpipe@example.org": "swpipe-e2e-Passw0rd!",
    "swtls@example.org": "swtls-e2e-Passw0rd!x",
    "sweight@example.org": "sweight-e2e-Passw0rd",
    "swsize@example.org": "swsize-e2e-Passw0rd!",
    "pfrelay@example.org": "pfrelay-e2e-Passw0rd",
    "pfutf@example.org": "pfutf-e2e-Passw0rd!x",
    "pfsender@example.org": "pfsender-e2e-Passw0r",
}



@pytest.fixture(scope="module")
def mx(tmp_path_factory):
    srv = Server(str(tmp_path_factory.mktemp("interop")))
    srv.setup(domains=(DOMAIN,), users=USERS)
    conf = os.path.join(srv.dir, "sealbox.conf")
    set_conf(conf, "smtp_max_message_size", str(MAX_SIZE))
    srv.start()
    with open(conf) as f:
        srv.hostname = re.search(r"(?m)^hostname\s*=\s*(\S+)", f.read()).group(1)
    yield srv
    alive = srv.alive()
    rc = srv.stop()
    assert alive, "sealboxd died; stderr tail:\n%s" % srv.log()[-3000:].decode("utf-8", "replace")
    assert rc == 0, "sealboxd exited %r on SIGTERM" % rc


@pytest.fixture(scope="module")
def postfix(mx):
    require_tool("postfix", "postfix")
    pf = PrivatePostfix(mx.smtp_port, extra_main_cf=os.environ.get("SEALBOX_E2E_POSTFIX_CF", "").replace("\\n", "\n"))
    try:
        pf.start()
        yield pf
    finally:
        pf.stop()


def swaks(srv, *args, server="127.0.0.1"):
    exe = require_tool("swaks", "swaks")
    cmd = [exe, "--server", server, "--port", str(srv.smtp_port), "--helo", "client.example",
           "--from", SENDER, "--timeout", "20"] + list(args)
    p = subprocess.run(cmd, capture_output=True, timeout=60 * TIME_SCALE)
    return p.returncode, p.stdout.decode("utf-8", "replace") + p.stderr.decode("utf-8", "replace")


def find(srv, user, needle):
    """The messages of user's INBOX that contain needle (bytes); logging in drains the spool."""
    r = imap_login(srv, user)
    try:
        return [m for m in inbox(r).values() if needle in m]
    finally:
        r.logout()


def wait_for(srv, user, needle, timeout=ARRIVAL_TIMEOUT, flush=None):
    deadline = time.monotonic() + timeout
    while True:
        got = find(srv, user, needle)
        if got or time.monotonic() > deadline:
            return got
        if flush:
            flush()
        time.sleep(0.2)


def sent_lines(out):
    """swaks transcript lines, as ('->' / '<-' / '<**' ..., text)."""
    return [line for line in out.splitlines() if line[:3] in (" ->", "<- ", "<**", " ~>", "<~ ", "<~*")]


# --- swaks -----------------------------------------------------------------------------------

def test_swaks_pipelines_mail_rcpt_data_and_the_message_arrives(mx):
    token = "pipe-" + secrets.token_hex(6)
    rc, out = swaks(mx, "--pipeline", "--to", "swpipe@example.org,nobody@example.org",
                    "--header", "Subject: %s" % token, "--body", "pipelined body %s" % token)
    assert rc == 0, out
    lines = sent_lines(out)
    # After EHLO, every command up to DATA went out before the first reply came back.
    i = next(k for k, l in enumerate(lines) if l.startswith(" -> MAIL FROM:"))
    assert lines[i:i + 8] == [
        " -> MAIL FROM:<%s>" % SENDER,
        " -> RCPT TO:<swpipe@example.org>",
        " -> RCPT TO:<nobody@example.org>",
        " -> DATA",
        "<-  250 2.1.0 Ok",
        "<-  250 2.1.5 Ok",
        "<** 550 5.1.1 Recipient address rejected: user unknown",
        "<-  354 End data with <CR><LF>.<CR><LF>",
    ], out
    stored = re.search(r"<-  250 2\.0\.0 Ok: stored as ([0-9a-f]{16})\n", out)
    assert stored, out
    got = find(mx, "swpipe@example.org", token.encode())
    assert len(got) == 1, got
    assert got[0].startswith(b"Return-Path: <%s>\r\nReceived: from client.example ([127.0.0.1])\r\n"
                             b"\tby %s (Sealbox) with ESMTP id %s\r\n\tfor <swpipe@example.org>; "
                             % (SENDER.encode(), mx.hostname.encode(), stored.group(1).encode())), got[0][:300]
    # swaks's template ends the body with a line break, and swaks adds an empty line of
    # its own before the dot (see the 8-bit test): two CRLFs after the body's.
    assert got[0].endswith(b"\r\n\r\npipelined body %s\r\n\r\n\r\n" % token.encode()), got[0][-200:]


def test_swaks_starttls_verifies_the_certificate_and_delivers(mx):
    token = "tls-" + secrets.token_hex(6)
    rc, out = swaks(mx, "-tls", "--tls-verify", "--tls-ca-path", mx.cert, "--to", "swtls@example.org",
                    "--header", "Subject: %s" % token)
    assert rc == 0, out
    assert re.search(r"=== TLS started with cipher TLSv1\.[23]:", out), out
    lines = sent_lines(out)
    assert " -> STARTTLS" in lines and "<-  220 2.0.0 Ready to start TLS" in lines, out
    # Inside TLS: EHLO again, STARTTLS no longer offered, the transaction encrypted.
    assert "<~  250-STARTTLS" not in lines and " ~> MAIL FROM:<%s>" % SENDER in lines, out
    assert not any(l.startswith(" -> MAIL") for l in lines), "MAIL went out in clear: %s" % out
    stored = re.search(r"<~  250 2\.0\.0 Ok: stored as ([0-9a-f]{16})\n", out)
    assert stored, out
    got = find(mx, "swtls@example.org", token.encode())
    assert len(got) == 1
    assert b"\tby %s (Sealbox) with ESMTPS id %s\r\n" % (mx.hostname.encode(), stored.group(1).encode()) \
        in got[0], got[0][:300]


def test_swaks_starttls_refuses_an_unverifiable_certificate(mx):
    # Sealbox's certificate is self-signed: against the system CAs, swaks must refuse it.
    rc, out = swaks(mx, "-tls", "--tls-verify", "--to", "swtls@example.org")
    assert rc == 29, "expected swaks exit 29 (TLS error): %d\n%s" % (rc, out)


def test_swaks_8bit_body_arrives_byte_exact(mx, tmp_path):
    token = "eight-" + secrets.token_hex(6)
    body = (b"8-bit UTF-8: Gr\xc3\xbc\xc3\x9fe aus M\xc3\xbcnchen \xe2\x80\x94 \xf0\x9f\x93\xa8\r\n"
            b"8-bit Latin-1: caf\xe9 na\xefve\r\n"
            b".a line that began with a dot (dot-stuffed on the wire)\r\n"
            b"last line\r\n")
    content = (b"From: <%s>\r\nTo: <sweight@example.org>\r\nSubject: %s\r\nMIME-Version: 1.0\r\n"
               b"Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
               % (SENDER.encode(), token.encode())) + body
    path = tmp_path / "eight.eml"
    path.write_bytes(content)
    rc, out = swaks(mx, "--to", "sweight@example.org", "--data", "@%s" % path)
    assert rc == 0, out
    got = find(mx, "sweight@example.org", token.encode())
    assert len(got) == 1
    # swaks sends an empty line of its own after the file, before the dot.
    assert got[0].endswith(content + b"\r\n"), got[0][-400:]


def test_swaks_message_over_the_size_limit_is_552(mx):
    token = "big-" + secrets.token_hex(6)
    rc, out = swaks(mx, "--to", "swsize@example.org", "--header", "Subject: %s" % token,
                    "--body", ("y" * 900 + "\n") * (MAX_SIZE // 900 + 10))
    assert rc == 26, "expected swaks exit 26 (refused after data): %d\n%s" % (rc, out[-2000:])
    assert "<** 552 5.3.4 Message size exceeds fixed maximum message size" in sent_lines(out), out[-2000:]
    assert find(mx, "swsize@example.org", token.encode()) == []


def test_swaks_unknown_user_is_550_5_1_1(mx):
    rc, out = swaks(mx, "--to", "nobody@example.org")
    assert rc == 24, "expected swaks exit 24 (no RCPT accepted): %d\n%s" % (rc, out)
    assert "<** 550 5.1.1 Recipient address rejected: user unknown" in sent_lines(out), out


@pytest.mark.parametrize("rcpt", ["someone@gmail.com", "swpipe@sub.example.org", "swpipe@example.org.evil.example"])
def test_swaks_relay_attempt_is_554_5_7_1(mx, rcpt):
    rc, out = swaks(mx, "--to", rcpt)
    assert rc == 24, "expected swaks exit 24 (no RCPT accepted): %d\n%s" % (rc, out)
    assert "<** 554 5.7.1 Relay access denied" in sent_lines(out), out


def test_swaks_utf8_sender_without_smtputf8_is_553(mx):
    # swaks 20201014 cannot add the SMTPUTF8 parameter; without it a UTF-8 address is
    # refused (RFC 6531 3.5). The accepted case with a real client: Postfix, below.
    rc, out = swaks(mx, "--from", "jörg@bücher.example", "--to", "swpipe@example.org")
    assert rc == 23, "expected swaks exit 23 (MAIL refused): %d\n%s" % (rc, out)
    assert "<** 553 5.6.7 Non-ASCII address requires SMTPUTF8" in sent_lines(out), out


# --- Postfix relaying to Sealbox -----------------------------------------------------------------

def into_postfix(pf, sender, rcpts, data, **kw):
    s = smtplib.SMTP(pf.host, pf.port, local_hostname="client.example", timeout=20 * TIME_SCALE)
    try:
        return s.sendmail(sender, rcpts, data, **kw)
    finally:
        s.quit()


def log_line(pf, pattern, timeout=10.0 * TIME_SCALE):
    """The first match of pattern in Postfix's log, waiting for it: postlogd writes the
    log asynchronously, possibly after the message is already in the mailbox."""
    deadline = time.monotonic() + timeout
    while True:
        m = re.search(pattern, pf.log())
        if m or time.monotonic() > deadline:
            return m
        time.sleep(0.1)


def diagnosis(mx, pf):
    """What a test that waited in vain shows: Postfix's queue and log, the TCP
    connections to Sealbox's SMTP port (queues show who waits for whom), sealboxd's log."""
    ss = subprocess.run(["ss", "-tnpi", "( sport = :%d or dport = :%d )" % (mx.smtp_port, mx.smtp_port)],
                        capture_output=True, text=True).stdout
    return "Postfix queue:\n%s\nPostfix log tail:\n%s\nconnections:\n%s\nsealboxd stderr tail:\n%s" % (
        pf.queue(), pf.log()[-4000:], ss, mx.log()[-3000:].decode("utf-8", "replace"))


def test_postfix_relays_into_the_sealbox_mailbox(mx, postfix):
    token = "pf-" + secrets.token_hex(6)
    data = ("From: <%s>\r\nTo: <pfrelay@example.org>\r\nSubject: %s\r\nMessage-ID: <%s@elsewhere.example>\r\n"
            "\r\nrelayed by a real MTA\r\n" % (SENDER, token, token)).encode()
    assert into_postfix(postfix, SENDER, ["pfrelay@example.org"], data) == {}
    got = wait_for(mx, "pfrelay@example.org", token.encode(), flush=postfix.flush)
    assert len(got) == 1, "not in the Sealbox INBOX within %.0fs\n%s" % (ARRIVAL_TIMEOUT, diagnosis(mx, postfix))
    msg = got[0]
    m = re.match(rb"Return-Path: <sender@elsewhere\.example>\r\n"
                 rb"Received: from mta\.postfix-e2e\.test \(\[127\.0\.0\.1\]\)\r\n"
                 rb"\tby " + re.escape(mx.hostname.encode()) + rb" \(Sealbox\) with ESMTPS id ([0-9a-f]{16})\r\n"
                 rb"\tfor <pfrelay@example\.org>; [^\r\n]+\r\n"
                 rb"Received: from client\.example \(localhost \[127\.0\.0\.1\]\)\r\n"
                 rb"\tby mta\.postfix-e2e\.test \(Postfix\) with ESMTP id ([0-9A-F]+)\r\n"
                 rb"\tfor <pfrelay@example\.org>; [^\r\n]+\r\n", msg)
    assert m, msg[:600]
    assert msg.endswith(b"\r\n\r\nrelayed by a real MTA\r\n")
    sealbox_id, postfix_id = m.group(1).decode(), m.group(2).decode()
    assert log_line(postfix, r"%s: to=<pfrelay@example\.org>, relay=127\.0\.0\.1\[127\.0\.0\.1\]:%d, .*status=sent "
                    r"\(250 2\.0\.0 Ok: stored as %s\)" % (postfix_id, mx.smtp_port, sealbox_id)), postfix.log()[-3000:]
    log = postfix.log()
    assert re.search(r"TLS connection established to 127\.0\.0\.1\[127\.0\.0\.1\]:%d" % mx.smtp_port, log), log[-3000:]


def test_postfix_relays_a_utf8_sender_with_smtputf8(mx, postfix):
    token = "pfutf-" + secrets.token_hex(6)
    sender = "jörg@bücher.example"
    data = ("From: Jörg <%s>\r\nTo: <pfutf@example.org>\r\nSubject: Grüße %s\r\n\r\n"
            "Grüße aus München — ünïcödé\r\n" % (sender, token)).encode("utf-8")
    assert into_postfix(postfix, sender, ["pfutf@example.org"], data,
                        mail_options=["SMTPUTF8", "BODY=8BITMIME"]) == {}
    got = wait_for(mx, "pfutf@example.org", token.encode(), flush=postfix.flush)
    assert len(got) == 1, "not delivered\n%s" % diagnosis(mx, postfix)
    assert got[0].startswith("Return-Path: <%s>\r\n".encode("utf-8") % sender.encode("utf-8")), got[0][:300]
    assert re.search(rb"\(Sealbox\) with UTF8SMTPS id [0-9a-f]{16}\r\n", got[0]), got[0][:600]
    # Postfix adds Message-ID: and Date: after the client's headers; the rest is as sent.
    head, _, body = data.partition(b"\r\n\r\n")
    assert head in got[0] and got[0].endswith(b"\r\n\r\n" + body), got[0][-400:]


def test_postfix_returns_a_dsn_for_an_unknown_sealbox_user(mx, postfix):
    token = "pfdsn-" + secrets.token_hex(6)
    sender = "pfsender@example.org"
    data = ("From: <%s>\r\nTo: <nobody@example.org>\r\nSubject: %s\r\n\r\nto nobody\r\n"
            % (sender, token)).encode()
    assert into_postfix(postfix, sender, ["nobody@example.org"], data) == {}
    # Sealbox refuses the recipient at RCPT with 550 5.1.1; Postfix bounces at once
    # (a 5xx is permanent) and its DSN to the sender goes back through Sealbox.
    got = wait_for(mx, sender, token.encode(), flush=postfix.flush)
    assert len(got) == 1, "no DSN in the sender's INBOX\n%s" % diagnosis(mx, postfix)
    dsn = got[0]
    assert dsn.startswith(b"Return-Path: <>\r\n"), dsn[:300]
    assert b"Content-Type: multipart/report; report-type=delivery-status;" in dsn, dsn[:1500]
    assert b"Final-Recipient: rfc822; nobody@example.org" in dsn, dsn
    assert b"Status: 5.1.1" in dsn, dsn
    assert b"550 5.1.1 Recipient address rejected: user unknown" in dsn, dsn
    assert log_line(postfix, r"to=<nobody@example\.org>, relay=127\.0\.0\.1\[127\.0\.0\.1\]:%d, .*status=bounced "
                    r"\(host 127\.0\.0\.1\[127\.0\.0\.1\] said: 550 5\.1\.1 Recipient address rejected: "
                    r"user unknown" % mx.smtp_port), postfix.log()[-3000:]


# --- A server bug the real clients found (regression test) --------------------------------------

STALL_RUN = 8.0                 # seconds of STARTTLS handshakes from STALL_CLIENTS threads
STALL_CLIENTS = 3
STALL_TIMEOUT = 3.0 * TIME_SCALE


def _starttls_once(srv, ctx):
    """EHLO, STARTTLS, then the TLS handshake the moment the 220 is read (as Postfix
    does). Returns None, or what went wrong."""
    so = socket.create_connection((srv.host, srv.smtp_port), timeout=STALL_TIMEOUT)
    try:
        f = so.makefile("rb")
        f.readline()
        so.sendall(b"EHLO mta.example\r\n")
        while f.readline()[3:4] == b"-":
            pass
        so.sendall(b"STARTTLS\r\n")
        reply = f.readline()
        if not reply.startswith(b"220 "):
            return "STARTTLS answered %r" % reply
        try:
            t = ctx.wrap_socket(so, server_hostname="localhost")
        except (OSError, ssl.SSLError) as e:
            return "handshake: %r" % e
        t.close()
        return None
    finally:
        so.close()


def test_starttls_handshake_never_stalls(mx):
    # Found through Postfix: after "220 2.0.0 Ready to start TLS" its ClientHello was read
    # by sealboxd (Recv-Q 0) and never answered, both sides waiting (fixed in d3f3c62,
    # src/net/conn.c). Before the fix this loop saw about 1 stalled handshake in 100.
    ctx = ssl.create_default_context(cafile=mx.cert)
    failures, done = [], [0]
    lock = threading.Lock()

    def loop():
        end = time.monotonic() + STALL_RUN
        while time.monotonic() < end:
            why = _starttls_once(mx, ctx)
            with lock:
                done[0] += 1
                if why:
                    failures.append(why)

    threads = [threading.Thread(target=loop) for _ in range(STALL_CLIENTS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not failures, "%d of %d STARTTLS handshakes failed, e.g. %s" % (len(failures), done[0], failures[0])
