"""
Message commands (RFC 3501 6.3.11, 6.4; RFC 4315 UIDPLUS; RFC 6851 MOVE; RFC 3691
UNSELECT; RFC 7888 LITERAL+): APPEND, CHECK, CLOSE, EXPUNGE, UID EXPUNGE, FETCH,
STORE, COPY, MOVE, UNSELECT.
"""
import imaplib
import re
import time
from datetime import datetime, timezone, timedelta

import pytest

from conftest import ALICE
from lib.helpers import append, apply_expunges, fetch, norm_flags, select, status, uids
from lib.imapwire import Raw, fetch_map, imaplib_lines, list_entries, parse, quote
from lib.messages import (ENVELOPE_EXPECTED, ENVELOPE_MSG, SIMPLE_BODY_EXPECTED, SIMPLE_MSG, crlf,
                          imap_date, multipart_message, norm_body, strip_ext)

MP = multipart_message()


def small(n, subject="msg"):
    return crlf("From: a@example.org\nTo: b@example.org\nSubject: %s %d\n\nbody %d\n" % (subject, n, n))


def item(d, prefix):
    """The value of the one FETCH item whose name starts with prefix (case-insensitive)."""
    keys = [k for k in d if k.upper().startswith(prefix.upper())]
    assert len(keys) == 1, "want one %s item in %r" % (prefix, list(d))
    return d[keys[0]]


def parse_internaldate(v):
    if isinstance(v, bytes):
        v = v.decode()
    return datetime.strptime(v.strip(), "%d-%b-%Y %H:%M:%S %z")


@pytest.fixture(scope="module")
def crafted(server):
    """A folder with [ENVELOPE_MSG, SIMPLE_MSG, MP.raw] at sequence numbers 1, 2, 3.
    Tests EXAMINE it (read-only), so nothing changes its flags."""
    name = "crafted_fetch"
    with Raw(server.host, server.imap_port) as r:
        r.login(ALICE, server.users[ALICE])
        assert r.cmd("CREATE %s" % name).ok()
        for msg in (ENVELOPE_MSG, SIMPLE_MSG, MP.raw):
            append(r, name, msg)
        r.logout()
    return name


@pytest.fixture
def ro(connect, crafted):
    r = connect(ALICE)
    select(r, crafted, examine=True)
    return r


# --- APPEND ----------------------------------------------------------------------------------
def test_append_with_flags_and_date(connect, mbox):
    r = connect(ALICE)
    when = datetime(2021, 3, 4, 5, 6, 7, tzinfo=timezone(timedelta(hours=2)))
    uid = append(r, mbox, SIMPLE_MSG, flags="\\Flagged \\Draft $Custom", date=imap_date(when))
    select(r, mbox)
    d = fetch(r, "1", "(UID FLAGS INTERNALDATE RFC822.SIZE)")[1]
    assert int(d["UID"]) == uid
    assert {"\\Flagged", "\\Draft", "$Custom"} <= norm_flags(d["FLAGS"]), d["FLAGS"]
    assert "\\Seen" not in norm_flags(d["FLAGS"])
    assert parse_internaldate(d["INTERNALDATE"]) == when, d["INTERNALDATE"]
    assert int(d["RFC822.SIZE"]) == len(SIMPLE_MSG)


def test_append_without_date_uses_now(connect, mbox):
    r = connect(ALICE)
    append(r, mbox, small(1))
    select(r, mbox)
    d = fetch(r, "1", "INTERNALDATE")[1]
    got = parse_internaldate(d["INTERNALDATE"])
    assert abs((got - datetime.now(timezone.utc)).total_seconds()) < 120, got


def test_appenduid_matches_uidvalidity_and_uid(connect, mbox):
    r = connect(ALICE)
    resp = r.cmd_lit(["APPEND %s " % quote(mbox), small(1), ""])
    m = re.search(rb"\[APPENDUID (\d+) (\d+)\]", resp.tagged)
    assert resp.ok() and m, resp.tagged
    sel = select(r, mbox)
    assert int(m.group(1)) == int(sel.codes()["UIDVALIDITY"])
    assert uids(r) == [int(m.group(2))]


def test_append_non_synchronising_literal(connect, mbox):
    r = connect(ALICE)
    msg = small(7, "literal plus")
    r.send(b"L1 APPEND " + quote(mbox).encode() + b" (\\Seen) {%d+}\r\n" % len(msg) + msg + b"\r\n")
    resp = r.read_until_tag("L1")
    assert resp.ok(), resp.tagged
    assert not any(u.startswith(b"+") for u in resp.untagged), "LITERAL+ must not get a continuation: %r" % resp.untagged
    select(r, mbox)
    d = fetch(r, "1", "(FLAGS BODY.PEEK[])")[1]
    assert d["BODY[]"] == msg and "\\Seen" in norm_flags(d["FLAGS"])


def test_append_synchronising_literal_gets_continuation(connect, mbox):
    r = connect(ALICE)
    msg = small(8)
    r.send(b"L2 APPEND " + quote(mbox).encode() + b" {%d}\r\n" % len(msg))
    cont = r.read_response()
    assert cont.startswith(b"+"), cont
    r.send(msg + b"\r\n")
    assert r.read_until_tag("L2").ok()


