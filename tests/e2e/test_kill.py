"""
Nothing acknowledged is lost (DESIGN.md promise 3, small version): sealboxd is killed
with SIGKILL right after IMAP answered OK to APPEND / STORE / COPY; after a restart on
the same data directory every acknowledged change is there, exactly once.
"""
from lib.helpers import append, fetch, norm_flags, select, status
from lib.imapwire import Raw
from lib.messages import crlf

USER = "durable@example.org"
PW = "durable-Passw0rd-e2e"


def msg(i):
    return crlf("From: k@example.org\nTo: %s\nSubject: durable %d\n\nacknowledged body %d\n" % (USER, i, i))


def login(srv):
    r = Raw(srv.host, srv.imap_port, timeout=20)
    r.login(USER, PW)
    return r


def test_append_acknowledged_then_kill_9_is_kept(fresh_server):
    srv = fresh_server(users={USER: PW})
    r = login(srv)
    uid = append(r, "INBOX", msg(1))
    srv.kill()                      # right after the tagged OK
    r.close()
    srv.start()
    r = login(srv)
    select(r, "INBOX")
    m = fetch(r, "1:*", "(UID BODY.PEEK[])")
    assert [v["BODY[]"] for v in m.values()] == [msg(1)], m
    assert int(m[1]["UID"]) == uid
    r.logout()


def test_many_acknowledged_changes_survive_kill_9(fresh_server):
    srv = fresh_server(users={USER: PW})
    r = login(srv)
    for i in range(20):
        append(r, "INBOX", msg(i))
    select(r, "INBOX")
    assert r.cmd("STORE 1:5 +FLAGS (\\Flagged)").ok()
    assert r.cmd("COPY 6:8 Archive").ok()
    assert r.cmd("MOVE 9 Trash").ok()
    srv.kill()
    r.close()
    srv.start()
    r = login(srv)
    select(r, "INBOX")
    m = fetch(r, "1:*", "(FLAGS BODY.PEEK[])")
    bodies = [m[s]["BODY[]"] for s in sorted(m)]
    assert bodies == [msg(i) for i in range(20) if i != 8], "INBOX after kill -9 and restart"
    flagged = [s for s in sorted(m) if "\\Flagged" in norm_flags(m[s]["FLAGS"])]
    assert flagged == [1, 2, 3, 4, 5], flagged
    assert status(r, "Archive", "(MESSAGES)")["MESSAGES"] == 3
    assert status(r, "Trash", "(MESSAGES)")["MESSAGES"] == 1
    # the server keeps working normally after recovery
    append(r, "INBOX", msg(99))
    assert status(r, "INBOX", "(MESSAGES)")["MESSAGES"] == 20
    r.logout()
    assert srv.stop() == 0


def test_restart_after_clean_stop_keeps_uidvalidity_and_uidnext(fresh_server):
    srv = fresh_server(users={USER: PW})
    r = login(srv)
    append(r, "INBOX", msg(1))
    codes = select(r, "INBOX").codes()
    r.logout()
    assert srv.stop() == 0
    srv.start()
    r = login(srv)
    codes2 = select(r, "INBOX").codes()
    assert codes2["UIDVALIDITY"] == codes["UIDVALIDITY"]
    assert codes2["UIDNEXT"] == codes["UIDNEXT"]
    r.logout()
