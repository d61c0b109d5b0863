"""
Per-address quotas (issue 3; directory aliases.quota) through the real sealboxd and
the sealbox CLI:

  - `sealbox alias set ADDRESS --quota SIZE|none` (500M, 2G: powers of 1024) and
    what `alias list` shows; a malformed size is refused;
  - SMTP (RFC 5321, RFC 3463 X.2.2, RFC 1870): a full mailbox is refused at RCPT with
    "452 4.2.2" while the other recipients of the transaction still get the message; a
    SIZE declared at MAIL that does not fit is refused at RCPT the same way; a message
    that fits nobody's quota is refused after DATA with "552 5.2.2" and stored nowhere;
  - IMAP (RFC 9208): APPEND, COPY and MOVE over quota answer "NO [OVERQUOTA]", and work
    again once the quota is lifted; nothing new is advertised in CAPABILITY.

Usage is what the server counts (delivery/quota.h): the sizes of the address's encrypted
mailbox file and spool file (each with its -wal) on disk; the test computes it the same way.
"""
import os
import smtplib

import pytest

from lib.helpers import append, select
from lib.imapwire import Raw

DOMAIN = "example.org"
USERS = {
    "full@example.org": "full-quota-Passw0rd!x",
    "room@example.org": "room-quota-Passw0rd!x",
    "tight@example.org": "tight-quota-Passw0rd!",
    "imap@example.org": "imap-quota-Passw0rd!x",
}
SENDER = "sender@elsewhere.example"


def mailbox_ids(srv):
    ids = {}
    for line in srv.cli("alias", "list").stdout.decode().splitlines():
        f = line.split()
        if len(f) >= 2 and f[0] in USERS:
            ids[f[0]] = f[1]
    return ids


def usage(srv, mbid):
    total = 0
    for sub in ("mailboxes", "spool"):
        for suffix in ("", "-wal"):
            try:
                total += os.path.getsize(os.path.join(srv.dir, sub, mbid + ".db" + suffix))
            except FileNotFoundError:
                pass
    return total


def set_quota(srv, user, value):
    return srv.cli("alias", "set", user, "--quota", str(value))


def smtp(srv):
    return smtplib.SMTP(srv.host, srv.smtp_port, local_hostname="client.example", timeout=20)


def inbox_count(srv, user):
    r = Raw(srv.host, srv.imap_port)
    r.login(user, srv.users[user])
    resp = r.cmd("STATUS INBOX (MESSAGES)")
    r.logout()
    assert resp.ok(), resp.tagged
    line = resp.of("STATUS")[0]
    return int(line.split(b"MESSAGES ")[1].split(b")")[0])


@pytest.fixture(scope="module")
def srv(tmp_path_factory):
    from lib.server import Server
    s = Server(str(tmp_path_factory.mktemp("quota")))
    s.setup(domains=(DOMAIN,), users=USERS)
    s.start()
    yield s
    alive = s.alive()
    rc = s.stop()
    assert alive, "sealboxd died; stderr tail:\n%s" % s.log()[-3000:].decode("utf-8", "replace")
    assert rc == 0


def test_cli_sets_shows_and_clears_a_quota(srv):
    p = set_quota(srv, "room@example.org", "500M")
    assert p.stdout == b"Updated room@example.org:  quota=500M\n", p.stdout
    listed = [l for l in srv.cli("alias", "list").stdout.decode().splitlines() if l.startswith("room@")]
    assert len(listed) == 1 and listed[0].endswith("  quota=500M"), listed
    p = set_quota(srv, "room@example.org", "2g")
    assert p.stdout == b"Updated room@example.org:  quota=2G\n", p.stdout
    for bad in ("1.5G", "-5", "lots", "12Q"):
        p = srv.cli("alias", "set", "room@example.org", "--quota", bad, check=False)
        assert p.returncode == 1 and b"--quota" in p.stderr, (bad, p.returncode, p.stderr)
    p = srv.cli("alias", "set", "nobody@example.org", "--quota", "1G", check=False)
    assert p.returncode == 1 and b"no address" in p.stderr, p.stderr
    p = set_quota(srv, "room@example.org", "none")
    assert p.stdout == b"Updated room@example.org:\n", p.stdout