def test_append_to_missing_mailbox_is_no_trycreate(connect, mbox):
    r = connect(ALICE)
    resp = r.cmd_lit(["APPEND %s " % quote(mbox + "-missing"), small(1), ""])
    assert resp.status == "NO" and resp.code == "TRYCREATE", resp.tagged


def test_append_multiple_messages_in_a_row_get_increasing_uids(connect, mbox):
    r = connect(ALICE)
    got = [append(r, mbox, small(i)) for i in range(5)]
    assert got == sorted(got) and len(set(got)) == 5, got
    select(r, mbox)
    assert uids(r) == got


def test_append_via_imaplib(imap, mbox):
    t = imaplib.Time2Internaldate(time.time())
    typ, data = imap.append(mbox, "(\\Seen)", t, SIMPLE_MSG)
    assert typ == "OK", data
    assert b"APPENDUID" in data[0].upper(), data
    typ, data = imap.select(mbox)
    assert data == [b"1"]
    typ, data = imap.fetch("1", "(FLAGS BODY.PEEK[])")
    d = fetch_map(imaplib_lines(data))[1]
    assert d["BODY[]"] == SIMPLE_MSG and "\\Seen" in norm_flags(d["FLAGS"])


def test_bare_lf_message_is_served_with_crlf_and_size_counts_crlf(connect, mbox):
    r = connect(ALICE)
    lf = b"From: lf@example.org\nTo: b@example.org\nSubject: bare LF\n\nline one\nline two\n\nlast\n"
    append(r, mbox, lf)
    select(r, mbox)
    d = fetch(r, "1", "(RFC822.SIZE BODY.PEEK[] BODY.PEEK[HEADER] BODY.PEEK[TEXT] BODYSTRUCTURE)")[1]
    want = lf.replace(b"\n", b"\r\n")
    assert d["BODY[]"] == want
    assert int(d["RFC822.SIZE"]) == len(want)
    assert d["BODY[HEADER]"] + d["BODY[TEXT]"] == want
    bs = norm_body(d["BODYSTRUCTURE"])
    assert bs[6] == len(b"line one\r\nline two\r\n\r\nlast\r\n") and bs[7] == 4, bs


def test_check_is_ok(connect, mbox):
    r = connect(ALICE)
    select(r, mbox)
    assert r.cmd("CHECK").ok()


# --- FETCH --------------------------------------------------------------------------------------
def test_fetch_envelope_exact(ro):
    d = fetch(ro, "1", "ENVELOPE")[1]
    assert d["ENVELOPE"] == ENVELOPE_EXPECTED


def test_fetch_bodystructure_simple_text_exact(ro):
    d = fetch(ro, "2", "(BODYSTRUCTURE BODY)")[2]
    assert norm_body(d["BODYSTRUCTURE"]) == SIMPLE_BODY_EXPECTED
    assert norm_body(d["BODY"], ext=False) == strip_ext(SIMPLE_BODY_EXPECTED)


def test_fetch_bodystructure_multipart_exact(ro):
    d = fetch(ro, "3", "BODYSTRUCTURE")[3]
    assert norm_body(d["BODYSTRUCTURE"]) == MP.bodystructure


def test_fetch_body_multipart_non_extensible(ro):
    d = fetch(ro, "3", "BODY")[3]
    assert norm_body(d["BODY"], ext=False) == strip_ext(MP.bodystructure)


def test_fetch_rfc822_size_equals_length_of_body(ro):
    m = fetch(ro, "1:3", "(RFC822.SIZE BODY.PEEK[])")
    for seq, raw in zip((1, 2, 3), (ENVELOPE_MSG, SIMPLE_MSG, MP.raw)):
        assert m[seq]["BODY[]"] == raw, "message %d not served byte-exact" % seq
        assert int(m[seq]["RFC822.SIZE"]) == len(raw)


def test_fetch_header_plus_text_equals_body_byte_exact(ro):
    m = fetch(ro, "1:3", "(BODY.PEEK[HEADER] BODY.PEEK[TEXT] BODY.PEEK[])")
    for seq in (1, 2, 3):
        d = m[seq]
        assert d["BODY[HEADER]"] + d["BODY[TEXT]"] == d["BODY[]"]
        assert d["BODY[HEADER]"].endswith(b"\r\n\r\n"), "HEADER includes the blank line"
    assert m[3]["BODY[HEADER]"] == MP.sections["HEADER"]
    assert m[3]["BODY[TEXT]"] == MP.sections["TEXT"]


@pytest.mark.parametrize("section", sorted(MP.sections))
def test_fetch_multipart_section(ro, section):
    d = fetch(ro, "3", "BODY.PEEK[%s]" % section)[3]
    assert item(d, "BODY[%s]" % section) == MP.sections[section]


