"""
Zero access at rest (DESIGN.md promise 1): after a session that puts a random canary
into an address, a folder name, a keyword, subjects and bodies (ASCII and 8-bit),
searches for it and moves it around, no file under the data directory or the
daemon's TMPDIR contains the canary (database, -wal, -shm, journals, temp files,
logs), no file name contains the address or its local part, and the daemon's
stdout/stderr hold neither the canary nor the password.

The scan runs twice: while the daemon is running (WAL and -shm live) and after it
stopped.
"""
import os
import secrets

from lib.helpers import append, select
from lib.imapwire import Raw, quote
from lib.messages import crlf


def scan(root, needles):
    """[(path, needle)] for every file under root whose bytes or name contain a needle."""
    hits, nfiles, nbytes = [], 0, 0
    for dirpath, dirnames, filenames in os.walk(root):
        for n in dirnames + filenames:
            for nd in needles:
                if nd.lower() in n.lower().encode("utf-8", "replace"):
                    hits.append((os.path.relpath(os.path.join(dirpath, n), root), "name contains %r" % nd))
        for n in filenames:
            p = os.path.join(dirpath, n)
            try:
                with open(p, "rb") as f:
                    data = f.read()
            except (FileNotFoundError, PermissionError):
                continue      # a -shm or temp file that vanished meanwhile
            nfiles += 1
            nbytes += len(data)
            low = data.lower()
            for nd in needles:
                if nd.lower() in low:
                    hits.append((os.path.relpath(p, root), "content contains %r at %d" % (nd, low.index(nd.lower()))))
                    break     # the shorter needles are inside the longer ones
    return hits, nfiles, nbytes


def test_canary_never_reaches_disk_or_logs(fresh_server):
    canary = "cnry" + secrets.token_hex(10)
    local = "u" + canary
    addr = local + "@example.org"
    password = "pw-" + secrets.token_hex(16)
    srv = fresh_server(users={addr: password})

    folder = "F" + canary
    r = Raw(srv.host, srv.imap_port)
    r.login(addr, password)
    assert r.cmd("CREATE %s" % quote(folder)).ok()
    assert r.cmd("SUBSCRIBE %s" % quote(folder)).ok()
    msgs = []
    for i in range(20):
        body = ("Secret line %d with %s inside.\nGrüße %s — ünïcödé\n" % (i, canary, canary)) * (1 + i * 50)
        msg = crlf("From: Canary Sender <%s>\nTo: %s\nSubject: canary %s number %d\n"
                   "MIME-Version: 1.0\nContent-Type: text/plain; charset=utf-8\n"
                   "Content-Transfer-Encoding: 8bit\nX-Canary: %s\n\n" % (addr, addr, canary, i, canary) + body)
        msgs.append(msg)
        append(r, "INBOX" if i % 2 else folder, msg, flags="K%s" % canary if i % 3 == 0 else "")
    select(r, folder)
    resp = r.cmd("SEARCH TEXT %s" % canary)
    assert resp.ok() and len(resp.of("SEARCH")[0].split()) == 1 + 10, resp
    assert r.cmd("SEARCH SUBJECT %s" % canary).ok()
    assert r.cmd("FETCH 1:* (ENVELOPE BODYSTRUCTURE BODY[])").ok()
    assert r.cmd("STORE 1:3 +FLAGS (\\Flagged)").ok()
    assert r.cmd("COPY 1:2 Trash").ok()
    assert r.cmd("MOVE 3 Archive").ok()
    assert r.cmd("STORE 4 +FLAGS.SILENT (\\Deleted)").ok()
    assert r.cmd("EXPUNGE").ok()
    assert r.cmd("RENAME %s %s" % (quote(folder), quote(folder + "x"))).ok()
    r.logout()
    # a second login (key cache path) and an unsuccessful one
    r = Raw(srv.host, srv.imap_port)
    r.login(addr, password)
    r.logout()
    r = Raw(srv.host, srv.imap_port, timeout=15)
    bad = r.cmd("LOGIN %s %s" % (quote(addr), quote("wrong-" + canary)))
    assert bad.status == "NO", bad.tagged
    r.close()

    needles = [canary.encode(), local.encode(), addr.encode()]
    hits, nfiles, nbytes = scan(srv.dir, needles)
    t_hits, _, _ = scan(srv.tmpdir, needles)
    assert nfiles > 0 and nbytes > 0, "nothing under %s?" % srv.dir
    assert not hits + t_hits, "plaintext at rest while running: %r" % (hits + t_hits)[:20]

    rc = srv.stop()
    assert rc == 0, "sealboxd exited %r on SIGTERM" % rc
    hits, _, _ = scan(srv.dir, needles)
    t_hits, _, _ = scan(srv.tmpdir, needles)
    assert not hits + t_hits, "plaintext at rest after stop: %r" % (hits + t_hits)[:20]

    for name, data in (("stderr", srv.log()), ("stdout", srv.stdout())):
        for nd in needles + [password.encode()]:
            assert nd not in data, "sealboxd %s contains %r" % (name, nd)
