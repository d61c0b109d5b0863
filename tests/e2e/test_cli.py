"""
The admin CLI contract as a user meets it, checked through IMAP logins:
init, domain add, alias add (generated or --password-stdin), alias list,
alias password, alias remove; and sealboxd's first start on an empty directory.
"""
import re
import subprocess

from lib.imapwire import Raw, quote
from lib.server import Server


def try_login(srv, user, pw):
    with Raw(srv.host, srv.imap_port, timeout=15) as r:
        return r.cmd("LOGIN %s %s" % (quote(user), quote(pw)))


def test_alias_add_prints_generated_password_on_last_line(fresh_server):
    srv = fresh_server(start=False)
    p = srv.cli("alias", "add", "gen@example.org")
    last = p.stdout.decode().rstrip("\n").split("\n")[-1]
    assert re.fullmatch(r"\S{16,}", last), "last stdout line must be the password alone: %r" % last
    # >= 128 bits: at least 22 base64 characters or 32 hex digits
    assert len(last) >= 22, last
    srv.start()
    assert try_login(srv, "gen@example.org", last).ok()


def test_password_stdin_refuses_short_password(fresh_server):
    srv = fresh_server(start=False)
    p = srv.cli("alias", "add", "--password-stdin", "short@example.org", input=b"short\n", check=False)
    assert p.returncode != 0, "a password under 12 characters must be refused"
    lst = srv.cli("alias", "list").stdout
    assert b"short@example.org" not in lst


def test_alias_for_unknown_domain_is_refused(fresh_server):
    srv = fresh_server(start=False)
    p = srv.cli("alias", "add", "--password-stdin", "x@unknown.example", input=b"long-enough-password\n",
                check=False)
    assert p.returncode != 0


def test_alias_list_shows_addresses(fresh_server):
    srv = fresh_server(users={"one@example.org": "password-one-123", "two@example.org": "password-two-123"},
                       start=False)
    out = srv.cli("alias", "list").stdout.decode()
    assert "one@example.org" in out and "two@example.org" in out, out


def test_alias_password_replaces_password_and_keeps_mail(fresh_server):
    user, old = "chg@example.org", "old-password-12345"
    srv = fresh_server(users={user: old})
    with Raw(srv.host, srv.imap_port) as r:
        r.login(user, old)
        m = b"Subject: keep me\r\n\r\nstill here\r\n"
        assert r.cmd_lit(["APPEND INBOX ", m, ""]).ok()
        r.logout()
    assert srv.stop() == 0
    p = srv.cli("alias", "password", user, input=(old + "\n").encode())
    new = p.stdout.decode().rstrip("\n").split("\n")[-1]
    assert new and new != old
    srv.start()
    assert try_login(srv, user, old).status == "NO", "the old password must stop working"
    with Raw(srv.host, srv.imap_port) as r:
        r.login(user, new)
        resp = r.cmd("SELECT INBOX")
        assert resp.of("EXISTS") == [b"1 EXISTS"], "mail must survive a password change"
        assert r.cmd("FETCH 1 BODY.PEEK[TEXT]").untagged[0].endswith(b"still here\r\n)")
        r.logout()


