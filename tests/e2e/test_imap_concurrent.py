"""
Two or more sessions on one mailbox (RFC 3501 5.2, 7.4.1; RFC 2177 IDLE): changes made
by session A reach session B live while B is in IDLE, and at NOOP otherwise; \\Recent
is given to exactly one session.

The IDLE push must arrive within PUSH_TIMEOUT (1 s, scaled by SEALBOX_E2E_TIME_SCALE
for sanitizer builds) of A's tagged OK.
"""
import os
import re
import time

from lib.helpers import append, fetch, norm_flags, select, status
from lib.imapwire import fetch_map
from lib.messages import crlf
from lib.server import TIME_SCALE

BOB = "bob@example.org"
PUSH_TIMEOUT = 1.0 * TIME_SCALE


def small(n):
    return crlf("From: a@example.org\nTo: bob@example.org\nSubject: concurrent %d\n\nbody %d\n" % (n, n))


def start_idle(r, tag="I1"):
    r.send(tag.encode() + b" IDLE\r\n")
    line = r.read_response()
    while line.startswith(b"* "):
        line = r.read_response()
    assert line.startswith(b"+"), "IDLE must answer with a continuation: %r" % line
    return tag


def stop_idle(r, tag):
    r.send(b"DONE\r\n")
    resp = r.read_until_tag(tag)
    assert resp.ok(), "IDLE ends with a tagged OK after DONE: %r" % resp.tagged
    return resp


def create(r, name):
    assert r.cmd('CREATE "%s"' % name).ok()


def test_idle_sees_exists_after_other_session_appends(connect):
    a, b = connect(BOB), connect(BOB)
    create(a, "idle_exists")
    append(a, "idle_exists", small(1))
    select(b, "idle_exists")
    tag = start_idle(b)
    append(a, "idle_exists", small(2))
    line = b.wait_for(lambda l: re.match(rb"\* 2 EXISTS$", l), PUSH_TIMEOUT)
    assert line, "no '* 2 EXISTS' within %.1fs of APPEND OK; got %r" % (PUSH_TIMEOUT, b.seen)
    stop_idle(b, tag)
    assert fetch(b, "2", "BODY.PEEK[]")[2]["BODY[]"] == small(2)


def test_idle_sees_expunge_after_other_session_expunges(connect):
    a, b = connect(BOB), connect(BOB)
    create(a, "idle_expunge")
    for i in range(3):
        append(a, "idle_expunge", small(i))
    select(a, "idle_expunge")
    select(b, "idle_expunge")
    tag = start_idle(b)
    assert a.cmd("STORE 2 +FLAGS.SILENT (\\Deleted)").ok()
    assert a.cmd("EXPUNGE").ok()
    line = b.wait_for(lambda l: re.match(rb"\* \d+ EXPUNGE$", l), PUSH_TIMEOUT)
    assert line == b"* 2 EXPUNGE", "got %r (all: %r)" % (line, b.seen)
    stop_idle(b, tag)
    assert b.cmd("NOOP").ok()
    m = fetch(b, "1:*", "BODY.PEEK[TEXT]")
    assert sorted(m) == [1, 2] and m[2]["BODY[TEXT]"] == b"body 2\r\n", m


def test_idle_sees_flag_change_after_other_session_stores(connect):
    a, b = connect(BOB), connect(BOB)
    create(a, "idle_flags")
    append(a, "idle_flags", small(1))
    select(a, "idle_flags")
    select(b, "idle_flags")
    tag = start_idle(b)
    assert a.cmd("STORE 1 +FLAGS (\\Flagged $Label1)").ok()
    line = b.wait_for(lambda l: re.match(rb"\* 1 FETCH ", l) and b"\\Flagged" in l, PUSH_TIMEOUT)
    assert line, "no '* 1 FETCH (FLAGS (... \\Flagged))' within %.1fs; got %r" % (PUSH_TIMEOUT, b.seen)
    flags = norm_flags(fetch_map([line[2:]])[1]["FLAGS"])
    assert {"\\Flagged", "$Label1"} <= flags, line
    stop_idle(b, tag)


