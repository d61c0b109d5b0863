"""
A real client: mbsync (Debian isync 1.4, SSLType IMAPS to "localhost": it never
matches a certificate against a bare IP) pushes a generated Maildir of 210 varied messages
to a fresh address's INBOX over implicit TLS, then pulls it into an empty Maildir.

mbsync converts line ends (Maildir files are LF; IMAP is CRLF) and adds an X-TUID
header on push, so:
  - the server's copy (fetched with imaplib) must equal each original with CRLF line
    ends, byte for byte, once X-TUID is removed;
  - the pulled files must equal the originals with LF line ends, once X-TUID is removed.
Both are compared as sets of messages (mbsync does not keep the order).
"""
import imaplib
import os
import re
import shutil
import ssl
import subprocess

import pytest

from lib.imapwire import fetch_map, imaplib_lines
from lib.messages import corpus
from lib.server import TIME_SCALE

SYNC = "sync@example.org"
MBSYNC = shutil.which("mbsync") or "/usr/bin/mbsync"
TUID = re.compile(rb"^X-TUID: [^\r\n]*\r?\n", re.M | re.I)


def strip_tuid(msg):
    head, sep, body = msg.partition(b"\n\n") if b"\r\n\r\n" not in msg else msg.partition(b"\r\n\r\n")
    return TUID.sub(b"", head + sep, count=1) + body


def to_crlf(b):
    return b.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


def to_lf(b):
    return b.replace(b"\r\n", b"\n")


def write_maildir(path, msgs):
    for sub in ("cur", "new", "tmp"):
        os.makedirs(os.path.join(path, sub), exist_ok=True)
    for i, m in enumerate(msgs):
        info = ":2,S" if i % 3 == 0 else ":2,"
        with open(os.path.join(path, "cur", "17000000%02d.%d_0.gen%s" % (i % 100, i, info)), "wb") as f:
            f.write(m)


def read_maildir(path):
    out = []
    for sub in ("cur", "new"):
        d = os.path.join(path, sub)
        if os.path.isdir(d):
            for n in sorted(os.listdir(d)):
                with open(os.path.join(d, n), "rb") as f:
                    out.append(f.read())
    return out


def mbsyncrc(tmp, server, near_path, channel, direction):
    rc = os.path.join(tmp, "mbsyncrc-" + channel)
    os.makedirs(near_path + "-folders", exist_ok=True)
    with open(rc, "w") as f:
        f.write("""IMAPAccount sealbox
Host localhost
Port %d
User %s
Pass "%s"
SSLType IMAPS
CertificateFile %s
PipelineDepth 50

IMAPStore remote
Account sealbox

MaildirStore local
Path %s-folders/
Inbox %s
SubFolders Verbatim

Channel %s
Far :remote:
Near :local:
Sync %s
Expunge None
SyncState *
""" % (server.imaps_port, SYNC, server.users[SYNC], server.cert, near_path, near_path, channel, direction))
    return rc


def run_mbsync(rc, channel):
    p = subprocess.run([MBSYNC, "-c", rc, channel], capture_output=True, timeout=240 * TIME_SCALE)
    assert p.returncode == 0, "mbsync %s exited %d\nstdout: %s\nstderr: %s" % (
        channel, p.returncode, p.stdout.decode("utf-8", "replace")[-3000:],
        p.stderr.decode("utf-8", "replace")[-3000:])
    return p


@pytest.fixture(scope="module")
def generated():
    msgs = corpus(210)
    sizes = [len(m) for m in msgs]
    assert len(msgs) >= 200 and min(sizes) <= 250 and max(sizes) >= 250_000, (min(sizes), max(sizes))
    assert sum(1 for m in msgs if b"\r\n" not in m) >= 3, "a few bare-LF messages"
    return msgs


def test_mbsync_push_then_pull_is_byte_identical(server, generated, tmp_path):
    assert os.access(MBSYNC, os.X_OK), "mbsync is not installed (apt-get install isync)"
    src, dst = str(tmp_path / "src"), str(tmp_path / "dst")
    write_maildir(src, generated)
    write_maildir(dst, [])

    run_mbsync(mbsyncrc(str(tmp_path), server, src, "push", "Push"), "push")

    # 1. what the server stores, fetched by another client, equals the originals (CRLF)
    ctx = ssl.create_default_context(cafile=server.cert)
    m = imaplib.IMAP4_SSL("127.0.0.1", server.imaps_port, ssl_context=ctx, timeout=60)
    try:
        m.login(SYNC, server.users[SYNC])
        typ, data = m.select("INBOX", readonly=True)
        assert typ == "OK" and int(data[0]) == len(generated), "INBOX has %r messages after push" % data
        typ, data = m.fetch("1:*", "(RFC822.SIZE BODY.PEEK[])")
        assert typ == "OK"
        fm = fetch_map(imaplib_lines(data))
    finally:
        m.logout()
    served = []
    for seq, d in fm.items():
        assert int(d["RFC822.SIZE"]) == len(d["BODY[]"]), "message %d: RFC822.SIZE %s != %d bytes served" % (
            seq, d["RFC822.SIZE"], len(d["BODY[]"]))
        served.append(strip_tuid(d["BODY[]"]))
    want_crlf = sorted(to_crlf(g) for g in generated)
    got = sorted(served)
    missing = [w[:200] for w in want_crlf if w not in set(got)]
    assert not missing, "%d messages differ on the server, e.g. %r" % (len(missing), missing[:2])
    assert got == want_crlf

    # 2. pulled into an empty Maildir, byte-identical to the originals (LF)
    run_mbsync(mbsyncrc(str(tmp_path), server, dst, "pull", "Pull"), "pull")
    pulled = sorted(to_lf(strip_tuid(p)) for p in read_maildir(dst))
    want_lf = sorted(to_lf(g) for g in generated)
    assert len(pulled) == len(want_lf), "pulled %d of %d" % (len(pulled), len(want_lf))
    diff = [w[:200] for w in want_lf if w not in set(pulled)]
    assert not diff, "%d pulled messages differ, e.g. %r" % (len(diff), diff[:2])
    assert pulled == want_lf


def test_mbsync_second_run_is_a_no_op(server, tmp_path, generated):
    """A second push of the same small Maildir uploads nothing new (UIDs and state agree)."""
    src = str(tmp_path / "src2")
    write_maildir(src, generated[:5])
    rc = mbsyncrc(str(tmp_path), server, src, "push2", "Push")
    run_mbsync(rc, "push2")
    m = imaplib.IMAP4_SSL("127.0.0.1", server.imaps_port,
                          ssl_context=ssl.create_default_context(cafile=server.cert), timeout=60)
    try:
        m.login(SYNC, server.users[SYNC])
        n1 = int(m.select("INBOX", readonly=True)[1][0])
        m.close()
        run_mbsync(rc, "push2")
        n2 = int(m.select("INBOX", readonly=True)[1][0])
    finally:
        m.logout()
    assert n2 == n1, "second mbsync run changed the INBOX from %d to %d messages" % (n1, n2)