def test_fetch_header_fields_and_not(ro):
    d = fetch(ro, "2", "(BODY.PEEK[HEADER.FIELDS (Subject FROM)] BODY.PEEK[HEADER.FIELDS.NOT "
                       "(Subject From Date Message-ID MIME-Version Content-Type Content-Transfer-Encoding)] "
                       "BODY.PEEK[HEADER.FIELDS (X-Not-There)])")[2]
    assert item(d, "BODY[HEADER.FIELDS (SUBJECT FROM)") == \
        b"From: Simple Sender <simple@example.org>\r\nSubject: simple text\r\n\r\n"
    assert item(d, "BODY[HEADER.FIELDS.NOT") == b"To: someone@example.org\r\n\r\n"
    nothing = [v for k, v in d.items() if "X-NOT-THERE" in k.upper()]
    assert nothing == [b"\r\n"], d


def test_fetch_header_fields_of_nested_message(ro):
    d = fetch(ro, "3", "BODY.PEEK[4.HEADER.FIELDS (SUBJECT)]")[3]
    assert item(d, "BODY[4.HEADER.FIELDS") == b"Subject: inner message\r\n\r\n"


def test_fetch_partial(ro):
    raw = SIMPLE_MSG
    n = len(raw)
    d = fetch(ro, "2", "(BODY.PEEK[]<0.10> BODY.PEEK[TEXT]<5.7>)")[2]
    assert d["BODY[]<0>"] == raw[:10]
    text = raw[raw.index(b"\r\n\r\n") + 4:]
    assert d["BODY[TEXT]<5>"] == text[5:12]
    d = fetch(ro, "2", "BODY.PEEK[]<%d.100>" % (n - 5))[2]
    assert d["BODY[]<%d>" % (n - 5)] == raw[-5:], "a partial running past the end is truncated"
    d = fetch(ro, "2", "BODY.PEEK[]<%d.10>" % (n + 100))[2]
    assert d["BODY[]<%d>" % (n + 100)] == b"", "a partial starting past the end is empty"


def test_fetch_partial_of_part(ro):
    d = fetch(ro, "3", "BODY.PEEK[2.1]<6.5>")[3]
    assert d["BODY[2.1]<6>"] == MP.sections["2.1"][6:11]


def test_fetch_rfc822_header(ro):
    d = fetch(ro, "2", "(RFC822.HEADER)")[2]
    head = SIMPLE_MSG[:SIMPLE_MSG.index(b"\r\n\r\n") + 4]
    assert d["RFC822.HEADER"] == head


def test_fetch_macros(ro):
    m = fetch(ro, "2", "ALL")[2]
    assert {"FLAGS", "INTERNALDATE", "RFC822.SIZE", "ENVELOPE"} <= set(m), m.keys()
    m = fetch(ro, "2", "FAST")[2]
    assert {"FLAGS", "INTERNALDATE", "RFC822.SIZE"} <= set(m) and "ENVELOPE" not in m
    m = fetch(ro, "2", "FULL")[2]
    assert {"FLAGS", "INTERNALDATE", "RFC822.SIZE", "ENVELOPE", "BODY"} <= set(m)


def test_uid_fetch_always_includes_uid(ro):
    r = ro.cmd("UID FETCH 1:* FLAGS")
    assert r.ok()
    m = fetch_map(r.untagged)
    assert sorted(m) == [1, 2, 3] and all("UID" in v for v in m.values()), m


def test_fetch_star_and_ranges(ro):
    assert sorted(fetch(ro, "*", "UID")) == [3]
    assert sorted(fetch(ro, "3:2", "UID")) == [2, 3]
    assert sorted(fetch(ro, "1,3", "UID")) == [1, 3]


def test_fetch_out_of_range_sequence_is_error(ro):
    r = ro.cmd("FETCH 99 FLAGS")
    assert r.status in ("BAD", "NO"), "RFC 3501 9: a sequence number past EXISTS is invalid: %r" % r.tagged


def test_uid_fetch_of_missing_uid_is_empty_ok(ro):
    r = ro.cmd("UID FETCH 999999 FLAGS")
    assert r.ok() and fetch_map(r.untagged) == {}, r


def test_body_peek_does_not_set_seen_but_body_does(connect, mbox):
    r = connect(ALICE)
    append(r, mbox, SIMPLE_MSG)
    select(r, mbox)
    fetch(r, "1", "(BODY.PEEK[] BODY.PEEK[TEXT] RFC822.HEADER RFC822.SIZE)")
    assert "\\Seen" not in norm_flags(fetch(r, "1", "FLAGS")[1]["FLAGS"])
    fetch(r, "1", "BODY[TEXT]")
    assert "\\Seen" in norm_flags(fetch(r, "1", "FLAGS")[1]["FLAGS"])
    # and the change is permanent: another session sees it
    assert status(connect(ALICE), mbox, "(UNSEEN)")["UNSEEN"] == 0


def test_rfc822_fetch_sets_seen(connect, mbox):
    r = connect(ALICE)
    append(r, mbox, SIMPLE_MSG)
    select(r, mbox)
    d = fetch(r, "1", "RFC822")[1]
    assert d["RFC822"] == SIMPLE_MSG
    assert "\\Seen" in norm_flags(fetch(r, "1", "FLAGS")[1]["FLAGS"])


