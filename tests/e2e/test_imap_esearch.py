"""
ESEARCH (RFC 4731), SEARCHRES (RFC 5182), SORT and THREAD (RFC 5256, SORT=DISPLAY
RFC 5957, ESORT RFC 5267), CHARSET / BADCHARSET (RFC 3501 6.4.4, 7.1) and our X-REGEX search key,
over the real daemon, with exact response bytes.

The corpus (CORPUS below, seven messages) is made so that every SORT key and
both THREAD algorithms give a different, known order:

  seq  From                To     Cc   Subject        Date:               arrival  flags
  1    "Aaron Zed" <zed@>  amy@        Plans          01-Jan-2023 10:00   05-Jan   \\Seen
  2    Alice <alice@>      bob@        Re: Plans      02-Jan-2023 10:00   02-Jan   \\Flagged
  3    bob@                Carl <carl@> dave@ [list] Lunch 31-Dec-2022 09:00 07-Jan   \\Seen
  4    Carol <carol@>                  Fwd: Plans     (none: arrival)     03-Jan
  5    Dave <dave@>                    Re: Lunch      01-Jan-2023 12:00   01-Jan   \\Seen
  6    Eve <eve@>                      Other          05-Jan-2023 00:00   04-Jan
  7    Frank <frank@>                  Other          06-Jan-2023 00:00   06-Jan

Threads: 2 replies to 1, 4 to 2 (References 1 2), 5 to 3; 6 and 7 both name a
message that is not there.

Tests marked BACKEND need the store's X-REGEX evaluation (search-backend).
"""

import imaplib
import re

import pytest

from conftest import ALICE
from lib.helpers import append, capabilities, select, uids
from lib.imapwire import Raw

MSGS = [
    # (headers, body, internal date, flags)
    ("From: \"Aaron Zed\" <zed@z.example>\nTo: amy@a.example\nSubject: Plans\n"
     "Date: Sun, 01 Jan 2023 10:00:00 +0000\nMessage-ID: <p1@x.example>\n",
     "Let us make plans.\n", "05-Jan-2023 10:00:00 +0000", "\\Seen"),
    ("From: Alice <alice@a.example>\nTo: bob@b.example\nSubject: Re: Plans\n"
     "Date: Mon, 02 Jan 2023 10:00:00 +0000\nMessage-ID: <p2@x.example>\n"
     "In-Reply-To: <p1@x.example>\nReferences: <p1@x.example>\n",
     "Sounds good.\n", "02-Jan-2023 10:00:00 +0000", "\\Flagged"),
    ("From: bob@b.example\nTo: Carl <carl@c.example>\nCc: dave@d.example\n"
     "Subject: [list] Lunch\nDate: Sat, 31 Dec 2022 09:00:00 +0000\n"
     "Message-ID: <l1@x.example>\n",
     "Lunch on Friday?\n" + "padding line to make this the largest message\n" * 40,
     "07-Jan-2023 10:00:00 +0000", "\\Seen"),
    ("From: Carol <carol@c.example>\nSubject: Fwd: Plans\nMessage-ID: <p3@x.example>\n"
     "References: <p1@x.example> <p2@x.example>\n",
     "Forwarding the plans.\n", "03-Jan-2023 08:00:00 +0000", ""),
    ("From: Dave <dave@d.example>\nSubject: Re: Lunch\n"
     "Date: Sun, 01 Jan 2023 12:00:00 +0000\nMessage-ID: <l2@x.example>\n"
     "References: <l1@x.example>\n",
     "Friday works. Numbers: 12345\n", "01-Jan-2023 10:00:00 +0000", "\\Seen"),
    ("From: Eve <eve@e.example>\nSubject: Other\nDate: Thu, 05 Jan 2023 00:00:00 +0000\n"
     "Message-ID: <o1@x.example>\nReferences: <missing@x.example>\n",
     "Something else.\n", "04-Jan-2023 10:00:00 +0000", ""),
    ("From: Frank <frank@f.example>\nSubject: Other\nDate: Fri, 06 Jan 2023 00:00:00 +0000\n"
     "Message-ID: <o2@x.example>\nReferences: <missing@x.example>\n",
     "Something else again, aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaab\n",
     "06-Jan-2023 10:00:00 +0000", ""),
]


