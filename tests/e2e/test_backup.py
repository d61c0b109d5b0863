"""
Backups and restore end to end: the real `sealbox` CLI and `sealboxd`, and a real
S3-compatible server on loopback.

The S3 server is npm `@20minutes/s3rver@4.0.4` (installed by `scripts/deps.sh test`
into build/deps/s3rver): it checks SigV4 signatures (a wrong secret gets 403),
though not payload hashes. Its tarball has no `bin`, so the test writes a small
node script that starts it through its JS API. Its on-disk store
(<dir>/<bucket>/<key>._S3rver_object and ..._S3rver_metadata.json) is read to
check what arrived: the bytes, the x-amz-meta-sha256 metadata, the key names.

What is checked: upload and the metadata hash, list of versions, download and
restore, an unchanged mailbox is not uploaded twice, a wrong secret is refused
with a clear error, the multipart path (a small s3_part_size), restore while an
IMAP session is connected (the session gets BYE, a new login sees the restored
state), no canary plaintext in any stored object, the default local target in
DIR/backups, and `alias purge` removing the mailbox and every backup.
"""
import hashlib
import json
import os
import re
import secrets
import shutil
import smtplib
import socket
import subprocess
import time

STORE_WATCH_POLL_SEC = 5   # src/store/store_watch.h

import pytest

from lib.helpers import append, select
from lib.imapwire import Raw
from lib.server import TIME_SCALE, set_conf

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
S3RVER = os.path.join(ROOT, "build", "deps", "s3rver", "node_modules", "@20minutes", "s3rver")
BUCKET = "sealbox-e2e"
USER = "backup@example.org"
PASSWORD = "backup-e2e-Passw0rd!x"

RUNNER = r"""
const S3rver = require(process.argv[2]);
const s = new S3rver({ port: 0, address: '127.0.0.1', directory: process.argv[3],
  silent: false, vhostBuckets: false, configureBuckets: [{ name: process.argv[4] }] });
s.run().then((a) => { console.log('READY ' + a.port); });
"""


