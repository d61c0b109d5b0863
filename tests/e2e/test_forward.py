"""
test_forward.py — per-address actions end to end (issue 3): `sealbox alias set`
with --forward and --webhook, sealboxd started with --relay pointing at a small
SMTP sink written here, and a webhook endpoint (http.server) on loopback.

What it checks:
  - a message accepted by our MX (250) reaches the sink through the outbound
    queue byte for byte, except the trace header our MX added (Received:;
    Return-Path: is not sent on), with MAIL FROM = the original sender and
    RCPT TO = the forward target;
  - the webhook endpoint is not listening at first (connection refused): the
    job is retried with the short backoff configured in sealbox.conf and the
    endpoint then gets the JSON document (envelope, headers, text, sizes);
  - with --store off nothing lands in INBOX;
  - nothing of the message is left in plaintext under the data directory;
  - a target the relay refuses with 5xx gets the original sender an RFC 3464
    bounce (null sender, multipart/report, Status 5.1.1);
  - a forward queued while the relay is down survives kill -9 of sealboxd and
    is delivered once the relay is up and the daemon restarted (promise 3);
  - forwarding to our own MX as the smarthost: STARTTLS is used (ESMTPS in the
    Received: field it adds), the copy lands in the target's INBOX and, with
    store on, the original stays in the alias's INBOX;
  - the CLI refuses bad targets and non-http(s) URLs, and `alias list` shows
    the settings without the webhook URL's path or query (it may carry a token).

How it fails: AssertionError naming what did not arrive within the time limit,
with the daemon's log tail.
"""
import email
import email.policy
import http.server
import imaplib
import json
import re
import os
import socketserver
import smtplib
import threading
import time

import pytest

from lib.mx import SamePortsServer, imap_login, inbox
from lib.server import Server, TIME_SCALE, free_port

ALIAS = "fwd@example.org"
PASSWORD = "fwd-e2e-Passw0rd!xyz"
TARGET = "target@far.test"
SENDER = "sender@remote.test"
WAIT = 20 * TIME_SCALE


class SinkHandler(socketserver.StreamRequestHandler):
    """A minimal SMTP receiver: records MAIL FROM, RCPT TO and the DATA bytes
    (dot-unstuffed), answers 250 to everything else."""

    def reply(self, line):
        self.wfile.write(line + b"\r\n")
        self.wfile.flush()

    def handle(self):
        sink = self.server.sink
        self.reply(b"220 sink.test ESMTP")
        mail, rcpts = None, []
        while True:
            line = self.rfile.readline(4096)
            if not line:
                return
            cmd = line.rstrip(b"\r\n")
            verb = cmd[:4].upper()
            if verb == b"EHLO":
                self.reply(b"250-sink.test\r\n250-8BITMIME\r\n250 SIZE 10000000")
            elif verb == b"MAIL":
                mail, rcpts = cmd[10:].strip(b"<> "), []
                self.reply(b"250 2.1.0 ok")
            elif verb == b"RCPT":
                rcpt = cmd[8:].strip(b"<> ")
                if rcpt.startswith(b"reject@"):
                    self.reply(b"550 5.1.1 no such user here")
                    continue
                rcpts.append(rcpt)
                self.reply(b"250 2.1.5 ok")
            elif verb == b"DATA":
                self.reply(b"354 go ahead")
                data = []
                while True:
                    l = self.rfile.readline(1 << 20)
                    if not l or l == b".\r\n":
                        break
                    data.append(l[1:] if l.startswith(b".") else l)
                with sink.lock:
                    sink.messages.append((mail, rcpts, b"".join(data)))
                self.reply(b"250 2.0.0 queued")
            elif verb == b"QUIT":
                self.reply(b"221 bye")
                return
            else:
                self.reply(b"250 ok")