def raw_message(headers, body):
    return (headers + "\n" + body).replace("\n", "\r\n").encode()


def fill(r, name):
    for headers, body, when, flags in MSGS:
        append(r, name, raw_message(headers, body), flags=flags, date='"%s"' % when)


@pytest.fixture(scope="module")
def corpus(server):
    """A read-mostly session on the corpus folder (tests here never change it)."""
    name = "esearch_corpus"
    with Raw(server.host, server.imap_port) as w:
        w.login(ALICE, server.users[ALICE])
        assert w.cmd("CREATE %s" % name).ok()
        fill(w, name)
        w.logout()
    r = Raw(server.host, server.imap_port)
    r.login(ALICE, server.users[ALICE])
    select(r, name)
    r.uid_list = uids(r)
    r.folder = name
    yield r
    r.logout()


@pytest.fixture
def filled(connect, mbox):
    """A fresh copy of the corpus in this test's own folder, selected."""
    r = connect(ALICE)
    fill(r, mbox)
    select(r, mbox)
    r.uid_list = uids(r)
    return r


def one(resp, kind):
    assert resp.ok(), resp
    lines = resp.of(kind)
    assert len(lines) == 1, "one untagged %s: %r" % (kind, resp.untagged)
    return lines[0].decode()


def nums_to_uids(r, seqs):
    return [r.uid_list[s - 1] for s in seqs]


def uidset(values):
    """Sorted values as the shortest IMAP set ("1:3,5")."""
    out, vals, i = [], sorted(values), 0
    while i < len(vals):
        j = i
        while j + 1 < len(vals) and vals[j + 1] == vals[j] + 1:
            j += 1
        out.append(str(vals[i]) if i == j else "%d:%d" % (vals[i], vals[j]))
        i = j + 1
    return ",".join(out)


# ---- Capabilities ----------------------------------------------------------------------


def test_capabilities_advertise_what_works(connect):
    r = connect(ALICE)
    resp = r.cmd("CAPABILITY")
    caps = capabilities(resp.of("CAPABILITY")[0])
    for c in ("ESEARCH", "SEARCHRES", "SORT", "SORT=DISPLAY", "ESORT", "THREAD=ORDEREDSUBJECT",
              "THREAD=REFERENCES", "X-REGEX"):
        assert c in caps, (c, resp.untagged)


# ---- ESEARCH -------------------------------------------------------------------------


def test_esearch_min_max_all_count_exact_bytes(corpus):
    r = corpus
    tag = r.next_tag()
    resp = r.cmd("SEARCH RETURN (MIN MAX ALL COUNT) SEEN", tag=tag)
    assert resp.untagged == [('ESEARCH (TAG "%s") MIN 1 MAX 5 ALL 1,3,5 COUNT 3' % tag).encode()]
    assert resp.tagged == ("%s OK Search completed." % tag).encode()


@pytest.mark.parametrize("ret,want", [
    ("()", "ALL 1:7"),
    ("(ALL)", "ALL 1:7"),
    ("(MIN)", "MIN 1"),
    ("(MAX)", "MAX 7"),
    ("(COUNT)", "COUNT 7"),
    ("(count min)", "MIN 1 COUNT 7"),
])
def test_esearch_each_option_alone(corpus, ret, want):
    tag = corpus.next_tag()
    resp = corpus.cmd("SEARCH RETURN %s ALL" % ret, tag=tag)
    assert resp.untagged == [('ESEARCH (TAG "%s") %s' % (tag, want)).encode()]


def test_esearch_nothing_found_leaves_out_min_max_all(corpus):
    for ret, want in (("()", ""), ("(MIN MAX ALL)", ""), ("(COUNT)", " COUNT 0"),
                      ("(MIN COUNT)", " COUNT 0")):
        tag = corpus.next_tag()
        resp = corpus.cmd("SEARCH RETURN %s 1000" % ret, tag=tag)
        assert resp.untagged == [('ESEARCH (TAG "%s")%s' % (tag, want)).encode()], ret
        tag = corpus.next_tag()
        resp = corpus.cmd("UID SEARCH RETURN %s SUBJECT nothing-like-this" % ret, tag=tag)
        assert resp.untagged == [('ESEARCH (TAG "%s") UID%s' % (tag, want)).encode()], ret