def test_doctor_checks_the_mailbox_with_the_password(fresh_server):
    """sealbox doctor: integrity_check of the encrypted file, opened with the
    owner's password; a damaged page is reported, a wrong password refused."""
    import glob, os
    user, pw = "doc@example.org", "doctor-password-12"
    srv = fresh_server(users={user: pw})
    with Raw(srv.host, srv.imap_port) as r:
        r.login(user, pw)
        for i in range(30):
            assert r.cmd_lit(["APPEND INBOX ", b"Subject: %d\r\n\r\n" % i + b"x" * 3000 + b"\r\n", ""]).ok()
        r.logout()
    assert srv.stop() == 0
    ok = srv.cli("doctor", user, input=(pw + "\n").encode(), check=False)
    assert ok.returncode == 0 and ok.stdout == b"ok\n", ok
    bad = srv.cli("doctor", user, input=b"not-the-password-1\n", check=False)
    assert bad.returncode == 1 and b"ok" not in bad.stdout
    # Damage one byte in the middle of the (checkpointed) file: the page no longer
    # authenticates, and doctor says so instead of "ok".
    [path] = glob.glob(os.path.join(srv.dir, "mailboxes", "*.db"))
    with open(path, "r+b") as f:
        size = os.path.getsize(path)
        f.seek(size // 2)
        byte = f.read(1)
        f.seek(size // 2)
        f.write(bytes([byte[0] ^ 0xFF]))
    broken = srv.cli("doctor", user, input=(pw + "\n").encode(), check=False)
    assert broken.returncode == 1 and broken.stdout != b"ok\n", broken


def test_alias_password_with_wrong_current_password_fails(fresh_server):
    user, pw = "chg2@example.org", "right-password-123"
    srv = fresh_server(users={user: pw}, start=False)
    p = srv.cli("alias", "password", user, input=b"wrong-password-123\n", check=False)
    assert p.returncode != 0


def test_alias_remove_then_login_fails(fresh_server):
    user, pw = "gone@example.org", "gone-password-123"
    srv = fresh_server(users={user: pw}, start=False)
    srv.cli("alias", "remove", user)
    assert user.encode() not in srv.cli("alias", "list").stdout
    srv.start()
    resp = try_login(srv, user, pw)
    assert resp.status == "NO", resp.tagged


def test_init_is_idempotent(fresh_server):
    user, pw = "idem@example.org", "idem-password-123"
    srv = fresh_server(users={user: pw}, start=False)
    with open(srv.cert, "rb") as f:
        cert = f.read()
    srv.cli("init")
    with open(srv.cert, "rb") as f:
        assert f.read() == cert, "init must not replace the certificate"
    srv.start()
    assert try_login(srv, user, pw).ok()


def test_first_start_on_empty_directory_creates_demo_address(tmp_path):
    srv = Server(str(tmp_path / "empty"))
    try:
        srv.start()
        out = srv.stdout().decode("utf-8", "replace")
        addr = re.search(r"address:\s*(\S+@\S+)", out)
        pw = re.search(r"password:\s*(\S+)", out)
        assert addr and pw, "sealboxd must print the demo address and password: %r" % out
        srv.users[addr.group(1)] = pw.group(1)
        assert try_login(srv, addr.group(1), pw.group(1)).ok()
    finally:
        rc = srv.stop()
    assert rc == 0, "exit status on SIGTERM"
    assert srv.stdout().count(b"password:") == 1
    srv.start()                     # second start: nothing new is created or printed
    try:
        assert srv.stdout().count(b"password:") == 1
    finally:
        srv.stop()


def test_sealboxd_help_documents_flags():
    from lib.server import binaries
    d, _ = binaries()
    p = subprocess.run([d, "--help"], capture_output=True, timeout=10)
    assert p.returncode == 0
    text = p.stdout.decode()
    for flag in ("-d", "--imap", "--imaps"):
        assert flag in text, text


def test_sigterm_right_after_the_ports_open_is_a_clean_stop(fresh_server):
    """Signals are caught before any listener opens: a SIGTERM as soon as the ports
    accept (before the event loops run) still ends sealboxd with status 0."""
    srv = fresh_server(start=False)
    for _ in range(5):
        srv.start()
        assert srv.stop() == 0


def test_mailbox_cache_setting_is_checked_and_used(fresh_server):
    """mailbox_cache_mb: out of range stops sealboxd with the key named; in range
    it starts and serves (the cache itself is measured in bench/, not here)."""
    import os
    from lib.server import binaries, set_conf
    srv = fresh_server(users={"cache@example.org": "cache-setting-password"}, start=False)
    conf = os.path.join(srv.dir, "sealbox.conf")
    set_conf(conf, "mailbox_cache_mb", "1")
    d, _ = binaries()
    p = subprocess.run([d, "-d", srv.dir, "--no-demo"], capture_output=True, timeout=30, env=srv.env)
    assert p.returncode == 1, p
    assert b"mailbox_cache_mb" in p.stderr, p.stderr
    set_conf(conf, "mailbox_cache_mb", "8")
    srv.start()
    try:
        assert try_login(srv, "cache@example.org", "cache-setting-password").ok()
    finally:
        assert srv.stop() == 0