class Sink:
    def __init__(self, port=0):
        self.lock = threading.Lock()
        self.messages = []
        socketserver.ThreadingTCPServer.allow_reuse_address = True
        self.srv = socketserver.ThreadingTCPServer(("127.0.0.1", port), SinkHandler)
        self.srv.daemon_threads = True
        self.srv.sink = self
        self.port = self.srv.server_address[1]
        threading.Thread(target=self.srv.serve_forever, daemon=True).start()

    def close(self):
        self.srv.shutdown()
        self.srv.server_close()


class HookHandler(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        n = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(n)
        self.server.posts.append((self.path, self.headers.get("Content-Type"), body))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *a):
        pass


def wait_for(what, cond, srv):
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        if cond():
            return
        time.sleep(0.1)
    raise AssertionError("%s did not happen within %ds; sealboxd log:\n%s"
                         % (what, WAIT, srv.log()[-3000:].decode("utf-8", "replace")))


@pytest.fixture
def setup(tmp_path):
    sink = Sink()
    srv = Server(str(tmp_path / "srv"))
    srv.setup(domains=("example.org",), users={ALIAS: PASSWORD})
    with open(os.path.join(srv.dir, "sealbox.conf"), "a") as f:
        f.write("queue_retry_first = 1\nqueue_retry_max = 2\nqueue_interval = 1\n")
    yield srv, sink
    try:
        assert srv.stop() in (0, None), "sealboxd did not exit 0 on SIGTERM"
    finally:
        sink.close()


MESSAGE = (b"From: Sender <sender@remote.test>\r\n"
           b"To: fwd@example.org\r\n"
           b"Subject: =?UTF-8?Q?Gr=C3=BC=C3=9Fe?= FWDCANARY-41c7\r\n"
           b"Date: Mon, 02 Jan 2023 10:00:00 +0000\r\n"
           b"Message-ID: <fwd-e2e-1@remote.test>\r\n"
           b"MIME-Version: 1.0\r\n"
           b"Content-Type: text/plain; charset=utf-8\r\n"
           b"\r\n"
           b"Hello FWDCANARY-41c7\r\n"
           b".a line starting with a dot\r\n"
           b"\r\n")


def strip_trace(data):
    """The message without the leading trace fields (Received:, Return-Path:)."""
    lines = data.split(b"\r\n")
    i = 0
    while i < len(lines) and (lines[i][:9].lower() == b"received:" or lines[i][:12].lower() == b"return-path:"
                              or (i > 0 and lines[i][:1] in (b" ", b"\t"))):
        i += 1
    return b"\r\n".join(lines[i:])