def test_session_not_idling_gets_updates_at_noop(connect):
    a, c = connect(BOB), connect(BOB)
    create(a, "noop_updates")
    for i in range(2):
        append(a, "noop_updates", small(i))
    select(a, "noop_updates")
    select(c, "noop_updates")
    append(a, "noop_updates", small(2))
    assert a.cmd("STORE 1 +FLAGS (\\Seen)").ok()
    resp = c.cmd("NOOP")
    assert resp.ok()
    assert b"3 EXISTS" in resp.untagged, resp.untagged
    m = fetch_map(resp.untagged)
    assert 1 in m and "\\Seen" in norm_flags(m[1]["FLAGS"]), resp.untagged
    assert a.cmd("STORE 1 +FLAGS.SILENT (\\Deleted)").ok()
    assert a.cmd("EXPUNGE").ok()
    resp = c.cmd("NOOP")
    assert resp.of("EXPUNGE") == [b"1 EXPUNGE"], resp.untagged
    assert len(fetch(c, "1:*", "UID")) == 2


def test_no_expunge_pushed_during_fetch_and_sequence_numbers_stay_valid(connect):
    """RFC 3501 7.4.1: no EXPUNGE response while FETCH/STORE/SEARCH run; after NOOP the
    numbers match the server's view again."""
    a, c = connect(BOB), connect(BOB)
    create(a, "seq_consistency")
    for i in range(4):
        append(a, "seq_consistency", small(i))
    select(a, "seq_consistency")
    select(c, "seq_consistency")
    assert a.cmd("STORE 1 +FLAGS.SILENT (\\Deleted)").ok()
    assert a.cmd("EXPUNGE").ok()
    resp = c.cmd("FETCH 4 (BODY.PEEK[TEXT])")
    assert resp.of("EXPUNGE") == [], "EXPUNGE sent during FETCH: %r" % resp.untagged
    resp = c.cmd("SEARCH ALL")
    assert resp.of("EXPUNGE") == [], "EXPUNGE sent during SEARCH: %r" % resp.untagged
    # C's numbering is unchanged: 2..4 are still its messages 2..4; whether the
    # expunged message 1 is listed is up to the server (RFC 2180 4.1).
    assert resp.of("SEARCH") in ([b"SEARCH 1 2 3 4"], [b"SEARCH 2 3 4"]), resp.untagged
    resp = c.cmd("STORE 4 +FLAGS (\\Flagged)")
    assert resp.ok() and resp.of("EXPUNGE") == [], "EXPUNGE sent during STORE: %r" % resp.untagged
    assert re.match(rb"4 FETCH ", resp.of("FETCH")[0]), "STORE 4 must still mean C's message 4: %r" % resp.untagged
    resp = c.cmd("NOOP")
    assert resp.of("EXPUNGE") == [b"1 EXPUNGE"], resp.untagged
    m = fetch(c, "1:*", "(FLAGS BODY.PEEK[TEXT])")
    assert [m[s]["BODY[TEXT]"] for s in sorted(m)] == [b"body %d\r\n" % i for i in (1, 2, 3)]
    assert "\\Flagged" in norm_flags(m[3]["FLAGS"]), "the STORE hit the wrong message: %r" % m


def test_recent_is_seen_by_exactly_one_session(connect):
    a, b, c = connect(BOB), connect(BOB), connect(BOB)
    create(a, "recent_once")
    select(b, "recent_once")
    select(c, "recent_once")
    append(a, "recent_once", small(1))
    recent = []
    for s in (b, c):
        resp = s.cmd("NOOP")
        assert b"1 EXISTS" in resp.untagged, resp.untagged
        m = fetch(s, "1", "FLAGS")
        recent.append("\\Recent" in norm_flags(m[1]["FLAGS"]))
    assert recent.count(True) == 1, "\\Recent in exactly one of two selected sessions, got %r" % recent
    d = connect(BOB)
    sel = select(d, "recent_once")
    assert sel.of("RECENT") == [b"0 RECENT"], "a later session must not see it as recent: %r" % sel.untagged


