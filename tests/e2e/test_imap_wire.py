"""
Wire-level behaviour real clients rely on: pipelined commands answered in order,
literals and quoted strings anywhere an astring goes, big messages through TLS,
and a client that stops reading a huge FETCH not stalling anybody else.
"""
import base64
import random
import time

from conftest import ALICE
from lib.helpers import append, fetch, select, status
from lib.imapwire import Raw, list_entries, quote
from lib.messages import crlf
from lib.server import TIME_SCALE


def small(n):
    return crlf("From: w@example.org\nTo: alice@example.org\nSubject: wire %d\n\nwire body %d\n" % (n, n))


def big_message(size, seed):
    rng = random.Random(seed)
    raw = bytes(rng.getrandbits(8) for _ in range(size * 3 // 4))
    b64 = base64.encodebytes(raw).replace(b"\n", b"\r\n")
    return crlf("From: big@example.org\nTo: alice@example.org\nSubject: big %d\nMIME-Version: 1.0\n"
                "Content-Type: application/octet-stream\nContent-Transfer-Encoding: base64\n\n" % seed) + b64


def test_pipelined_commands_are_each_answered(connect, mbox):
    """Sent in one write, every command gets its tagged answer (RFC 3501 5.5 lets a
    server run unambiguous ones concurrently, so the order is not checked)."""
    r = connect(ALICE)
    for i in range(3):
        append(r, mbox, small(i))
    cmds = ["SELECT %s" % quote(mbox), "NOOP", "FETCH 1:3 (UID FLAGS)", "STORE 2 +FLAGS (\\Flagged)",
            "SEARCH FLAGGED", "UID SEARCH ALL", "STATUS INBOX (MESSAGES)", "CHECK", "FETCH 3 BODY.PEEK[TEXT]",
            "NOSUCHCOMMAND", "NOOP", "EXPUNGE", "CLOSE", "NOOP"]
    tags = ["P%02d" % i for i in range(len(cmds))]
    r.send(b"".join(("%s %s\r\n" % (t, c)).encode() for t, c in zip(tags, cmds)))
    seen, search = [], None
    while len(seen) < len(tags):
        line = r.read_response()
        if line.startswith(b"* SEARCH") and search is None:
            search = line
        if not line.startswith(b"* "):
            seen.append(line.split(b" ", 2))
    got = {s[0].decode(): s[1].decode() for s in seen}
    assert sorted(got) == tags and len(seen) == len(tags), "tags answered: %r" % seen
    want = dict(zip(tags, ["OK"] * 9 + ["BAD"] + ["OK"] * 4))
    assert got == want, [(c, got[t]) for t, c in zip(tags, cmds) if got[t] != want[t]]
    assert search == b"* SEARCH 2", search


def test_login_with_literals(server):
    with Raw(server.host, server.imap_port) as r:
        pw = server.users[ALICE]
        resp = r.cmd_lit(["LOGIN ", ALICE.encode(), " ", pw.encode(), ""])
        assert resp.ok(), resp.tagged
    with Raw(server.host, server.imap_port) as r:
        r.send(b"L1 LOGIN {%d+}\r\n%s {%d+}\r\n%s\r\n" % (len(ALICE), ALICE.encode(), len(pw), pw.encode()))
        assert r.read_until_tag("L1").ok()


def test_login_with_atom_user_and_escaped_quoted_password(fresh_server):
    user, pw = "q@example.org", 'pa"ss\\word-123'
    srv = fresh_server(users={user: pw})
    with Raw(srv.host, srv.imap_port) as r:
        resp = r.cmd('LOGIN q@example.org "pa\\"ss\\\\word-123"')
        assert resp.ok(), resp.tagged


def test_authenticate_plain_with_matching_authzid(connect, server):
    r = connect()
    pw = server.users[ALICE]
    ir = base64.b64encode(ALICE.encode() + b"\0" + ALICE.encode() + b"\0" + pw.encode()).decode()
    assert r.cmd("AUTHENTICATE PLAIN " + ir).ok()


def test_authenticate_plain_as_someone_else_is_refused(connect, server):
    r = connect(timeout=15)
    pw = server.users[ALICE]
    ir = base64.b64encode(b"bob@example.org\0" + ALICE.encode() + b"\0" + pw.encode()).decode()
    resp = r.cmd("AUTHENTICATE PLAIN " + ir)
    assert resp.status == "NO", "authorising as another user must fail: %r" % resp.tagged


def test_mailbox_names_with_quotes_backslashes_and_spaces(connect, mbox, delim):
    r = connect(ALICE)
    names = [mbox + delim + 'say "hi"', mbox + delim + "back\\slash", mbox + delim + "two  spaces"]
    for n in names:
        assert r.cmd("CREATE " + quote(n)).ok(), n
    got = {e[2].decode() for e in list_entries(r.cmd("LIST %s *" % quote(mbox + delim)).of("LIST"))}
    assert set(names) <= got, got
    for n in names:
        append(r, n, small(1))
        assert status(r, n, "(MESSAGES)")["MESSAGES"] == 1
    resp = r.cmd_lit(["SELECT ", names[0].encode(), ""])
    assert resp.ok() and resp.of("EXISTS") == [b"1 EXISTS"], resp


def test_big_messages_round_trip_over_tls(server, mbox):
    msgs = [big_message(3_000_000, 1), big_message(1_000_000, 2)]
    import ssl
    ctx = ssl.create_default_context(cafile=server.cert)
    with Raw(server.host, server.imaps_port, tls=True, ctx=ctx, server_hostname="localhost",
             timeout=60 * TIME_SCALE) as r:
        r.login(ALICE, server.users[ALICE])
        for m in msgs:
            append(r, mbox, m)
        select(r, mbox)
        got = fetch(r, "1:2", "(RFC822.SIZE BODY.PEEK[])")
        for i, m in enumerate(msgs, 1):
            assert int(got[i]["RFC822.SIZE"]) == len(m)
            assert got[i]["BODY[]"] == m, "message %d (%d bytes) differs" % (i, len(m))
        part = fetch(r, "1", "BODY.PEEK[1]<1000000.50000>")[1]["BODY[1]<1000000>"]
        body = msgs[0][msgs[0].index(b"\r\n\r\n") + 4:]
        assert part == body[1000000:1050000]


def test_client_that_stops_reading_does_not_stall_others(server, mbox):
    """DESIGN.md: a huge FETCH to a slow client never blocks a loop."""
    w = Raw(server.host, server.imap_port, timeout=60)
    w.login(ALICE, server.users[ALICE])
    for i in range(4):
        append(w, mbox, big_message(2_000_000, 10 + i))
    w.close()
    slow = Raw(server.host, server.imap_port, timeout=30)
    try:
        slow.login(ALICE, server.users[ALICE])
        select(slow, mbox)
        slow.sock.setsockopt(__import__("socket").SOL_SOCKET, __import__("socket").SO_RCVBUF, 4096)
        for _ in range(5):
            slow.send(b"S FETCH 1:* BODY.PEEK[]\r\n")      # ~40 MB requested, never read
        time.sleep(0.5)
        t0 = time.monotonic()
        for _ in range(3):
            with Raw(server.host, server.imap_port, timeout=10 * TIME_SCALE) as other:
                other.login(ALICE, server.users[ALICE])
                assert other.cmd("SELECT %s" % quote(mbox)).ok()
                assert other.cmd("FETCH 1 (FLAGS RFC822.SIZE)").ok()
                assert other.cmd("LOGOUT").ok()
        assert time.monotonic() - t0 < 10 * TIME_SCALE
        with Raw(server.host, server.imaps_port, tls=True, timeout=10 * TIME_SCALE) as other:
            assert other.cmd("NOOP").ok()
    finally:
        slow.close()
    time.sleep(0.2)
    with Raw(server.host, server.imap_port) as r:
        r.login(ALICE, server.users[ALICE])
        assert r.cmd("NOOP").ok()