def test_fetch_via_imaplib(imap, crafted):
    imap.select(crafted, readonly=True)
    typ, data = imap.fetch("2", "(BODY.PEEK[] RFC822.SIZE)")
    assert typ == "OK"
    d = fetch_map(imaplib_lines(data))[2]
    assert d["BODY[]"] == SIMPLE_MSG and int(d["RFC822.SIZE"]) == len(SIMPLE_MSG)
    typ, data = imap.uid("FETCH", "1:*", "(FLAGS)")
    assert typ == "OK" and len(data) == 3


# --- STORE ---------------------------------------------------------------------------------------
def test_store_add_remove_replace_and_silent(connect, mbox):
    r = connect(ALICE)
    append(r, mbox, small(1))
    select(r, mbox)
    resp = r.cmd("STORE 1 +FLAGS (\\Flagged \\Answered)")
    assert resp.ok()
    m = fetch_map(resp.untagged)
    assert norm_flags(m[1]["FLAGS"]) - {"\\Recent"} == {"\\Flagged", "\\Answered"}, resp.untagged
    resp = r.cmd("STORE 1 -FLAGS (\\Answered)")
    assert norm_flags(fetch_map(resp.untagged)[1]["FLAGS"]) - {"\\Recent"} == {"\\Flagged"}
    resp = r.cmd("STORE 1 FLAGS (\\Seen \\Draft)")
    assert norm_flags(fetch_map(resp.untagged)[1]["FLAGS"]) - {"\\Recent"} == {"\\Seen", "\\Draft"}
    resp = r.cmd("STORE 1 +FLAGS.SILENT (\\Deleted)")
    assert resp.ok() and fetch_map(resp.untagged) == {}, ".SILENT must not echo FLAGS: %r" % resp.untagged
    resp = r.cmd("STORE 1 FLAGS.SILENT ()")
    assert resp.ok() and fetch_map(resp.untagged) == {}
    assert norm_flags(fetch(r, "1", "FLAGS")[1]["FLAGS"]) - {"\\Recent"} == set()


def test_store_keywords_and_flags_list_grows(connect, mbox):
    r = connect(ALICE)
    append(r, mbox, small(1))
    append(r, mbox, small(2))
    select(r, mbox)
    resp = r.cmd("STORE 1:2 +FLAGS ($Work Todo)")
    assert resp.ok()
    m = fetch_map(resp.untagged)
    assert all({"$Work", "Todo"} <= norm_flags(m[s]["FLAGS"]) for s in (1, 2)), resp.untagged
    r2 = connect(ALICE)
    sel = select(r2, mbox)
    flags = norm_flags(parse(sel.of("FLAGS")[0])[1])
    assert {"$Work", "Todo"} <= flags, "FLAGS on SELECT lists keywords in use: %r" % sel.of("FLAGS")
    resp = r.cmd("STORE 2 -FLAGS (Todo)")
    assert norm_flags(fetch(r2, "1:2", "FLAGS")[2]["FLAGS"]) >= {"$Work"}
    assert "Todo" not in norm_flags(fetch(r2, "2", "FLAGS")[2]["FLAGS"])


def test_uid_store_answers_with_uid(connect, mbox):
    r = connect(ALICE)
    uid = append(r, mbox, small(1))
    select(r, mbox)
    resp = r.cmd("UID STORE %d +FLAGS (\\Seen)" % uid)
    m = fetch_map(resp.untagged)
    assert int(m[1]["UID"]) == uid, "UID STORE responses carry the UID: %r" % resp.untagged


def test_store_recent_is_refused(connect, mbox):
    r = connect(ALICE)
    append(r, mbox, small(1))
    select(r, mbox)
    resp = r.cmd("STORE 1 +FLAGS (\\Recent)")
    assert resp.status in ("BAD", "NO"), "\\Recent cannot be stored: %r" % resp.tagged


def test_store_via_imaplib(imap, mbox):
    imap.append(mbox, None, None, small(1))
    imap.select(mbox)
    typ, data = imap.store("1", "+FLAGS", "(\\Flagged)")
    assert typ == "OK" and b"\\Flagged" in data[0], data
    typ, data = imap.uid("STORE", "1:*", "-FLAGS.SILENT", "(\\Flagged)")
    assert typ == "OK"


# --- COPY / MOVE ----------------------------------------------------------------------------------
def _copyuid(resp_lines):
    for line in resp_lines:
        m = re.search(rb"\[COPYUID (\d+) ([0-9:,]+) ([0-9:,]+)\]", line, re.I)
        if m:
            return int(m.group(1)), _expand(m.group(2)), _expand(m.group(3))
    return None


def _expand(s):
    out = []
    for part in s.decode().split(","):
        if ":" in part:
            a, b = map(int, part.split(":"))
            lo, hi = min(a, b), max(a, b)
            rng = list(range(lo, hi + 1))
            out += rng if a <= b else rng[::-1]
        else:
            out.append(int(part))
    return out


