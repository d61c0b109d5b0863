"""
SEARCH and UID SEARCH (RFC 3501 6.4.4) over ten crafted messages (lib/messages.py
SEARCH_CORPUS) with known answers: flags, keywords, \\Recent, dates, addresses,
headers, body/text, sizes, sets, NOT/OR/parentheses, CHARSET.

Sequence numbers 1..10 are the corpus order. The module's session is the first
to select the folder, so all ten messages are \\Recent in it.
"""

import pytest

from conftest import ALICE
from lib.helpers import append, select, uids
from lib.imapwire import Raw
from lib.messages import SEARCH_CORPUS, imap_date

ALL = set(range(1, 11))

TABLE = [
    ("ALL", ALL),
    ("SEEN", {1, 2, 7, 9}),
    ("UNSEEN", {3, 4, 5, 6, 8, 10}),
    ("ANSWERED", {2, 10}),
    ("UNANSWERED", ALL - {2, 10}),
    ("FLAGGED", {3, 9}),
    ("UNFLAGGED", ALL - {3, 9}),
    ("DELETED", {4}),
    ("UNDELETED", ALL - {4}),
    ("DRAFT", {5}),
    ("UNDRAFT", ALL - {5}),
    ("KEYWORD $Important", {6, 7}),
    ("UNKEYWORD $Important", ALL - {6, 7}),
    ("KEYWORD $NeverUsed", set()),
    ("RECENT", ALL),
    ("NEW", {3, 4, 5, 6, 8, 10}),
    ("OLD", set()),
    ("FROM alice", {1, 5, 9}),
    ('FROM "BOB@B.EXAMPLE"', {2, 7}),
    ("TO alice", {2, 3, 6, 7, 8}),
    ("CC bob", {5}),
    ("CC carol", {2}),
    ("BCC secret", {9}),
    ("SUBJECT quarterly", {1, 2, 9}),
    ('SUBJECT "Re:"', {2}),
    ("BODY numbers", {1, 2, 8}),
    ("TEXT numbers", {1, 2, 8, 9}),
    ("TEXT search-4@example.org", {4}),
    ("HEADER X-Priority 1", {1}),
    ('HEADER X-Priority ""', {1}),
    ('HEADER In-Reply-To ""', {2}),
    ('HEADER Message-ID "<search-7@"', {7}),
    ("BEFORE 3-Jan-2023", {1, 2}),
    ("ON 5-Jan-2023", {5}),
    ("SINCE 8-Jan-2023", {8, 9, 10}),
    ("SENTBEFORE 3-Jun-2022", {1, 2}),
    ("SENTON 5-Jun-2022", {5}),
    ("SENTSINCE 9-Jun-2022", {9, 10}),
    ("LARGER 4000", {7}),
    ("SMALLER 4000", ALL - {7}),
    ("2:4", {2, 3, 4}),
    ("1,3,5:6", {1, 3, 5, 6}),
    ("*", {10}),
    ("9:*", {9, 10}),
    ("NOT SEEN", {3, 4, 5, 6, 8, 10}),
    ("OR FLAGGED DRAFT", {3, 5, 9}),
    ("OR SUBJECT lunch FROM dave", {3, 4}),
    ("SEEN FLAGGED", {9}),
    ("(SEEN FLAGGED)", {9}),
    ("NOT (OR SEEN DELETED)", {3, 5, 6, 8, 10}),
    ("OR (SEEN FROM bob) (DRAFT CC bob)", {2, 5, 7}),
    ("UNDELETED SMALLER 4000 NOT FROM bob", {1, 3, 5, 6, 8, 9, 10}),
    ("CHARSET US-ASCII SUBJECT weekend", {10}),
    ("CHARSET UTF-8 SUBJECT WEEKEND", {10}),
    ("SUBJECT no-such-subject-anywhere", set()),
]