@pytest.fixture(scope="module")
def s3(tmp_path_factory):
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed (scripts/deps.sh test installs npm, which brings it)")
    assert os.path.isdir(S3RVER), "s3rver missing: run scripts/deps.sh test (it installs %s)" % S3RVER
    work = tmp_path_factory.mktemp("s3rver")
    script = work / "run.js"
    script.write_text(RUNNER)
    data = work / "data"
    log = open(work / "log", "wb")
    p = subprocess.Popen([node, str(script), S3RVER, str(data), BUCKET], stdout=log,
                         stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    port = None
    deadline = time.monotonic() + 30
    while port is None and time.monotonic() < deadline:
        time.sleep(0.1)
        m = re.search(rb"READY (\d+)", (work / "log").read_bytes())
        if m:
            port = int(m.group(1))
        assert p.poll() is None, "s3rver exited: %r" % (work / "log").read_bytes()[-2000:]
    assert port, "s3rver did not start: %r" % (work / "log").read_bytes()[-2000:]

    class S3:
        endpoint = "http://127.0.0.1:%d" % port
        root = data / BUCKET
        logfile = work / "log"

        def objects(self, prefix):
            """{key: (bytes, metadata)} under prefix, from s3rver's store."""
            out = {}
            base = self.root / prefix
            for dirpath, _, files in os.walk(base):
                for n in files:
                    if n.endswith("._S3rver_object"):
                        path = os.path.join(dirpath, n)
                        key = os.path.relpath(path, self.root)[:-len("._S3rver_object")]
                        with open(path, "rb") as f:
                            body = f.read()
                        with open(path[:-len("_object")] + "_metadata.json") as f:
                            meta = json.load(f)
                        out[key] = (body, meta)
            return out

    yield S3()
    p.terminate()
    p.wait(10)
    log.close()


@pytest.fixture
def box(fresh_server, s3):
    srv = fresh_server(users={USER: PASSWORD})
    srv.env.update(SEALBOX_S3_ENDPOINT=s3.endpoint, AWS_ACCESS_KEY_ID="S3RVER",
                   AWS_SECRET_ACCESS_KEY="S3RVER", AWS_REGION="us-east-1")
    out = srv.cli("alias", "list").stdout.decode()
    srv.mailbox_id = re.search(r"^%s\s+([0-9a-f]{32})" % re.escape(USER), out, re.M).group(1)
    return srv


def login(srv):
    r = Raw(srv.host, srv.imap_port)
    r.login(USER, PASSWORD)
    return r


def add_message(srv, text):
    with login(srv) as r:
        msg = "From: a@example.org\r\nSubject: %s\r\n\r\n%s\r\n" % (text, text)
        append(r, "INBOX", msg.encode())


def inbox_subjects(srv):
    with login(srv) as r:
        select(r, "INBOX")
        resp = r.cmd("FETCH 1:* (BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
        assert resp.ok()
        return sorted(re.findall(rb"Subject: (\S+)", b"\n".join(resp.untagged)))


def cli_pw(srv, *args, check=True):
    return srv.cli(*args, input=(PASSWORD + "\n").encode(), check=check)


def stored(out):
    m = re.match(rb"stored (\S+) size (\d+) sha256 ([0-9a-f]{64})\n", out)
    assert m, out
    return m.group(1).decode(), int(m.group(2)), m.group(3).decode()


def test_s3_upload_list_unchanged_restore(box, s3):
    target = "s3://%s/daily" % BUCKET
    canary = "CANARY" + secrets.token_hex(8)
    add_message(box, canary)
    v1, size1, sha1 = stored(cli_pw(box, "backup", "run", USER, "--target", target).stdout)

    # What arrived: one object named by the mailbox id (never the address), whose
    # bytes hash to the metadata the CLI reported; no plaintext in it.
    objs = s3.objects("daily")
    assert list(objs) == ["daily/%s/%s.db" % (box.mailbox_id, v1)]
    body, meta = objs["daily/%s/%s.db" % (box.mailbox_id, v1)]
    assert len(body) == size1
    assert hashlib.sha256(body).hexdigest() == sha1 == meta["x-amz-meta-sha256"]
    assert canary.encode() not in body and b"SQLite format 3" not in body
    assert USER.encode() not in body and b"backup" not in " ".join(objs).encode()

    # Nothing changed: nothing uploaded.
    out = cli_pw(box, "backup", "run", USER, "--target", target).stdout
    assert out == ("unchanged %s\n" % v1).encode()
    assert len(s3.objects("daily")) == 1

    add_message(box, "second")
    v2, _, sha2 = stored(cli_pw(box, "backup", "run", USER, "--target", target).stdout)
    assert v2 > v1 and sha2 != sha1
    listing = box.cli("backup", "list", USER, "--target", target).stdout.decode().splitlines()
    assert [l.split()[0] for l in listing] == [v1, v2]
    assert [l.split()[2] for l in listing] == [sha1, sha2]
    assert inbox_subjects(box) == sorted([canary.encode(), b"second"])

    # Restore v1 while a session has INBOX selected: its next command gets BYE.
    r = login(box)
    select(r, "INBOX")
    out = cli_pw(box, "backup", "restore", USER, "--version", v1, "--target", target).stdout
    assert out == ("restored %s\n" % v1).encode()
    tag = r.next_tag()
    r.send(("%s NOOP\r\n" % tag).encode())
    line = r._line()
    assert line.startswith(b"* BYE Mailbox restored from a backup"), line
    r.close()
    # A new login sees the restored state, and the file is sound.
    assert inbox_subjects(box) == [canary.encode()]
    assert cli_pw(box, "doctor", USER).stdout == b"ok\n"
    add_message(box, "after")
    assert inbox_subjects(box) == sorted([canary.encode(), b"after"])


def test_restore_reaches_a_session_in_idle_and_an_import_its_exists(box, s3, tmp_path):
    """Changes made by other processes reach an IDLE client without it sending
    anything (sealboxd polls the watched mailbox files, store_watch_poll): a
    message imported by the CLI shows up as EXISTS, a restore as BYE."""
    add_message(box, "first")
    v1, _, _ = stored(cli_pw(box, "backup", "run", USER).stdout)
    r = login(box)
    select(r, "INBOX")
    r.send(b"I1 IDLE\r\n")
    assert r._line().startswith(b"+")
    # Wait past a poll so that the session's watch has seen the file once.
    time.sleep(STORE_WATCH_POLL_SEC + 0.5)
    maildir = tmp_path / "md"
    for sub in ("cur", "new", "tmp"):
        (maildir / sub).mkdir(parents=True)
    (maildir / "cur" / "1.host:2,S").write_bytes(b"From: c@example.org\nSubject: imported\n\nhi\n")
    cli_pw(box, "import", USER, "--format", "maildir", str(maildir))
    line = r.wait_for(lambda l: l == b"* 2 EXISTS", (STORE_WATCH_POLL_SEC + 3) * TIME_SCALE)
    assert line, "no EXISTS for the imported message while idling; got %r" % r.seen
    cli_pw(box, "backup", "restore", USER, "--version", v1)
    line = r.wait_for(lambda l: l.startswith(b"* BYE"), (STORE_WATCH_POLL_SEC + 3) * TIME_SCALE)
    assert line and b"restored from a backup" in line, r.seen
    r.close()
    assert inbox_subjects(box) == [b"first"]


def test_s3_wrong_secret_is_refused(box, s3):
    add_message(box, "x")
    box.env["AWS_SECRET_ACCESS_KEY"] = "not-the-secret"
    p = cli_pw(box, "backup", "run", USER, "--target", "s3://%s/wrong" % BUCKET, check=False)
    assert p.returncode == 1
    assert b"access denied (HTTP 403 SignatureDoesNotMatch): check the access key and secret" in p.stderr
    assert b"not-the-secret" not in p.stderr + p.stdout
    p = box.cli("backup", "list", USER, "--target", "s3://%s/wrong" % BUCKET, check=False)
    assert p.returncode == 1 and b"HTTP 403" in p.stderr
    assert s3.objects("wrong") == {}


def test_s3_multipart_upload_and_restore(box, s3):
    set_conf(os.path.join(box.dir, "sealbox.conf"), "s3_part_size", "16384")
    for i in range(3):
        add_message(box, "m%d-" % i + "x" * 2000)
    before = s3.logfile.read_bytes().count(b"partNumber=")
    target = "s3://%s/multi/part" % BUCKET
    v, size, sha = stored(cli_pw(box, "backup", "run", USER, "--target", target).stdout)
    assert size > 16384
    parts = s3.logfile.read_bytes().count(b"partNumber=") - before
    assert parts == (size + 16383) // 16384, parts
    body, meta = s3.objects("multi/part")["multi/part/%s/%s.db" % (box.mailbox_id, v)]
    assert hashlib.sha256(body).hexdigest() == sha == meta["x-amz-meta-sha256"]
    add_message(box, "later")
    assert cli_pw(box, "backup", "restore", USER, "--target", target).stdout == ("restored %s\n" % v).encode()
    assert len(inbox_subjects(box)) == 3


def test_local_default_target_and_purge(box, s3):
    add_message(box, "local")
    v, _, sha = stored(cli_pw(box, "backup", "run", USER).stdout)
    path = os.path.join(box.dir, "backups", box.mailbox_id, v + ".db")
    with open(path, "rb") as f:
        assert hashlib.sha256(f.read()).hexdigest() == sha
    assert os.stat(path).st_mode & 0o777 == 0o600
    # Backups at S3 too, then purge with S3 as the configured target.
    set_conf(os.path.join(box.dir, "sealbox.conf"), "backup_target", "s3://%s/purge" % BUCKET)
    stored(cli_pw(box, "backup", "run", USER).stdout)
    add_message(box, "more")
    stored(cli_pw(box, "backup", "run", USER).stdout)
    assert len(s3.objects("purge")) == 2
    out = box.cli("alias", "purge", USER).stdout
    assert out == ("Purged %s: its mailbox, its spool and 2 backup(s).\n" % USER).encode()
    assert s3.objects("purge") == {}
    assert not os.path.exists(os.path.join(box.dir, "mailboxes", box.mailbox_id + ".db"))
    assert USER not in box.cli("alias", "list").stdout.decode()
    r = Raw(box.host, box.imap_port)
    resp = r.cmd('LOGIN "%s" "%s"' % (USER, PASSWORD))
    assert not resp.ok()
    r.close()


def test_purge_removes_the_spool(box, s3):
    # An address nobody has logged in to: SMTP mail waits sealed in its spool.
    other = "spooled@example.org"
    box.add_user(other, PASSWORD)
    other_id = re.search(r"^%s\s+([0-9a-f]{32})" % re.escape(other),
                         box.cli("alias", "list").stdout.decode(), re.M).group(1)
    with smtplib.SMTP(box.host, box.smtp_port, local_hostname="client.example", timeout=20) as s:
        s.sendmail("a@elsewhere.example", [other], b"Subject: spooled\r\n\r\nwaiting\r\n")
    spool = os.path.join(box.dir, "spool", other_id + ".db")
    assert os.path.isfile(spool)
    out = box.cli("alias", "purge", other).stdout
    assert out == ("Purged %s: its mailbox, its spool and 0 backup(s).\n" % other).encode()
    assert not any(n.startswith(other_id) for n in os.listdir(os.path.join(box.dir, "spool")))
    assert not os.path.exists(os.path.join(box.dir, "mailboxes", other_id + ".db"))
    # The other address is untouched.
    assert inbox_subjects(box) == []


def test_restore_of_a_damaged_backup_is_refused(box, s3):
    add_message(box, "one")
    v, _, _ = stored(cli_pw(box, "backup", "run", USER).stdout)
    add_message(box, "two")
    path = os.path.join(box.dir, "backups", box.mailbox_id, v + ".db")
    with open(path, "r+b") as f:
        f.truncate(os.path.getsize(path) // 2)
    p = cli_pw(box, "backup", "restore", USER, check=False)
    assert p.returncode == 1
    assert b"the mailbox was not touched" in p.stderr
    assert inbox_subjects(box) == [b"one", b"two"]


def test_xbackup_command(box, s3):
    add_message(box, "x1")
    with login(box) as r:
        caps = r.cmd("CAPABILITY")
        assert b" X-BACKUP" in b"".join(caps.untagged)
        resp = r.cmd("XBACKUP")
        m = re.match(rb"T\d+ OK \[X-BACKUP (\d{8}T\d{6}\.\d{3}Z)\] stored$", resp.tagged)
        assert m, resp.tagged
        v = m.group(1).decode()
        resp = r.cmd("XBACKUP")
        assert resp.tagged.endswith(("OK [X-BACKUP %s] unchanged" % v).encode()), resp.tagged
        assert os.path.isfile(os.path.join(box.dir, "backups", box.mailbox_id, v + ".db"))
    r = Raw(box.host, box.imap_port)
    assert r.cmd("XBACKUP").tagged.endswith(b"BAD Authenticate first.")
    r.close()


def test_daily_backup_after_login(box, s3):
    add_message(box, "daily")
    folder = os.path.join(box.dir, "backups", box.mailbox_id)
    assert not os.path.exists(folder)
    with login(box) as r:
        assert r.cmd("NOOP").ok()          # the first command after login plans the check
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not (os.path.isdir(folder) and
                                                    any(n.endswith(".db") for n in os.listdir(folder))):
            time.sleep(0.2)
        versions = [n for n in os.listdir(folder) if n.endswith(".db")]
        assert len(versions) == 1, versions
        # The runner logs its summary just after the version is in place.
        while time.monotonic() < deadline and b"daily backup: stored" not in box.log():
            time.sleep(0.05)
    assert b"daily backup: stored" in box.log()
    assert USER.encode() not in box.log()


def test_shutdown_aborts_an_upload_in_flight(fresh_server):
    # An S3 endpoint that accepts connections and never answers: the daily
    # backup hangs in its first request until SIGTERM must cut it short.
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)
    srv = fresh_server(users={USER: PASSWORD}, start=False)
    conf = os.path.join(srv.dir, "sealbox.conf")
    set_conf(conf, "backup_target", "s3://%s/hang" % BUCKET)
    set_conf(conf, "s3_endpoint", "http://127.0.0.1:%d" % silent.getsockname()[1])
    set_conf(conf, "s3_access_key", "S3RVER")
    set_conf(conf, "s3_secret_key", "S3RVER")
    srv.start()
    with login(srv) as r:
        assert r.cmd("NOOP").ok()
    conns = []
    silent.settimeout(20)
    conns.append(silent.accept()[0])       # the runner's request is in flight
    t0 = time.monotonic()
    assert srv.stop() == 0
    assert time.monotonic() - t0 < 5
    for c in conns:
        c.close()
    silent.close()