def test_copy_with_copyuid_keeps_flags_and_bytes(connect, mbox, delim):
    r = connect(ALICE)
    dst = mbox + delim + "dst"
    assert r.cmd("CREATE %s" % quote(dst)).ok()
    src_uids = [append(r, mbox, small(i), flags="\\Flagged" if i == 1 else "") for i in range(3)]
    select(r, mbox)
    resp = r.cmd("COPY 2:3 %s" % quote(dst))
    assert resp.ok(), resp.tagged
    cu = _copyuid([resp.tagged])
    assert cu, "COPY OK must carry [COPYUID] (UIDPLUS): %r" % resp.tagged
    validity, from_uids, to_uids = cu
    assert sorted(from_uids) == src_uids[1:]
    assert len(to_uids) == 2
    assert fetch(r, "1:*", "UID") and len(uids(r)) == 3, "COPY leaves the source intact"
    r2 = connect(ALICE)
    sel = select(r2, dst)
    assert int(sel.codes()["UIDVALIDITY"]) == validity
    m = fetch(r2, "1:*", "(UID FLAGS BODY.PEEK[])")
    by_uid = {int(v["UID"]): v for v in m.values()}
    for f, t in zip(from_uids, to_uids):
        i = src_uids.index(f)
        assert by_uid[t]["BODY[]"] == small(i)
        assert ("\\Flagged" in norm_flags(by_uid[t]["FLAGS"])) == (i == 1)
        assert "\\Recent" in norm_flags(by_uid[t]["FLAGS"]), "copied messages are \\Recent in the target"


def test_uid_copy(connect, mbox, delim):
    r = connect(ALICE)
    dst = mbox + delim + "dst"
    assert r.cmd("CREATE %s" % quote(dst)).ok()
    u = [append(r, mbox, small(i)) for i in range(3)]
    select(r, mbox)
    resp = r.cmd("UID COPY %d,%d %s" % (u[0], u[2], quote(dst)))
    assert resp.ok()
    cu = _copyuid([resp.tagged])
    assert cu and sorted(cu[1]) == [u[0], u[2]], resp.tagged
    assert status(r, dst, "(MESSAGES)")["MESSAGES"] == 2


def test_copy_to_missing_mailbox_is_no_trycreate(connect, mbox):
    r = connect(ALICE)
    append(r, mbox, small(1))
    select(r, mbox)
    resp = r.cmd("COPY 1 %s" % quote(mbox + "-missing"))
    assert resp.status == "NO" and resp.code == "TRYCREATE", resp.tagged


def test_move_sends_copyuid_and_expunge(connect, mbox, delim):
    r = connect(ALICE)
    dst = mbox + delim + "dst"
    assert r.cmd("CREATE %s" % quote(dst)).ok()
    u = [append(r, mbox, small(i)) for i in range(4)]
    select(r, mbox)
    resp = r.cmd("MOVE 2:3 %s" % quote(dst))
    assert resp.ok(), resp.tagged
    cu = _copyuid(resp.untagged + [resp.tagged])
    assert cu and sorted(cu[1]) == u[1:3], "MOVE must report COPYUID: %r" % resp
    expunges = [x for x in resp.untagged if re.match(rb"\d+ EXPUNGE$", x)]
    assert len(expunges) == 2, resp.untagged
    assert apply_expunges(u, resp.untagged) == [u[0], u[3]]
    assert uids(r) == [u[0], u[3]]
    assert status(r, dst, "(MESSAGES)")["MESSAGES"] == 2


def test_uid_move(connect, mbox, delim):
    r = connect(ALICE)
    dst = mbox + delim + "dst"
    assert r.cmd("CREATE %s" % quote(dst)).ok()
    u = [append(r, mbox, small(i)) for i in range(3)]
    select(r, mbox)
    resp = r.cmd("UID MOVE %d %s" % (u[2], quote(dst)))
    assert resp.ok(), resp.tagged
    assert resp.of("EXPUNGE") == [b"3 EXPUNGE"], resp.untagged
    assert _copyuid(resp.untagged + [resp.tagged]), resp
    r2 = connect(ALICE)
    select(r2, dst)
    assert fetch(r2, "1", "BODY.PEEK[]")[1]["BODY[]"] == small(2)


def test_copy_and_move_via_imaplib(imap, mbox, delim):
    dst = mbox + delim + "dst"
    imap.create(dst)
    for i in range(3):
        imap.append(mbox, None, None, small(i))
    imap.select(mbox)
    typ, data = imap.copy("1", dst)
    assert typ == "OK" and b"COPYUID" in data[0].upper(), data
    typ, data = imap._simple_command("MOVE", "2", dst)
    assert typ == "OK", data
    typ, data = imap.uid("MOVE", "1:*", dst)
    assert typ == "OK"
    assert imap.status(dst, "(MESSAGES)")[1][0].endswith(b"(MESSAGES 4)")


# --- EXPUNGE / CLOSE / UNSELECT --------------------------------------------------------------------
def test_expunge_reports_each_removed_message_in_order(connect, mbox):
    r = connect(ALICE)
    u = [append(r, mbox, small(i)) for i in range(6)]
    select(r, mbox)
    assert r.cmd("STORE 2,3,5 +FLAGS.SILENT (\\Deleted)").ok()
    resp = r.cmd("EXPUNGE")
    assert resp.ok()
    assert len(resp.of("EXPUNGE")) == 3, resp.untagged
    assert apply_expunges(u, resp.untagged) == [u[0], u[3], u[5]]
    assert uids(r) == [u[0], u[3], u[5]]