def test_idle_then_done_without_changes(connect):
    b = connect(BOB)
    select(b, "INBOX")
    tag = start_idle(b)
    assert b.wait_for(lambda l: not l.startswith(b"* OK"), 0.3) is None, b.seen
    stop_idle(b, tag)
    assert b.cmd("NOOP").ok()


def test_idle_in_authenticated_state_then_done(connect):
    b = connect(BOB)
    tag = start_idle(b)
    stop_idle(b, tag)


def test_two_connections_of_one_user_both_work(connect):
    a, b = connect(BOB), connect(BOB)
    assert select(a, "INBOX") and select(b, "INBOX")
    assert a.cmd("NOOP").ok() and b.cmd("NOOP").ok()


def test_idle_expunge_of_several_messages_keeps_sequence_numbers(connect):
    from lib.helpers import apply_expunges, uids
    a, b = connect(BOB), connect(BOB)
    create(a, "idle_multi_expunge")
    for i in range(5):
        append(a, "idle_multi_expunge", small(i))
    select(a, "idle_multi_expunge")
    select(b, "idle_multi_expunge")
    before = uids(b)
    tag = start_idle(b)
    assert a.cmd("STORE 2,4 +FLAGS.SILENT (\\Deleted)").ok()
    assert a.cmd("EXPUNGE").ok()
    got = []
    while len(got) < 2:
        line = b.wait_for(lambda l: re.match(rb"\* \d+ EXPUNGE$", l), PUSH_TIMEOUT)
        assert line, "expected two EXPUNGE pushes, got %r (all: %r)" % (got, b.seen)
        got.append(line[2:])
    stop_idle(b, tag)
    assert apply_expunges(before, got) == [before[0], before[2], before[4]], got
    assert uids(b) == [before[0], before[2], before[4]]