@pytest.fixture(scope="module")
def corpus_session(server):
    name = "search_corpus"
    with Raw(server.host, server.imap_port) as w:
        w.login(ALICE, server.users[ALICE])
        assert w.cmd("CREATE %s" % name).ok()
        for raw, flags, when in SEARCH_CORPUS:
            append(w, name, raw, flags=flags, date=imap_date(when))
        w.logout()
    r = Raw(server.host, server.imap_port)
    r.login(ALICE, server.users[ALICE])
    sel = select(r, name)
    assert sel.of("EXISTS") == [b"10 EXISTS"], sel.untagged
    r.uid_list = uids(r)
    yield r
    r.logout()


def search(r, key, uid=False):
    resp = r.cmd("%sSEARCH %s" % ("UID " if uid else "", key))
    assert resp.ok(), "SEARCH %s: %r" % (key, resp.tagged)
    lines = resp.of("SEARCH")
    assert len(lines) == 1, "one untagged SEARCH per SEARCH: %r" % resp.untagged
    return {int(x) for x in lines[0].split()[1:]}


@pytest.mark.parametrize("key,want", TABLE, ids=[k for k, _ in TABLE])
def test_search_key(corpus_session, key, want):
    assert search(corpus_session, key) == want


@pytest.mark.parametrize("key,want", TABLE[:12], ids=[k for k, _ in TABLE[:12]])
def test_uid_search_returns_uids(corpus_session, key, want):
    u = corpus_session.uid_list
    assert search(corpus_session, key, uid=True) == {u[i - 1] for i in want}


def test_search_uid_key(corpus_session):
    u = corpus_session.uid_list
    assert search(corpus_session, "UID %d:%d" % (u[4], u[5])) == {5, 6}
    assert search(corpus_session, "UID %d" % u[9], uid=True) == {u[9]}


def test_search_utf8_body_with_charset_literal(corpus_session):
    r = corpus_session
    resp = r.cmd_lit(["SEARCH CHARSET UTF-8 BODY ", "grüße".encode(), ""])
    assert resp.ok(), resp.tagged
    assert resp.of("SEARCH") == [b"SEARCH 6"], "case-insensitive UTF-8 body match: %r" % resp.untagged


def test_search_subject_matches_decoded_encoded_word(corpus_session):
    """Subject of message 6 is RFC 2047 encoded; clients search for the decoded text."""
    resp = corpus_session.cmd_lit(["SEARCH CHARSET UTF-8 SUBJECT ", "münchen".encode(), ""])
    assert resp.ok(), resp.tagged
    assert resp.of("SEARCH") == [b"SEARCH 6"], resp.untagged


def test_search_unknown_charset_is_no_badcharset(corpus_session):
    resp = corpus_session.cmd("SEARCH CHARSET X-NO-SUCH-CHARSET ALL")
    assert resp.status == "NO" and resp.code and resp.code.upper().startswith("BADCHARSET"), resp.tagged


@pytest.mark.parametrize("bad", ["FROM", "NOSUCHKEY", "BEFORE 32-Foo-2020", "OR SEEN", "(SEEN", "LARGER x"])
def test_search_malformed_is_bad(corpus_session, bad):
    resp = corpus_session.cmd("SEARCH " + bad)
    assert resp.status == "BAD", "SEARCH %s: %r" % (bad, resp.tagged)
    assert corpus_session.cmd("NOOP").ok()


def test_search_via_imaplib(server):
    import imaplib
    m = imaplib.IMAP4(server.host, server.imap_port, timeout=20)
    try:
        m.login(ALICE, server.users[ALICE])
        m.select("search_corpus", readonly=True)
        typ, data = m.search(None, "FLAGGED")
        assert typ == "OK" and sorted(data[0].split()) == [b"3", b"9"], data
        typ, data = m.search("UTF-8", "SUBJECT", "weekend")
        assert typ == "OK" and data[0].split() == [b"10"], data
        typ, data = m.uid("SEARCH", "ALL")
        assert typ == "OK" and len(data[0].split()) == 10
    finally:
        m.logout()