def test_uid_expunge_only_removes_given_uids(connect, mbox):
    r = connect(ALICE)
    u = [append(r, mbox, small(i)) for i in range(4)]
    select(r, mbox)
    assert r.cmd("STORE 1:4 +FLAGS.SILENT (\\Deleted)").ok()
    resp = r.cmd("UID EXPUNGE %d:%d" % (u[1], u[2]))
    assert resp.ok()
    assert apply_expunges(u, resp.untagged) == [u[0], u[3]], resp.untagged
    assert uids(r) == [u[0], u[3]]


def test_close_expunges_silently(connect, mbox):
    r = connect(ALICE)
    for i in range(3):
        append(r, mbox, small(i))
    select(r, mbox)
    assert r.cmd("STORE 1:2 +FLAGS.SILENT (\\Deleted)").ok()
    resp = r.cmd("CLOSE")
    assert resp.ok()
    assert resp.of("EXPUNGE") == [], "CLOSE sends no EXPUNGE responses: %r" % resp.untagged
    assert r.cmd("FETCH 1 FLAGS").status in ("BAD", "NO"), "no mailbox is selected after CLOSE"
    assert status(r, mbox, "(MESSAGES)")["MESSAGES"] == 1


def test_close_after_examine_does_not_expunge(connect, mbox):
    r = connect(ALICE)
    append(r, mbox, small(1), flags="\\Deleted")
    select(r, mbox, examine=True)
    assert r.cmd("CLOSE").ok()
    assert status(r, mbox, "(MESSAGES)")["MESSAGES"] == 1


def test_unselect_does_not_expunge(connect, mbox):
    r = connect(ALICE)
    append(r, mbox, small(1))
    select(r, mbox)
    assert r.cmd("STORE 1 +FLAGS.SILENT (\\Deleted)").ok()
    resp = r.cmd("UNSELECT")
    assert resp.ok() and resp.of("EXPUNGE") == []
    assert r.cmd("FETCH 1 FLAGS").status in ("BAD", "NO")
    assert status(r, mbox, "(MESSAGES)")["MESSAGES"] == 1


def test_expunge_close_unselect_via_imaplib(imap, mbox):
    for i in range(3):
        imap.append(mbox, "(\\Deleted)" if i < 2 else None, None, small(i))
    imap.select(mbox)
    typ, data = imap.expunge()
    assert typ == "OK" and sorted(data) in ([b"1", b"1"], [b"1", b"2"]), data
    assert imap.unselect()[0] == "OK"
    imap.select(mbox)
    assert imap.close()[0] == "OK"


def _bytes_outside_literals(line):
    """The bytes of a response line that are not inside a {n} literal."""
    out, i = bytearray(), 0
    while i < len(line):
        m = re.compile(rb"\{(\d+)\+?\}\r\n").match(line, i)
        if m:
            i = m.end() + int(m.group(1))
            continue
        out.append(line[i])
        i += 1
    return bytes(out)


def test_8bit_header_values_are_sent_as_literals(connect, mbox):
    """RFC 3501 9: quoted strings are 7-bit; 8-bit header text in ENVELOPE (and names in
    BODYSTRUCTURE) must come as literals."""
    r = connect(ALICE)
    msg = crlf("From: Jörg Müller <joerg@example.org>\nTo: Zoë <zoe@example.org>\n"
               "Subject: Grüße aus Köln\nMIME-Version: 1.0\n"
               "Content-Type: text/plain; charset=utf-8; name=\"dätei.txt\"\n"
               "Content-Transfer-Encoding: 8bit\n\nÄpfel\n")
    append(r, mbox, msg)
    select(r, mbox)
    resp = r.cmd("FETCH 1 (ENVELOPE BODYSTRUCTURE)")
    assert resp.ok()
    line = resp.of("FETCH")[0]
    bad = [b for b in _bytes_outside_literals(line) if b >= 0x80]
    assert not bad, "8-bit bytes outside literals: %r" % line
    env = fetch_map(resp.untagged)[1]["ENVELOPE"]
    assert env[1] == "Grüße aus Köln".encode()
    assert env[2] == [["Jörg Müller".encode(), None, b"joerg", b"example.org"]]


def test_header_only_message_without_blank_line(connect, mbox):
    r = connect(ALICE)
    msg = b"From: h@example.org\r\nSubject: header only\r\n"
    append(r, mbox, msg)
    select(r, mbox)
    d = fetch(r, "1", "(RFC822.SIZE BODY.PEEK[] BODY.PEEK[HEADER] BODY.PEEK[TEXT])")[1]
    assert d["BODY[]"] == msg and int(d["RFC822.SIZE"]) == len(msg)
    assert d["BODY[HEADER]"] + d["BODY[TEXT]"] == msg, d
    assert d["BODY[TEXT]"] == b""


def test_copy_into_the_same_mailbox(connect, mbox):
    r = connect(ALICE)
    u = append(r, mbox, small(1))
    select(r, mbox)
    resp = r.cmd("COPY 1 %s" % quote(mbox))
    assert resp.ok(), resp.tagged
    assert r.cmd("NOOP").ok()
    got = uids(r)
    assert len(got) == 2 and got[0] == u and got[1] > u, got
    assert fetch(r, "2", "BODY.PEEK[]")[2]["BODY[]"] == small(1)