def test_uid_esearch_gives_uid_ranges(corpus):
    u = corpus.uid_list
    tag = corpus.next_tag()
    resp = corpus.cmd("UID SEARCH RETURN (MIN MAX ALL COUNT) NOT SEEN", tag=tag)
    want = [u[1], u[3], u[5], u[6]]
    assert resp.untagged == [('ESEARCH (TAG "%s") UID MIN %d MAX %d ALL %s COUNT 4' % (
        tag, want[0], want[-1], uidset(want))).encode()]


def test_esearch_with_charset_and_plain_search_unchanged(corpus):
    tag = corpus.next_tag()
    resp = corpus.cmd("SEARCH RETURN (ALL) CHARSET UTF-8 FROM alice", tag=tag)
    assert resp.untagged == [('ESEARCH (TAG "%s") ALL 2' % tag).encode()]
    resp = corpus.cmd("SEARCH FROM alice")
    assert resp.untagged == [b"SEARCH 2"]


def test_esearch_bad_return_options(corpus):
    resp = corpus.cmd("SEARCH RETURN (FOO) ALL")
    assert resp.status == "BAD" and resp.tagged.endswith(b" BAD unknown search return option")
    resp = corpus.cmd("SEARCH RETURN (MIN")
    assert resp.status == "BAD"


# ---- SEARCHRES ------------------------------------------------------------------------


def test_save_alone_answers_nothing_and_dollar_works_everywhere(filled, mbox, connect):
    r = filled
    u = r.uid_list
    resp = r.cmd("SEARCH RETURN (SAVE) FLAGGED")
    assert resp.ok() and resp.untagged == [], resp
    assert r.cmd("SEARCH $").untagged == [b"SEARCH 2"]
    assert r.cmd("UID SEARCH UID $").untagged == [("SEARCH %d" % u[1]).encode()]
    assert r.cmd("SEARCH NOT $ SEEN").untagged == [b"SEARCH 1 3 5"]
    resp = r.cmd("FETCH $ (FLAGS)")
    assert resp.untagged == [b"2 FETCH (FLAGS (\\Flagged \\Recent))"], resp
    resp = r.cmd("UID FETCH $ (FLAGS)")
    assert resp.untagged == [("2 FETCH (UID %d FLAGS (\\Flagged \\Recent))" % u[1]).encode()], resp
    resp = r.cmd("STORE $ +FLAGS (\\Answered)")
    assert resp.untagged == [b"2 FETCH (FLAGS (\\Answered \\Flagged \\Recent))"], resp
    resp = r.cmd("UID STORE $ -FLAGS.SILENT (\\Answered)")
    assert resp.ok() and resp.untagged == []
    assert r.cmd("CREATE %s.dest" % mbox).ok()
    resp = r.cmd("COPY $ %s.dest" % mbox)
    assert resp.ok() and resp.code.startswith("COPYUID ") and resp.code.split()[2] == str(u[1]), resp
    resp = r.cmd("UID COPY $ %s.dest" % mbox)
    assert resp.ok(), resp
    resp = r.cmd("MOVE $ %s.dest" % mbox)
    assert resp.ok() and b"2 EXPUNGE" in resp.untagged, resp
    # the moved message is gone: $ now names nothing here
    assert r.cmd("SEARCH $").untagged == [b"SEARCH"]
    resp = r.cmd("FETCH $ (FLAGS)")
    assert resp.ok() and resp.untagged == []
    other = connect(ALICE)
    select(other, "%s.dest" % mbox)
    assert other.cmd("SEARCH ALL").untagged == [b"SEARCH 1 2 3"]