def test_full_mailbox_is_452_at_rcpt_and_the_others_still_get_it(srv):
    # 1K: every mailbox file is larger than that, so "full" is over its quota already.
    set_quota(srv, "full@example.org", "1K")
    before = inbox_count(srv, "room@example.org")
    s = smtp(srv)
    s.ehlo()
    assert s.mail(SENDER)[0] == 250
    code, text = s.rcpt("full@example.org")
    assert (code, text) == (452, b"4.2.2 Mailbox full"), (code, text)
    assert s.rcpt("room@example.org")[0] == 250
    code, text = s.data(b"Subject: to the one with room\r\n\r\nhello\r\n")
    assert code == 250, text
    s.quit()
    assert inbox_count(srv, "room@example.org") == before + 1
    set_quota(srv, "full@example.org", "none")
    s = smtp(srv)
    assert s.sendmail(SENDER, ["full@example.org"], b"Subject: room again\r\n\r\nx\r\n") == {}
    s.quit()


def test_declared_size_that_does_not_fit_is_452_at_rcpt(srv):
    mbid = mailbox_ids(srv)["tight@example.org"]
    set_quota(srv, "tight@example.org", usage(srv, mbid) + 50_000)
    s = smtp(srv)
    s.ehlo()
    assert s.mail(SENDER, ["SIZE=100000"])[0] == 250
    assert s.rcpt("tight@example.org") == (452, b"4.2.2 Mailbox full")
    s.rset()
    assert s.mail(SENDER, ["SIZE=1000"])[0] == 250
    assert s.rcpt("tight@example.org")[0] == 250
    s.rset()
    s.quit()


def test_message_that_fits_nobody_is_552_after_data_and_stored_nowhere(srv):
    mbid = mailbox_ids(srv)["tight@example.org"]
    before = inbox_count(srv, "tight@example.org")      # the login also drains the spool
    set_quota(srv, "tight@example.org", usage(srv, mbid) + 5_000)
    used = usage(srv, mbid)
    s = smtp(srv)
    s.ehlo()
    assert s.mail(SENDER)[0] == 250                     # no SIZE: nothing known at RCPT
    assert s.rcpt("tight@example.org")[0] == 250
    code, text = s.data(b"Subject: too big for the quota\r\n\r\n" + b"y" * 20_000 + b"\r\n")
    assert (code, text) == (552, b"5.2.2 Mailbox full"), (code, text)
    # Still a usable session, and a small message fits.
    assert s.sendmail(SENDER, ["tight@example.org"], b"Subject: small\r\n\r\nok\r\n") == {}
    s.quit()
    assert usage(srv, mbid) >= used
    assert inbox_count(srv, "tight@example.org") == before + 1
    set_quota(srv, "tight@example.org", "none")


def test_imap_append_copy_move_over_quota_are_no_overquota(srv):
    user = "imap@example.org"
    r = Raw(srv.host, srv.imap_port)
    r.login(user, srv.users[user])
    caps = r.cmd("CAPABILITY")
    assert b"QUOTA" not in b" ".join(caps.untagged).upper()
    uid = append(r, "INBOX", b"Subject: before the quota\r\n\r\nx\r\n")
    select(r, "INBOX")
    set_quota(srv, user, "1K")
    resp = r.cmd_lit(["APPEND INBOX ", b"Subject: over\r\n\r\nx\r\n", ""])
    assert resp.tagged.split(b" ", 3)[1:3] == [b"NO", b"[OVERQUOTA]"], resp.tagged
    resp = r.cmd("UID COPY %d Archive" % uid)
    assert resp.tagged.split(b" ", 3)[1:3] == [b"NO", b"[OVERQUOTA]"], resp.tagged
    resp = r.cmd("UID MOVE %d Archive" % uid)
    assert resp.tagged.split(b" ", 3)[1:3] == [b"NO", b"[OVERQUOTA]"], resp.tagged
    # Deleting is never refused.
    assert r.cmd("UID STORE %d +FLAGS.SILENT (\\Deleted)" % uid).ok()
    set_quota(srv, user, "none")
    assert r.cmd_lit(["APPEND INBOX ", b"Subject: after\r\n\r\nx\r\n", ""]).ok()
    resp = r.cmd("UID COPY %d Archive" % uid)
    assert resp.ok() and b"COPYUID" in resp.tagged, resp.tagged
    r.logout()