def test_header_fields_keep_folding_repeats_and_order(connect, mbox):
    r = connect(ALICE)
    msg = crlf("Received: from a by b; Mon, 1 Jan 2024 00:00:00 +0000\n"
               "Subject: a folded\n subject line\n"
               "From: f@example.org\n"
               "Received: from c\n\tby d; Mon, 1 Jan 2024 00:00:01 +0000\n"
               "X-Empty:\n"
               "\nbody\n")
    append(r, mbox, msg)
    select(r, mbox)
    d = fetch(r, "1", "(BODY.PEEK[HEADER.FIELDS (RECEIVED SUBJECT X-EMPTY)] "
                      "BODY.PEEK[HEADER.FIELDS.NOT (RECEIVED X-EMPTY)])")[1]
    assert item(d, "BODY[HEADER.FIELDS (RECEIVED") == crlf(
        "Received: from a by b; Mon, 1 Jan 2024 00:00:00 +0000\n"
        "Subject: a folded\n subject line\n"
        "Received: from c\n\tby d; Mon, 1 Jan 2024 00:00:01 +0000\n"
        "X-Empty:\n\n")
    assert item(d, "BODY[HEADER.FIELDS.NOT") == crlf("Subject: a folded\n subject line\nFrom: f@example.org\n\n")


def test_fetch_envelope_with_sender_reply_to_groups_and_nil_fields(connect, mbox):
    from lib.messages import ENVELOPE2_EXPECTED, ENVELOPE2_MSG
    r = connect(ALICE)
    append(r, mbox, ENVELOPE2_MSG)
    select(r, mbox, examine=True)
    assert fetch(r, "1", "ENVELOPE")[1]["ENVELOPE"] == ENVELOPE2_EXPECTED


def test_fetch_bodystructure_with_every_extension_field(connect, mbox):
    from lib.messages import EXT_EXPECTED, EXT_MSG
    r = connect(ALICE)
    append(r, mbox, EXT_MSG)
    select(r, mbox, examine=True)
    bs = norm_body(fetch(r, "1", "BODYSTRUCTURE")[1]["BODYSTRUCTURE"])
    if isinstance(bs[10], bytes):        # one language may come as a string
        bs[10] = [bs[10]]
    assert bs == EXT_EXPECTED


def test_uid_range_with_star_always_includes_last_message(connect, mbox):
    """RFC 3501 6.4.8: "a UID range of 559:* always includes the UID of the last message"."""
    r = connect(ALICE)
    u = [append(r, mbox, small(i)) for i in range(3)]
    select(r, mbox)
    resp = r.cmd("UID FETCH %d:* (UID)" % (u[-1] + 1000))
    m = fetch_map(resp.untagged)
    assert [int(v["UID"]) for v in m.values()] == [u[-1]], resp.untagged
    resp = r.cmd("UID SEARCH UID %d:*" % (u[-1] + 1000))
    assert resp.of("SEARCH") == [b"SEARCH %d" % u[-1]], resp.untagged


def test_uids_are_never_reused_after_expunge(connect, mbox):
    r = connect(ALICE)
    u = [append(r, mbox, small(i)) for i in range(3)]
    select(r, mbox)
    assert r.cmd("STORE 3 +FLAGS.SILENT (\\Deleted)").ok()
    assert r.cmd("EXPUNGE").ok()
    r.cmd("CLOSE")
    u4 = append(r, mbox, small(4))
    assert u4 > u[2], "UID %d reused after expunging %d" % (u4, u[2])
    sel = select(r, mbox)
    assert int(sel.codes()["UIDNEXT"]) > u4


def test_recreated_mailbox_does_not_reuse_uids_with_same_uidvalidity(connect, mbox, delim):
    """RFC 3501 2.3.1.1: a deleted and re-created name gets a new UIDVALIDITY or
    keeps counting UIDs, so a client's cache cannot match old UIDs to new mail."""
    r = connect(ALICE)
    name = mbox + delim + "again"
    assert r.cmd("CREATE %s" % quote(name)).ok()
    old = [append(r, name, small(i)) for i in range(2)]
    v1 = int(select(r, name).codes()["UIDVALIDITY"])
    r.cmd("CLOSE")
    assert r.cmd("DELETE %s" % quote(name)).ok()
    assert r.cmd("CREATE %s" % quote(name)).ok()
    new = append(r, name, small(9))
    v2 = int(select(r, name).codes()["UIDVALIDITY"])
    assert v2 != v1 or new > max(old), "UIDVALIDITY %d kept and UID %d reused" % (v1, new)


def test_copy_preserves_internaldate(connect, mbox, delim):
    r = connect(ALICE)
    dst = mbox + delim + "dst"
    assert r.cmd("CREATE %s" % quote(dst)).ok()
    when = datetime(2019, 5, 6, 7, 8, 9, tzinfo=timezone.utc)
    append(r, mbox, small(1), date=imap_date(when))
    select(r, mbox)
    assert r.cmd("COPY 1 %s" % quote(dst)).ok()
    assert r.cmd("MOVE 1 %s" % quote(dst)).ok()
    select(r, dst)
    m = fetch(r, "1:2", "INTERNALDATE")
    assert [parse_internaldate(m[s]["INTERNALDATE"]) for s in (1, 2)] == [when, when]