def test_save_with_min_max_keeps_only_those(filled):
    r = filled
    tag = r.next_tag()
    resp = r.cmd("SEARCH RETURN (SAVE MIN MAX) SEEN", tag=tag)
    assert resp.untagged == [('ESEARCH (TAG "%s") MIN 1 MAX 5' % tag).encode()]
    assert r.cmd("SEARCH $").untagged == [b"SEARCH 1 5"]
    r.cmd("SEARCH RETURN (SAVE MIN) SEEN")
    assert r.cmd("SEARCH $").untagged == [b"SEARCH 1"]
    # with ALL or COUNT the whole result is saved
    r.cmd("SEARCH RETURN (SAVE MIN COUNT) SEEN")
    assert r.cmd("SEARCH $").untagged == [b"SEARCH 1 3 5"]
    # UID SEARCH saves the same messages
    r.cmd("UID SEARCH RETURN (SAVE) FLAGGED")
    assert r.cmd("SEARCH $").untagged == [b"SEARCH 2"]


def test_dollar_is_reset_by_failure_and_select(filled, mbox):
    r = filled
    r.cmd("SEARCH RETURN (SAVE) SEEN")
    assert r.cmd("SEARCH $").untagged == [b"SEARCH 1 3 5"]
    resp = r.cmd("SEARCH RETURN (SAVE) CHARSET KOI8-R SEEN")
    assert resp.tagged.endswith(b"NO [BADCHARSET (UTF-8 US-ASCII)] Unsupported charset.")
    assert r.cmd("SEARCH $").untagged == [b"SEARCH"]

    r.cmd("SEARCH RETURN (SAVE) SEEN")
    resp = r.cmd("SEARCH RETURN (SAVE) NOSUCHKEY")
    assert resp.status == "BAD"
    assert r.cmd("SEARCH $").untagged == [b"SEARCH"]

    # a failed search without SAVE leaves $ alone
    r.cmd("SEARCH RETURN (SAVE) SEEN")
    assert r.cmd("SEARCH CHARSET KOI8-R SEEN").status == "NO"
    assert r.cmd("SEARCH NOSUCHKEY").status == "BAD"
    assert r.cmd("SEARCH $").untagged == [b"SEARCH 1 3 5"]

    select(r, mbox)
    assert r.cmd("SEARCH $").untagged == [b"SEARCH"]
    resp = r.cmd("FETCH $ (UID)")
    assert resp.ok() and resp.untagged == []


def test_dollar_follows_expunge(filled):
    r = filled
    r.cmd("SEARCH RETURN (SAVE) SEEN")            # 1 3 5
    assert r.cmd("STORE 1 +FLAGS.SILENT (\\Deleted)").ok()
    resp = r.cmd("EXPUNGE")
    assert resp.untagged[0] == b"1 EXPUNGE"
    assert r.cmd("SEARCH $").untagged == [b"SEARCH 2 4"]
    resp = r.cmd("UID EXPUNGE $")                  # none of them is \Deleted
    assert resp.ok() and resp.untagged == []


# ---- CHARSET ---------------------------------------------------------------------------


@pytest.mark.parametrize("cmd", [
    "SEARCH CHARSET ISO-8859-1 ALL",
    "UID SEARCH CHARSET \"KOI8-R\" SEEN",
    "SEARCH RETURN (COUNT) CHARSET X-UNKNOWN ALL",
    "SORT (DATE) ISO-8859-1 ALL",
    "UID SORT (ARRIVAL) windows-1252 ALL",
    "THREAD REFERENCES ISO-8859-1 ALL",
    "UID THREAD ORDEREDSUBJECT BIG5 ALL",
])
def test_unsupported_charset_is_badcharset(corpus, cmd):
    tag = corpus.next_tag()
    resp = corpus.cmd(cmd, tag=tag)
    assert resp.untagged == []
    assert resp.tagged == ("%s NO [BADCHARSET (UTF-8 US-ASCII)] Unsupported charset." % tag).encode()