def test_forward_and_webhook_with_refused_endpoint_then_retry(setup):
    srv, sink = setup
    hook_port = free_port()                       # nothing listens there yet
    hook_url = "http://127.0.0.1:%d/hook?token=SECRET-TOKEN" % hook_port
    p = srv.cli("alias", "set", ALIAS, "--store", "off", "--forward", TARGET, "--webhook", hook_url)
    assert b"forward=target@far.test" in p.stdout
    listing = srv.cli("alias", "list").stdout
    assert b"store=off" in listing and b"forward=target@far.test" in listing
    assert b"webhook=http://127.0.0.1:%d/..." % hook_port in listing
    assert b"SECRET-TOKEN" not in listing

    srv.start(extra_args=["--relay", "127.0.0.1:%d" % sink.port])
    with smtplib.SMTP(srv.host, srv.smtp_port, timeout=30) as s:
        s.ehlo("client.test")
        refused = s.sendmail(SENDER, [ALIAS], MESSAGE)
        assert refused == {}

    wait_for("the forward reaching the sink", lambda: len(sink.messages) >= 1, srv)
    mail, rcpts, data = sink.messages[0]
    assert mail == SENDER.encode()
    assert rcpts == [TARGET.encode()]
    assert data.startswith(b"Received:"), data[:200]
    assert b"Return-Path:" not in data
    assert strip_trace(data) == MESSAGE

    # The webhook endpoint was not listening: the job failed and waits for its retry.
    wait_for("a refused webhook attempt", lambda: b"(webhook): temporary failure" in srv.log(), srv)
    hook = http.server.HTTPServer(("127.0.0.1", hook_port), HookHandler)
    hook.posts = []
    t = threading.Thread(target=hook.serve_forever, daemon=True)
    t.start()
    try:
        wait_for("the webhook POST after the retry", lambda: len(hook.posts) >= 1, srv)
    finally:
        hook.shutdown()
        hook.server_close()
    path, ctype, body = hook.posts[0]
    assert path == "/hook?token=SECRET-TOKEN"
    assert ctype == "application/json"
    doc = json.loads(body)
    assert doc["envelope"] == {"from": SENDER, "to": ALIAS}
    assert doc["headers"]["subject"] == "Grüße FWDCANARY-41c7"
    assert doc["headers"]["from"] == "Sender <sender@remote.test>"
    assert doc["headers"]["message_id"] == "<fwd-e2e-1@remote.test>"
    assert doc["headers"]["cc"] is None
    assert doc["text"] == "Hello FWDCANARY-41c7\r\n.a line starting with a dot\r\n\r\n"
    assert doc["html"] is None
    assert doc["attachments"] == []
    assert doc["raw_size"] > len(MESSAGE)           # with our trace fields
    assert b"SECRET-TOKEN" not in srv.log()
    assert b"target@far.test" not in srv.log()

    # --store off: nothing in INBOX.
    imap = imaplib.IMAP4(srv.host, srv.imap_port)
    try:
        imap.login(ALIAS, PASSWORD)
        typ, data = imap.select("INBOX")
        assert typ == "OK" and data[0] == b"0", data
        imap.logout()
    except Exception:
        imap.shutdown()
        raise

    # Delivered jobs are gone; nothing of the message is readable on disk.
    for root, _, files in os.walk(srv.dir):
        for name in files:
            with open(os.path.join(root, name), "rb") as f:
                assert b"FWDCANARY-41c7" not in f.read(), os.path.join(root, name)


def test_cli_refuses_bad_targets_and_urls(setup):
    srv, _ = setup
    p = srv.cli("alias", "set", ALIAS, "--forward", "not an address", check=False)
    assert p.returncode != 0 and b"--forward" in p.stderr
    p = srv.cli("alias", "set", ALIAS, "--webhook", "ftp://x.test/", check=False)
    assert p.returncode != 0 and b"--webhook" in p.stderr
    p = srv.cli("alias", "set", ALIAS, "--store", "maybe", check=False)
    assert p.returncode == 2
    p = srv.cli("alias", "set", "nobody@example.org", "--store", "off", check=False)
    assert p.returncode == 1 and b"no address" in p.stderr
    srv.cli("alias", "set", ALIAS, "--forward", "A@X.test, b@y.test")
    assert b"forward=a@x.test,b@y.test" in srv.cli("alias", "list").stdout
    srv.cli("alias", "set", ALIAS, "--forward", "none")
    assert b"forward=" not in srv.cli("alias", "list").stdout


def test_refused_target_bounces_to_the_sender_with_a_dsn(setup):
    srv, sink = setup
    srv.cli("alias", "set", ALIAS, "--forward", "reject@far.test")
    srv.start(extra_args=["--relay", "127.0.0.1:%d" % sink.port])
    with smtplib.SMTP(srv.host, srv.smtp_port, timeout=30) as s:
        assert s.sendmail(SENDER, [ALIAS], MESSAGE) == {}
    wait_for("the bounce reaching the sink", lambda: len(sink.messages) >= 1, srv)
    mail, rcpts, data = sink.messages[0]
    assert mail == b""                              # the null sender: never bounced again
    assert rcpts == [SENDER.encode()]
    msg = email.message_from_bytes(data, policy=email.policy.compat32)
    assert msg.get_content_type() == "multipart/report"
    assert msg.get_param("report-type") == "delivery-status"
    parts = msg.get_payload()
    assert [p.get_content_type() for p in parts] == \
        ["text/plain", "message/delivery-status", "text/rfc822-headers"]
    status = parts[1].as_bytes()
    assert b"Final-Recipient: rfc822; reject@far.test" in status
    assert b"Action: failed" in status
    assert b"Status: 5.1.1" in status
    assert b"Diagnostic-Code: smtp; 550 5.1.1 no such user here" in status
    assert b"Message-ID: <fwd-e2e-1@remote.test>" in parts[2].as_bytes()
    assert b"Hello FWDCANARY" not in data            # header only, not the body
    assert msg["To"] == "<%s>" % SENDER
    # Store stayed on: the alias has its copy too.
    raw = imap_login(srv, ALIAS)
    try:
        got = inbox(raw)
    finally:
        raw.close()
    assert len(got) == 1