def test_search_larger_smaller_are_strict(connect, mbox):
    r = connect(ALICE)
    append(r, mbox, small(1))
    select(r, mbox)
    size = int(fetch(r, "1", "RFC822.SIZE")[1]["RFC822.SIZE"])
    for key, want in (("LARGER %d" % size, b"SEARCH"), ("LARGER %d" % (size - 1), b"SEARCH 1"),
                      ("SMALLER %d" % size, b"SEARCH"), ("SMALLER %d" % (size + 1), b"SEARCH 1")):
        resp = r.cmd("SEARCH " + key)
        assert [l.rstrip() for l in resp.of("SEARCH")] == [want], (key, resp.untagged)


def test_search_senton_uses_the_date_as_written(connect, mbox):
    """RFC 3501 6.4.4: SENTON compares the Date: header's date, disregarding time and
    timezone: 23:30 -0500 on 2 Aug is 2 Aug, though it is 3 Aug in UTC."""
    r = connect(ALICE)
    append(r, mbox, crlf("From: a@example.org\nDate: Wed, 02 Aug 2023 23:30:00 -0500\nSubject: tz\n\nx\n"))
    select(r, mbox)
    got = {d: [l.rstrip() for l in r.cmd("SEARCH SENTON %s-Aug-2023" % d).of("SEARCH")] for d in (2, 3)}
    assert got == {2: [b"SEARCH 1"], 3: [b"SEARCH"]}, got
    got = [l.rstrip() for l in r.cmd("SEARCH SENTBEFORE 3-Aug-2023").of("SEARCH")]
    assert got == [b"SEARCH 1"], got


SENT_DATES = [
    "Mon, 07 Aug 2023 12:00:00 +0000", "Tue, 08 Aug 2023 12:00:00 +0000",
    "Wed, 09 Aug 2023 12:00:00 +0000", "Thu, 10 Aug 2023 12:00:00 +0000",
    "Fri, 11 Aug 2023 12:00:00 +0000", "Sat, 12 Aug 2023 12:00:00 +0000",
    "Sun, 13 Aug 2023 12:00:00 +0000",
    "14 Aug 2023 12:00:00 +0000",                  # no day of week
    "Tue, 15 Aug 2023 12:00 +0000",                # no seconds (RFC 5322 3.3)
    "Wed, 16 Aug 2023 12:00:00 +0000 (UTC)",       # trailing comment
    "Thu, 17 Aug 2023 12:00:00 GMT",               # obsolete zone name
]


@pytest.mark.parametrize("date", SENT_DATES)
def test_search_sent_dates_parse_every_rfc5322_form(connect, mbox, date):
    r = connect(ALICE)
    append(r, mbox, crlf("From: a@example.org\nDate: %s\nSubject: date form\n\nx\n" % date))
    select(r, mbox)
    day = int(date.split(",")[-1].split()[0])
    resp = r.cmd("SEARCH SENTON %d-Aug-2023" % day)
    assert resp.of("SEARCH") == [b"SEARCH 1"], "Date: %s not matched by SENTON %d-Aug-2023: %r" % (
        date, day, resp.untagged)


def test_create_under_inbox(connect):
    r = connect("carol@example.org")
    assert r.cmd('CREATE "INBOX/sub"').ok() or r.cmd('CREATE "INBOX.sub"').ok()
    resp = r.cmd('LIST "" "INBOX*"')
    names = [e[2] for e in list_entries(resp.of("LIST"))]
    assert b"INBOX" in names and len(names) == 2, names


def test_envelope_address_with_obsolete_source_route(connect, mbox):
    """RFC 3501 7.4.2: the at-domain-list (source route) goes in the second address field;
    dropping it is tolerable, inventing groups or addresses is not."""
    r = connect(ALICE)
    append(r, mbox, crlf("From: a@example.org\nTo: Someone <@route.example,@x.example:user@host.example>\n"
                         "Subject: route\n\nx\n"))
    select(r, mbox, examine=True)
    to = fetch(r, "1", "ENVELOPE")[1]["ENVELOPE"][5]
    assert to in ([[b"Someone", b"@route.example,@x.example", b"user", b"host.example"]],
                  [[b"Someone", None, b"user", b"host.example"]]), to


def test_append_to_selected_mailbox_reports_exists(connect, mbox):
    """RFC 3501 6.3.11: appending to the selected mailbox announces the new message."""
    r = connect(ALICE)
    append(r, mbox, small(1))
    select(r, mbox)
    resp = r.cmd_lit(["APPEND %s " % quote(mbox), small(2), ""])
    assert resp.ok()
    if b"2 EXISTS" not in resp.untagged:
        resp = r.cmd("NOOP")
        assert b"2 EXISTS" in resp.untagged, resp.untagged
    assert len(uids(r)) == 2


def test_status_unknown_item_is_bad(connect, mbox):
    r = connect(ALICE)
    assert r.cmd("STATUS %s (MESSAGES NOSUCHITEM)" % quote(mbox)).status == "BAD"
    assert r.cmd("STATUS %s ()" % quote(mbox)).status in ("BAD", "OK")