@pytest.mark.parametrize("cs", ["UTF-8", "utf-8", "US-ASCII", "\"us-ascii\""])
def test_supported_charsets(corpus, cs):
    assert corpus.cmd("SEARCH CHARSET %s SUBJECT lunch" % cs).untagged == [b"SEARCH 3 5"]
    assert corpus.cmd("SORT (DATE) %s SUBJECT lunch" % cs).untagged == [b"SORT 3 5"]
    assert corpus.cmd("THREAD REFERENCES %s SUBJECT lunch" % cs).untagged == [b"THREAD (3 5)"]


# ---- SORT ------------------------------------------------------------------------------

SIZES = [len(raw_message(h, b)) for h, b, _, _ in MSGS]

SORTS = [
    ("(ARRIVAL)", [5, 2, 4, 6, 1, 7, 3]),
    ("(REVERSE ARRIVAL)", [3, 7, 1, 6, 4, 2, 5]),
    # 4 has no Date: and sorts by its arrival, 03-Jan 08:00
    ("(DATE)", [3, 1, 5, 2, 4, 6, 7]),
    ("(REVERSE DATE)", [7, 6, 4, 2, 5, 1, 3]),
    # base subjects: Plans Plans Lunch Plans Lunch Other Other
    ("(SUBJECT)", [3, 5, 6, 7, 1, 2, 4]),
    ("(SUBJECT REVERSE DATE)", [5, 3, 7, 6, 4, 2, 1]),
    ("(FROM)", [2, 3, 4, 5, 6, 7, 1]),
    ("(REVERSE FROM)", [1, 7, 6, 5, 4, 3, 2]),
    # display names: Aaron Zed, Alice, bob@b.example, Carol, Dave, Eve, Frank
    ("(DISPLAYFROM)", [1, 2, 3, 4, 5, 6, 7]),
    # no To sorts first ("" < anything); then amy bob carl
    ("(TO)", [4, 5, 6, 7, 1, 2, 3]),
    ("(DISPLAYTO)", [4, 5, 6, 7, 1, 2, 3]),
    ("(CC)", [1, 2, 4, 5, 6, 7, 3]),
    ("(SIZE)", sorted(range(1, 8), key=lambda s: (SIZES[s - 1], s))),
    ("(REVERSE SIZE)", sorted(range(1, 8), key=lambda s: (-SIZES[s - 1], s))),
    ("(CC SUBJECT)", [5, 6, 7, 1, 2, 4, 3]),
]


@pytest.mark.parametrize("crit,want", SORTS, ids=[c for c, _ in SORTS])
def test_sort_each_key(corpus, crit, want):
    assert corpus.cmd("SORT %s UTF-8 ALL" % crit).untagged == [
        ("SORT " + " ".join(map(str, want))).encode()]
    assert corpus.cmd("UID SORT %s UTF-8 ALL" % crit).untagged == [
        ("SORT " + " ".join(map(str, nums_to_uids(corpus, want)))).encode()]


def test_sort_with_search_keys_and_empty_result(corpus):
    assert corpus.cmd("SORT (DATE) UTF-8 SEEN").untagged == [b"SORT 3 1 5"]
    assert corpus.cmd("SORT (SUBJECT) US-ASCII OR FROM alice FROM frank").untagged == [b"SORT 7 2"]
    assert corpus.cmd("SORT (DATE) UTF-8 SUBJECT no-such-subject").untagged == [b"SORT"]
    assert corpus.cmd("UID SORT (DATE) UTF-8 5:6").untagged == [
        ("SORT %d %d" % (corpus.uid_list[4], corpus.uid_list[5])).encode()]


def test_esort_return_options_in_sort_order(corpus):
    # (DATE) order: 3 1 5 2 4 6 7; ALL keeps that order, only ascending runs join
    tag = corpus.next_tag()
    resp = corpus.cmd("SORT RETURN (MIN MAX ALL COUNT) (DATE) UTF-8 ALL", tag=tag)
    assert resp.untagged == [('ESEARCH (TAG "%s") MIN 3 MAX 7 ALL 3,1,5,2,4,6:7 COUNT 7' % tag).encode()]
    u = corpus.uid_list
    tag = corpus.next_tag()
    resp = corpus.cmd("UID SORT RETURN () (REVERSE ARRIVAL) UTF-8 SEEN", tag=tag)
    assert resp.untagged == [('ESEARCH (TAG "%s") UID ALL %d,%d,%d' % (tag, u[2], u[0], u[4])).encode()]
    tag = corpus.next_tag()
    resp = corpus.cmd("SORT RETURN (MIN COUNT) (DATE) UTF-8 SUBJECT nothing-like-this", tag=tag)
    assert resp.untagged == [('ESEARCH (TAG "%s") COUNT 0' % tag).encode()]