def test_forward_through_our_own_mx_uses_starttls_and_keeps_a_copy(tmp_path):
    other, other_pw = "other@example.org", "other-e2e-Passw0rd!xy"
    srv = SamePortsServer(str(tmp_path / "srv"))
    srv.setup(domains=("example.org",), users={ALIAS: PASSWORD, other: other_pw})
    with open(os.path.join(srv.dir, "sealbox.conf"), "a") as f:
        f.write("queue_retry_first = 1\nqueue_retry_max = 2\nqueue_interval = 1\n")
    srv.cli("alias", "set", ALIAS, "--forward", other)
    try:
        srv.start()                                   # learn the ports
        assert srv.stop() == 0
        srv.extra_args = ["--relay", "127.0.0.1:%d" % srv.smtp_port]
        srv.start()
        with smtplib.SMTP(srv.host, srv.smtp_port, timeout=30) as s:
            assert s.sendmail(SENDER, [ALIAS], MESSAGE) == {}

        def other_has_it():
            raw = imap_login(srv, other)
            try:
                return inbox(raw)
            finally:
                raw.close()
        got = {}

        def arrived():
            got.update(other_has_it())
            return len(got) >= 1
        wait_for("the forwarded copy in the target's INBOX", arrived, srv)
        fwd = got[min(got)]
        assert fwd.startswith(b"Return-Path: <%s>\r\nReceived: " % SENDER.encode()), fwd[:300]
        first_received = fwd.split(b"\r\nReceived: ", 1)[1].split(b";", 1)[0]
        assert re.search(rb"with ESMTPS", first_received), first_received
        assert strip_trace(fwd) == MESSAGE
        raw = imap_login(srv, ALIAS)
        try:
            mine = inbox(raw)
        finally:
            raw.close()
        assert len(mine) == 1 and strip_trace(mine[min(mine)]) == MESSAGE
    finally:
        assert srv.stop() in (0, None)


def test_queued_forward_survives_kill_9_and_is_sent_after_restart(setup):
    srv, sink = setup
    down = free_port()                            # the relay is down at first
    srv.cli("alias", "set", ALIAS, "--store", "off", "--forward", TARGET)
    srv.start(extra_args=["--relay", "127.0.0.1:%d" % down])
    with smtplib.SMTP(srv.host, srv.smtp_port, timeout=30) as s:
        assert s.sendmail(SENDER, [ALIAS], MESSAGE) == {}
    wait_for("a refused forward attempt", lambda: b"(forward): temporary failure" in srv.log(), srv)
    srv.kill()
    late = Sink(down)
    try:
        srv.start(extra_args=["--relay", "127.0.0.1:%d" % down])
        wait_for("the forward after the restart", lambda: len(late.messages) >= 1, srv)
        time.sleep(1.5 * TIME_SCALE)              # a second copy would come within a pass
        assert len(late.messages) == 1
        mail, rcpts, data = late.messages[0]
        assert (mail, rcpts) == (SENDER.encode(), [TARGET.encode()])
        assert strip_trace(data) == MESSAGE
    finally:
        srv.stop()
        late.close()