def test_parallel_sessions_append_and_login_concurrently(server):
    """Eight clients of one user log in and APPEND at the same time (mbsync and desktop
    clients open several connections): every login and APPEND succeeds, no UID is
    given twice, and every message is stored once."""
    import threading
    from lib.imapwire import Raw
    folder, n_threads, per_thread = "parallel_appends", 8, 15
    with Raw(server.host, server.imap_port) as r:
        r.login(BOB, server.users[BOB])
        create(r, folder)
    errors, uids_seen = [], []
    lock = threading.Lock()
    start = threading.Barrier(n_threads)

    def worker(k):
        try:
            start.wait(10)
            with Raw(server.host, server.imap_port, timeout=30) as r:
                r.login(BOB, server.users[BOB])
                if k % 2:
                    select(r, folder)
                for i in range(per_thread):
                    u = append(r, folder, small(1000 * k + i))
                    with lock:
                        uids_seen.append(u)
                    if k % 2 and i % 5 == 0:
                        assert r.cmd("NOOP").ok()
                r.cmd("LOGOUT")
        except Exception as e:          # reported below with the thread number
            with lock:
                errors.append("thread %d: %r" % (k, e))

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(n_threads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors, errors
    assert len(uids_seen) == len(set(uids_seen)) == n_threads * per_thread, "duplicate UIDs"
    with Raw(server.host, server.imap_port) as r:
        r.login(BOB, server.users[BOB])
        select(r, folder)
        m = fetch(r, "1:*", "(UID BODY.PEEK[TEXT])")
        assert sorted(int(v["UID"]) for v in m.values()) == sorted(uids_seen)
        bodies = sorted(v["BODY[TEXT]"] for v in m.values())
        assert bodies == sorted(b"body %d\r\n" % (1000 * k + i)
                                for k in range(n_threads) for i in range(per_thread))


def mailbox_fds(srv):
    """How many descriptors sealboxd holds on mailbox files (not -wal/-shm)."""
    n = 0
    fd_dir = "/proc/%d/fd" % srv.proc.pid
    for fd in os.listdir(fd_dir):
        try:
            target = os.readlink(os.path.join(fd_dir, fd))
        except OSError:
            continue
        if "/mailboxes/" in target and target.endswith(".db"):
            n += 1
    return n


def wait_fds(srv, want):
    deadline = time.monotonic() + 2 * TIME_SCALE
    while mailbox_fds(srv) != want and time.monotonic() < deadline:
        time.sleep(0.02)
    return mailbox_fds(srv)


def test_idle_session_closes_its_mailbox_file_and_reopens_it(fresh_server, connect):
    """An IDLE session parks its SQLite connection (memory per idle session) and
    reopens it for every change it reports and at DONE: nothing is missed.
    (SQLite keeps a file's descriptors open while any connection in the process
    has it open, so the count is checked while the IDLE session is alone.)"""
    server = fresh_server(users={BOB: "idle-park-password"})
    a = connect(BOB, srv=server)
    create(a, "idle_park")
    append(a, "idle_park", small(1))
    a.cmd("LOGOUT")
    assert wait_fds(server, 0) == 0, "a logged-out session closes its mailbox file"
    b = connect(BOB, srv=server)
    select(b, "idle_park")
    assert wait_fds(server, 1) == 1, "one session: one descriptor on the mailbox file"
    tag = start_idle(b)
    assert wait_fds(server, 0) == 0, "the IDLE session still holds its mailbox file open"
    for n in range(2, 4):
        a = connect(BOB, srv=server)
        append(a, "idle_park", small(n))
        line = b.wait_for(lambda l, n=n: re.match(rb"\* %d EXISTS$" % n, l), PUSH_TIMEOUT)
        assert line, "no '* %d EXISTS' while parked; got %r" % (n, b.seen)
        if n == 3:
            select(a, "idle_park")
            assert a.cmd("STORE 1 +FLAGS (\\Deleted)").ok()
            assert a.cmd("EXPUNGE").ok()
            assert b.wait_for(lambda l: re.match(rb"\* 1 EXPUNGE$", l), PUSH_TIMEOUT), b.seen
        a.cmd("LOGOUT")
        assert wait_fds(server, 0) == 0, "parked again after reporting the change"
    stop_idle(b, tag)
    assert mailbox_fds(server) == 1, "DONE reopens the mailbox"
    assert fetch(b, "2", "BODY.PEEK[]")[2]["BODY[]"] == small(3)


def test_session_without_a_selected_mailbox_holds_no_mailbox_file(fresh_server, connect):
    """Logged in with nothing selected, a session waits without its SQLite
    connection (three descriptors and the page cache each): 10,000 such
    clients must not exhaust the descriptor limit. Every command still works,
    a change made meanwhile is seen, and SELECT keeps the file open until the
    session leaves the selected state again."""
    server = fresh_server(users={BOB: "auth-park-password"})
    a = connect(BOB, srv=server)
    assert wait_fds(server, 0) == 0, "a session that only logged in holds its mailbox file"
    create(a, "auth_park")
    append(a, "auth_park", small(1))
    assert wait_fds(server, 0) == 0, "parked again after CREATE and APPEND"
    b = connect(BOB, srv=server)
    append(b, "auth_park", small(2))
    b.cmd("LOGOUT")
    assert wait_fds(server, 0) == 0, "a change reported to a session that is not selected reopens the file"
    assert status(a, "auth_park")["MESSAGES"] == 2
    select(a, "auth_park")
    assert wait_fds(server, 1) == 1, "a selected session keeps its mailbox file open"
    assert fetch(a, "2", "BODY.PEEK[]")[2]["BODY[]"] == small(2)
    assert a.cmd("UNSELECT").ok()
    assert wait_fds(server, 0) == 0, "UNSELECT parks the session again"
    assert a.cmd("LIST \"\" \"auth_park\"").ok()


def test_flag_searches_see_other_sessions_changes_at_once(connect):
    """SEARCH on flags, keywords and sets is answered from the session's own view
    of the mailbox (no pass over the file): it must still see what another
    session just did. The flag change comes as untagged FETCH before the answer;
    a message expunged meanwhile is not in it, and its EXPUNGE waits (7.4.1)."""
    a, c = connect(BOB), connect(BOB)
    create(a, "flag_search")
    for i in range(5):
        append(a, "flag_search", small(i))
    select(a, "flag_search")
    select(c, "flag_search")
    assert c.cmd("SEARCH UNSEEN").of("SEARCH") == [b"SEARCH 1 2 3 4 5"]
    assert a.cmd("STORE 2 +FLAGS (\\Seen $Label1)").ok()
    assert a.cmd("STORE 4 +FLAGS (\\Deleted)").ok()
    assert a.cmd("EXPUNGE").ok()
    append(a, "flag_search", small(9))               # unseen, uid 6
    resp = c.cmd("SEARCH UNSEEN")
    assert resp.ok()
    assert resp.of("EXPUNGE") == [], resp.untagged
    assert resp.of("SEARCH") == [b"SEARCH 1 3 5 6"], resp.untagged
    m = fetch_map(resp.untagged)
    assert "\\Seen" in norm_flags(m[2]["FLAGS"]), "the change must be reported before the answer: %r" % resp.untagged
    assert c.cmd("UID SEARCH KEYWORD $Label1").of("SEARCH") == [b"SEARCH 2"]
    assert c.cmd("SEARCH OR SEEN DELETED").of("SEARCH") == [b"SEARCH 2"]
    assert c.cmd("SEARCH NOT KEYWORD $Label1 2:*").of("SEARCH") == [b"SEARCH 3 5 6"]
    resp = c.cmd("NOOP")
    assert resp.of("EXPUNGE") == [b"4 EXPUNGE"], resp.untagged
    assert c.cmd("SEARCH UNSEEN").of("SEARCH") == [b"SEARCH 1 3 4 5"]


def test_flag_fetches_answered_from_the_view_see_other_sessions_changes(connect):
    """FETCH of UID, FLAGS, INTERNALDATE and RFC822.SIZE only is answered from the
    session's view (a client's flag resync): another session's STORE shows in it
    (as untagged FETCH first, then in the answer), its APPEND comes as EXISTS with
    the new message's facts, and a message it expunged is missing: NO
    [EXPUNGEISSUED] for FETCH by sequence number, silently left out by UID FETCH,
    its EXPUNGE sent at the next command that may send one."""
    a, c = connect(BOB), connect(BOB)
    create(a, "flag_fetch")
    for i in range(5):
        append(a, "flag_fetch", small(i), date='"0%d-Mar-2024 10:00:00 +0100"' % (i + 1))
    select(a, "flag_fetch")
    select(c, "flag_fetch")
    before = fetch_map(c.cmd("FETCH 1:* (FLAGS RFC822.SIZE)").untagged)
    assert sorted(before) == [1, 2, 3, 4, 5]
    assert a.cmd("STORE 2 +FLAGS (\\Seen $Label1)").ok()
    assert a.cmd("STORE 4 +FLAGS (\\Deleted)").ok()
    assert a.cmd("EXPUNGE").ok()
    append(a, "flag_fetch", small(99), date='"09-Mar-2024 10:00:00 +0100"')     # uid 6, seq 5 for a
    resp = c.cmd("FETCH 1:* (FLAGS INTERNALDATE RFC822.SIZE)")
    assert resp.status == "NO" and resp.code == "EXPUNGEISSUED", resp.tagged
    assert resp.of("EXISTS") == [b"6 EXISTS"], resp.untagged
    assert resp.of("EXPUNGE") == [], resp.untagged
    m = fetch_map(resp.untagged)
    assert 4 not in m, "the expunged message is missing: %r" % resp.untagged
    assert sorted(m) == [1, 2, 3, 5, 6]
    assert {"\\Seen", "$Label1"} <= norm_flags(m[2]["FLAGS"]), m[2]
    assert m[6]["INTERNALDATE"] == b"09-Mar-2024 10:00:00 +0100", m[6]
    assert int(m[6]["RFC822.SIZE"]) == len(small(99)), m[6]
    assert int(m[1]["RFC822.SIZE"]) == int(before[1]["RFC822.SIZE"])
    resp = c.cmd("UID FETCH 1:* (UID FLAGS)")
    assert resp.ok(), resp.tagged
    uids = sorted(int(v["UID"]) for v in fetch_map(resp.untagged).values())
    assert uids == [1, 2, 3, 5, 6], resp.untagged
    resp = c.cmd("NOOP")
    assert resp.of("EXPUNGE") == [b"4 EXPUNGE"], resp.untagged
    m = fetch_map(c.cmd("FETCH 1:* (UID FLAGS)").untagged)
    assert sorted(int(v["UID"]) for v in m.values()) == [1, 2, 3, 5, 6]


def test_date_and_size_searches_answered_from_the_view_match_the_file(connect):
    """Date and size keys are answered from the session's view too (the view holds
    each message's INTERNALDATE with its zone, Date: with its zone, and size, read
    at SELECT and with new messages). Messages another session appends meanwhile
    are in the answer with their own dates, days are taken in each date's own zone
    (RFC 3501 6.4.4), a message without Date: never matches SENT*, and a fresh
    session agrees on every key; the answers are the ones the RFC gives."""
    a, c = connect(BOB), connect(BOB)
    create(a, "fact_search")
    def msg(n, date_hdr, pad=0):
        head = "From: a@example.org\nTo: bob@example.org\nSubject: facts %d\n" % n
        if date_hdr:
            head += "Date: %s\n" % date_hdr
        return crlf(head + "\n" + "body %d\n" % n + "x" * pad)
    # 1: late on 1 March in -0800 (2 March in UTC); 2: early 2 March in +1100 (1 March UTC)
    append(a, "fact_search", msg(1, "Fri, 01 Mar 2024 23:30:00 -0800"), date='"01-Mar-2024 23:30:00 -0800"')
    append(a, "fact_search", msg(2, "Sat, 02 Mar 2024 00:30:00 +1100", 3000),
           date='"02-Mar-2024 00:30:00 +1100"')
    select(c, "fact_search")
    # arriving while c is selected: no Date: header, 5 March
    append(a, "fact_search", msg(3, None, 9000), date='"05-Mar-2024 12:00:00 +0000"')
    append(a, "fact_search", msg(4, "Tue, 05 Mar 2024 12:00:00 +0000"), date='"05-Mar-2024 12:00:00 +0000"')
    queries = {
        "SEARCH ON 1-Mar-2024": b"SEARCH 1",
        "SEARCH ON 2-Mar-2024": b"SEARCH 2",
        "SEARCH SINCE 2-Mar-2024": b"SEARCH 2 3 4",
        "SEARCH BEFORE 5-Mar-2024": b"SEARCH 1 2",
        "SEARCH SENTON 1-Mar-2024": b"SEARCH 1",
        "SEARCH SENTSINCE 2-Mar-2024": b"SEARCH 2 4",
        "SEARCH NOT SENTBEFORE 3-Mar-2024": b"SEARCH 3 4",
        "SEARCH LARGER 5000": b"SEARCH 3",
        "SEARCH SMALLER 1000": b"SEARCH 1 4",
        "SEARCH OR LARGER 5000 ON 1-Mar-2024 UNSEEN": b"SEARCH 1 3",
        "UID SEARCH SINCE 5-Mar-2024": None,
    }
    first = c.cmd("SEARCH ON 1-Mar-2024")
    assert first.of("SEARCH") == [b"SEARCH 1"], first.untagged
    assert first.of("EXISTS") == [b"4 EXISTS"], "new messages are announced first: %r" % first.untagged
    fresh = connect(BOB)
    select(fresh, "fact_search")
    for q, want in queries.items():
        got = c.cmd(q).of("SEARCH")
        assert got == fresh.cmd(q).of("SEARCH"), q
        if want is not None:
            assert got == [want], "%s: %r" % (q, got)
    select(a, "fact_search")
    assert a.cmd("STORE 3 +FLAGS (\\Deleted)").ok()
    assert a.cmd("EXPUNGE").ok()
    resp = c.cmd("SEARCH LARGER 5000")
    assert resp.of("SEARCH") == [b"SEARCH"], "an expunged message is left out: %r" % resp.untagged


def thread_msg(i):
    """Messages with subjects, dates and references that SORT and THREAD order."""
    subj = ["Re: plans", "plans", "Fwd: budget", "budget", "[list] news", "zebra", "Apple"][i % 7]
    refs = "References: <m%d@x.test>\r\n" % (i // 3) if i % 3 else ""
    return crlf("From: u%d@x.test\r\nTo: t%d@y.test\r\nSubject: %s\r\nMessage-ID: <m%d@x.test>\r\n%s"
                "Date: %02d Jan 2024 %02d:00:00 +0000\r\n\r\nbody %d\r\n" % (
                    i % 5, i % 4, subj, i, refs, 1 + (i * 7) % 28, i % 24, i))


def test_sort_and_thread_answers_follow_the_view(connect):
    """A session keeps the sort facts of its view between SORT/THREAD commands.
    Its answers must stay those a fresh session computes from the file, after
    messages come and go (other sessions), before and after it is told."""
    a, c = connect(BOB), connect(BOB)
    create(a, "sort_cache")
    for i in range(40):
        append(a, "sort_cache", thread_msg(i))
    select(a, "sort_cache")
    select(c, "sort_cache")
    queries = ["UID SORT (SUBJECT) UTF-8 ALL", "UID SORT (REVERSE DATE) UTF-8 ALL",
               "UID SORT (FROM DATE) UTF-8 UNSEEN", "UID SORT (ARRIVAL) UTF-8 UID 1:30",
               "UID SORT (SUBJECT) UTF-8 SUBJECT plans", "UID THREAD REFERENCES UTF-8 ALL",
               "UID THREAD ORDEREDSUBJECT UTF-8 UNSEEN", "UID SORT (REVERSE SUBJECT) UTF-8 ALL"]

    def fresh():
        out = []
        for q in queries:          # a new session per query: nothing reused
            f = connect(BOB)
            select(f, "sort_cache")
            out.append(f.cmd(q).untagged[-1])
            f.cmd("LOGOUT")
        return out

    def mine():
        out = []
        for q in queries:
            resp = c.cmd(q)
            assert resp.ok(), resp.tagged
            out.append([l for l in resp.untagged if l.startswith((b"SORT", b"THREAD"))][-1])
        return out

    assert mine() == fresh()
    assert mine() == fresh(), "the second run (from the cache) differs"
    # Others change the folder: new messages, flags, an expunge.
    for i in range(40, 50):
        append(a, "sort_cache", thread_msg(i))
    assert a.cmd("STORE 3:9 +FLAGS (\\Seen)").ok()
    assert a.cmd("STORE 5 +FLAGS (\\Deleted)").ok()
    assert a.cmd("EXPUNGE").ok()
    assert mine() == fresh(), "before the EXPUNGE was reported"
    assert c.cmd("NOOP").ok()
    assert mine() == fresh(), "after the view took the changes"
    # Sequence-number answers too, now that both views agree.
    assert c.cmd("SORT (SUBJECT) UTF-8 ALL").untagged[-1] == a.cmd("SORT (SUBJECT) UTF-8 ALL").untagged[-1]