def test_esort_save_keeps_first_in_sort_order(filled):
    r = filled
    tag = r.next_tag()
    resp = r.cmd("SORT RETURN (SAVE MIN) (REVERSE DATE) UTF-8 ALL", tag=tag)
    assert resp.untagged == [('ESEARCH (TAG "%s") MIN 7' % tag).encode()]
    assert r.cmd("SEARCH $").untagged == [b"SEARCH 7"]
    resp = r.cmd("SORT RETURN (SAVE) (SUBJECT) UTF-8 SUBJECT lunch")
    assert resp.ok() and resp.untagged == [], resp
    assert r.cmd("SEARCH $").untagged == [b"SEARCH 3 5"]
    resp = r.cmd("SORT RETURN (SAVE) (SUBJECT) KOI8-R ALL")
    assert resp.status == "NO"
    assert r.cmd("SEARCH $").untagged == [b"SEARCH"]


def test_sort_bad_syntax(corpus):
    for cmd, why in (("SORT (DATE) ALL", b"missing argument"),
                     ("SORT (NAME) UTF-8 ALL", b"unknown sort criterion"),
                     ("SORT DATE UTF-8 ALL", b"expected ( before sort criteria")):
        resp = corpus.cmd(cmd)
        assert resp.status == "BAD" and resp.tagged.endswith(b"BAD " + why), resp


def test_sort_and_thread_through_imaplib(server, corpus):
    m = imaplib.IMAP4(server.host, server.imap_port, timeout=20)
    m.login(ALICE, server.users[ALICE])
    m.select(corpus.folder, readonly=True)
    typ, data = m.sort("(REVERSE DATE)", "UTF-8", "ALL")
    assert typ == "OK" and data == [b"7 6 4 2 5 1 3"]
    typ, data = m.uid("SORT", "(SUBJECT)", "UTF-8", "ALL")
    assert typ == "OK" and data == [" ".join(map(str, nums_to_uids(corpus, [3, 5, 6, 7, 1, 2, 4]))).encode()]
    typ, data = m.thread("REFERENCES", "UTF-8", "ALL")
    assert typ == "OK" and data == [b"(3 5)(1 2 4)((6)(7))"]
    m.logout()


# ---- THREAD ---------------------------------------------------------------------------


def test_thread_references(corpus):
    assert corpus.cmd("THREAD REFERENCES UTF-8 ALL").untagged == [b"THREAD (3 5)(1 2 4)((6)(7))"]
    u = corpus.uid_list
    assert corpus.cmd("UID THREAD REFERENCES UTF-8 ALL").untagged == [
        ("THREAD (%d %d)(%d %d %d)((%d)(%d))" % (u[2], u[4], u[0], u[1], u[3], u[5], u[6])).encode()]


def test_thread_orderedsubject(corpus):
    assert corpus.cmd("THREAD ORDEREDSUBJECT UTF-8 ALL").untagged == [b"THREAD (3 5)(1 (2)(4))(6 7)"]
    u = corpus.uid_list
    assert corpus.cmd("UID THREAD ORDEREDSUBJECT US-ASCII ALL").untagged == [
        ("THREAD (%d %d)(%d (%d)(%d))(%d %d)" % (u[2], u[4], u[0], u[1], u[3], u[5], u[6])).encode()]


def test_thread_only_threads_matching_messages(corpus):
    # without 1, its dummy has one child (2), which moves up to the top
    assert corpus.cmd("THREAD REFERENCES UTF-8 2:7").untagged == [b"THREAD (3 5)(2 4)((6)(7))"]
    assert corpus.cmd("THREAD REFERENCES UTF-8 NOT 7").untagged == [b"THREAD (3 5)(1 2 4)(6)"]
    assert corpus.cmd("THREAD REFERENCES UTF-8 SUBJECT nothing-at-all").untagged == [b"THREAD"]
    assert corpus.cmd("THREAD ORDEREDSUBJECT UTF-8 SUBJECT nothing-at-all").untagged == [b"THREAD"]


def test_thread_bad_algorithm(corpus):
    resp = corpus.cmd("THREAD FOO UTF-8 ALL")
    assert resp.status == "BAD" and resp.tagged.endswith(b"BAD unknown thread algorithm")


def test_sort_and_thread_need_a_selected_folder(connect):
    r = connect(ALICE)
    for cmd in ("SORT (DATE) UTF-8 ALL", "THREAD REFERENCES UTF-8 ALL"):
        resp = r.cmd(cmd)
        assert resp.status == "BAD" and resp.tagged.endswith(b"BAD No mailbox selected."), resp


# ---- X-REGEX --------------------------------------------------------------------------


@pytest.mark.parametrize("pattern,why", [
    ('"a(b"', "invalid regular expression at offset 3: missing closing parenthesis"),
    ('"*x"', "invalid regular expression at offset 0: quantifier does not follow a repeatable item"),
    ('"' + "a" * 1025 + '"', "regular expression longer than 1024 bytes"),
])
def test_regex_invalid_pattern_is_bad_with_reason(corpus, pattern, why):
    tag = corpus.next_tag()
    resp = corpus.cmd("SEARCH X-REGEX TEXT %s" % pattern, tag=tag)
    assert resp.untagged == []
    assert resp.tagged == ("%s BAD %s" % (tag, why)).encode()


def test_regex_bad_target_is_bad(corpus):
    resp = corpus.cmd("SEARCH X-REGEX SUBJECT x")
    assert resp.tagged.endswith(b"BAD X-REGEX takes TEXT, BODY or HEADER")


# BACKEND: the following need the store's X-REGEX evaluation.

REGEXES = [
    ('HEADER Subject "^re: (plans|lunch)$"', [2, 5]),
    ('HEADER Subject "(?-i)^re:"', []),
    ('HEADER From "@[cd]\\\\.example"', [4, 5]),
    ('HEADER Cc "dave"', [3]),
    ('HEADER X-Nothing "."', []),
    ('BODY "numbers: \\\\d{5}"', [5]),
    ('BODY "plans"', [1, 4]),
    ('TEXT "plans"', [1, 2, 4]),
]


@pytest.mark.parametrize("key,want", REGEXES, ids=[k for k, _ in REGEXES])
def test_regex_matches_backend(corpus, key, want):
    resp = corpus.cmd("SEARCH X-REGEX %s" % key)
    assert resp.ok(), resp
    assert resp.untagged == [("SEARCH" + "".join(" %d" % s for s in want)).encode()]


def test_regex_combines_with_other_keys_backend(corpus):
    assert corpus.cmd('SEARCH SEEN X-REGEX HEADER Subject "lunch"').untagged == [b"SEARCH 3 5"]
    assert corpus.cmd('SEARCH NOT X-REGEX HEADER Subject "lunch"').untagged == [b"SEARCH 1 2 4 6 7"]
    tag = corpus.next_tag()
    resp = corpus.cmd('UID SEARCH RETURN (COUNT) X-REGEX BODY "something"', tag=tag)
    assert resp.untagged == [('ESEARCH (TAG "%s") UID COUNT 2' % tag).encode()]


def test_regex_catastrophic_pattern_is_no_limit_backend(corpus):
    # (a+)+$ against a long run of a's followed by b: exponential backtracking
    tag = corpus.next_tag()
    resp = corpus.cmd('SEARCH X-REGEX BODY "(a+)+$"', tag=tag)
    assert resp.tagged == ("%s NO [LIMIT] X-REGEX pattern too costly for this mailbox." % tag).encode()
    assert resp.untagged == []
    # the session goes on
    assert corpus.cmd("NOOP").ok()
