"""
Mailbox commands (RFC 3501 6.3; RFC 6154 SPECIAL-USE; RFC 3348 CHILDREN; RFC 2342
NAMESPACE; RFC 2971 ID; RFC 5161 ENABLE): SELECT, EXAMINE, CREATE, DELETE, RENAME,
SUBSCRIBE, UNSUBSCRIBE, LIST, LSUB, STATUS.
"""
import imaplib
import re

from conftest import ALICE, imaplib_login
from lib.helpers import append, select, status
from lib.imapwire import imaplib_lines, list_entries, parse, quote
from lib.messages import crlf

SYSTEM_FLAGS = {"\\Answered", "\\Flagged", "\\Deleted", "\\Seen", "\\Draft"}


def small(n, subject="msg"):
    return crlf("From: a@example.org\nTo: b@example.org\nSubject: %s %d\n\nbody %d\n" % (subject, n, n))


def norm(flags):
    return {("\\" + f[1:].capitalize()) if f.startswith("\\") and f != "\\*" else f for f in flags}


def fetch_flags(raw, seq="1"):
    from lib.helpers import fetch
    return norm(fetch(raw, seq, "FLAGS")[int(seq)]["FLAGS"])


def listing(raw, ref, pat, kind="LIST"):
    r = raw.cmd("%s %s %s" % (kind, quote(ref), quote(pat)))
    assert r.ok(), r
    return {e[2].decode(): e[0] for e in list_entries(r.of(kind), kind)}


# --- SELECT / EXAMINE -------------------------------------------------------------
def test_select_reports_flags_exists_recent_uidvalidity_uidnext_permanentflags(connect, mbox):
    w = connect(ALICE)
    u1 = append(w, mbox, small(1), flags="\\Seen")
    append(w, mbox, small(2))
    u3 = append(w, mbox, small(3))
    r = connect(ALICE)
    resp = select(r, mbox)
    assert resp.code == "READ-WRITE", "SELECT tagged OK must carry [READ-WRITE]: %r" % resp.tagged
    flags = resp.of("FLAGS")
    assert len(flags) == 1, resp.untagged
    assert SYSTEM_FLAGS <= norm(parse(flags[0])[1]), flags
    assert resp.of("EXISTS") == [b"3 EXISTS"], resp.untagged
    assert resp.of("RECENT") == [b"3 RECENT"], "first SELECT after 3 APPENDs: %r" % resp.untagged
    codes = resp.codes()
    assert "UIDVALIDITY" in codes and int(codes["UIDVALIDITY"]) > 0, codes
    assert "UIDNEXT" in codes and int(codes["UIDNEXT"]) > u3, codes
    assert u1 < u3
    assert "PERMANENTFLAGS" in codes, codes
    perm = norm(parse(codes["PERMANENTFLAGS"].encode())[0])
    assert SYSTEM_FLAGS <= perm and "\\*" in perm, "PERMANENTFLAGS: %r" % codes["PERMANENTFLAGS"]
    if "UNSEEN" in codes:      # optional, but if sent it must be the first unseen message
        assert int(codes["UNSEEN"]) == 2, codes
    st = status(r, mbox, "(UIDVALIDITY)")
    assert st["UIDVALIDITY"] == int(codes["UIDVALIDITY"])


def test_examine_is_read_only_and_keeps_recent_and_seen(connect, mbox):
    w = connect(ALICE)
    append(w, mbox, small(1))
    r = connect(ALICE)
    resp = select(r, mbox, examine=True)
    assert resp.code == "READ-ONLY", "EXAMINE tagged OK must carry [READ-ONLY]: %r" % resp.tagged
    assert resp.of("EXISTS") == [b"1 EXISTS"]
    codes = resp.codes()
    if "PERMANENTFLAGS" in codes:
        assert parse(codes["PERMANENTFLAGS"].encode())[0] == [], "EXAMINE: PERMANENTFLAGS must be ()"
    # fetching the body in a read-only mailbox must not set \Seen
    f = r.cmd("FETCH 1 (BODY[] FLAGS)")
    assert f.ok()
    # RFC 3501 6.4.6 expects NO; Dovecot answers OK and ignores it. Either way the
    # flag must not change.
    r.cmd("STORE 1 +FLAGS (\\Flagged)")
    r.cmd("CLOSE")
    s = status(w, mbox, "(UNSEEN)")
    assert s["UNSEEN"] == 1, "EXAMINE + FETCH BODY[] set \\Seen"
    w2 = connect(ALICE)
    select(w2, mbox, examine=True)
    assert "\\Flagged" not in fetch_flags(w2), "STORE in an EXAMINEd mailbox changed flags"
    w2.cmd("CLOSE")
    # EXAMINE does not take \Recent away: a later SELECT still sees it as recent
    r2 = connect(ALICE)
    assert select(r2, mbox).of("RECENT") == [b"1 RECENT"]


def test_select_nonexistent_is_no_and_leaves_no_mailbox_selected(connect, mbox):
    r = connect(ALICE)
    select(r, mbox)
    resp = r.cmd("SELECT %s" % quote(mbox + "-does-not-exist"))
    assert resp.status == "NO", resp.tagged
    # RFC 3501 6.3.1: a failed SELECT leaves the session in the authenticated state
    assert r.cmd("FETCH 1:* FLAGS").status in ("BAD", "NO")


def test_select_inbox_is_case_insensitive(connect):
    r = connect(ALICE)
    assert r.cmd("SELECT inbox").ok()
    assert r.cmd("EXAMINE InBoX").ok()


def test_select_and_examine_via_imaplib(imap, mbox):
    imap.append(mbox, None, None, small(1))
    typ, data = imap.select(mbox)
    assert typ == "OK" and data == [b"1"]
    assert imap.response("UIDVALIDITY")[1][0].isdigit()
    typ, data = imap.select(mbox, readonly=True)
    assert typ == "OK" and data == [b"1"]


# --- CREATE / DELETE / RENAME ---------------------------------------------------------
def test_create_then_list_then_delete(connect, mbox, delim):
    r = connect(ALICE)
    name = mbox + delim + "child"
    assert r.cmd("CREATE %s" % quote(name)).ok()
    assert name in listing(r, "", name)
    assert r.cmd("CREATE %s" % quote(name)).status == "NO", "CREATE of an existing name"
    assert r.cmd("DELETE %s" % quote(name)).ok()
    assert name not in listing(r, "", name)
    assert r.cmd("DELETE %s" % quote(name)).status == "NO", "DELETE of a missing name"


def test_create_makes_missing_parents(connect, mbox, delim):
    r = connect(ALICE)
    deep = delim.join([mbox, "p", "q", "r"])
    assert r.cmd("CREATE %s" % quote(deep)).ok()
    names = listing(r, "", mbox + delim + "*")
    assert {mbox + delim + "p", mbox + delim + "p" + delim + "q", deep} <= set(names), names


def test_create_with_trailing_delimiter_creates_the_name(connect, mbox, delim):
    r = connect(ALICE)
    assert r.cmd("CREATE %s" % quote(mbox + delim + "trail" + delim)).ok()
    assert mbox + delim + "trail" in listing(r, "", mbox + delim + "*")


def test_create_and_delete_inbox_are_refused(connect):
    r = connect(ALICE)
    assert r.cmd("CREATE INBOX").status == "NO"
    assert r.cmd("CREATE inbox").status == "NO"
    assert r.cmd("DELETE INBOX").status == "NO"


def test_delete_removes_messages(connect, mbox):
    r = connect(ALICE)
    append(r, mbox, small(1))
    assert r.cmd("DELETE %s" % quote(mbox)).ok()
    assert r.cmd("CREATE %s" % quote(mbox)).ok()
    assert status(r, mbox, "(MESSAGES)")["MESSAGES"] == 0


def test_delete_parent_keeps_children_and_leaves_noselect(connect, mbox, delim):
    r = connect(ALICE)
    child = mbox + delim + "kid"
    assert r.cmd("CREATE %s" % quote(child)).ok()
    append(r, child, small(1))
    resp = r.cmd("DELETE %s" % quote(mbox))
    assert resp.ok(), "RFC 3501 6.3.4: DELETE of a name with inferiors removes its messages: %r" % resp.tagged
    names = listing(r, "", mbox + "*")
    assert child in names, "DELETE must not remove inferior names: %r" % names
    assert mbox in names and "\\noselect" in names[mbox], \
        "the deleted parent stays as \\Noselect while it has children: %r" % names
    assert status(r, child, "(MESSAGES)")["MESSAGES"] == 1
    again = r.cmd("DELETE %s" % quote(mbox))
    assert again.status == "NO", "DELETE of a \\Noselect name with inferiors is an error: %r" % again.tagged


def test_delete_selected_mailbox_then_session_still_works(connect, mbox):
    r = connect(ALICE)
    select(r, mbox)
    d = r.cmd("DELETE %s" % quote(mbox))
    assert d.status in ("OK", "NO"), d
    r2 = connect(ALICE)
    assert r2.cmd("NOOP").ok()


def test_rename_moves_hierarchy_and_messages(connect, mbox, delim):
    r = connect(ALICE)
    src = mbox + delim + "src"
    kids = [src + delim + "a", src + delim + "a" + delim + "b"]
    for k in [src] + kids:
        assert r.cmd("CREATE %s" % quote(k)).ok()
    append(r, src, small(1))
    append(r, src, small(2))
    append(r, kids[1], small(3))
    dst = mbox + delim + "dst"
    resp = r.cmd("RENAME %s %s" % (quote(src), quote(dst)))
    assert resp.ok(), resp.tagged
    names = set(listing(r, "", mbox + delim + "*"))
    assert {dst, dst + delim + "a", dst + delim + "a" + delim + "b"} <= names, names
    assert not {src, kids[0], kids[1]} & names, "old names remain: %r" % names
    assert status(r, dst, "(MESSAGES)")["MESSAGES"] == 2
    assert status(r, dst + delim + "a" + delim + "b", "(MESSAGES)")["MESSAGES"] == 1


def test_rename_errors(connect, mbox, delim):
    r = connect(ALICE)
    other = mbox + delim + "other"
    assert r.cmd("CREATE %s" % quote(other)).ok()
    assert r.cmd("RENAME %s %s" % (quote(mbox + "-missing"), quote(mbox + "-x"))).status == "NO"
    assert r.cmd("RENAME %s %s" % (quote(other), quote(mbox))).status == "NO", "RENAME onto an existing name"
    assert r.cmd("RENAME %s %s" % (quote(mbox), quote(other + delim + "under"))).status == "NO", \
        "RENAME of a mailbox into its own subtree"


def test_rename_inbox_moves_messages_and_leaves_inbox_empty(connect, server):
    user = "carol@example.org"
    r = connect(user)
    for i in range(3):
        append(r, "INBOX", small(i, "inbox"))
    before = status(r, "INBOX", "(MESSAGES)")["MESSAGES"]
    assert before >= 3
    resp = r.cmd("RENAME INBOX OldInbox")
    assert resp.ok(), "RFC 3501 6.3.5 allows RENAME INBOX: %r" % resp.tagged
    assert status(r, "INBOX", "(MESSAGES)")["MESSAGES"] == 0, "INBOX must be left empty"
    assert status(r, "OldInbox", "(MESSAGES)")["MESSAGES"] == before
    names = listing(r, "", "*")
    assert "INBOX" in names and "OldInbox" in names
    append(r, "INBOX", small(9, "after rename"))
    assert status(r, "INBOX", "(MESSAGES)")["MESSAGES"] == 1


def test_create_rename_delete_via_imaplib(imap, mbox, delim):
    a, b = mbox + delim + "one", mbox + delim + "two"
    assert imap.create(a)[0] == "OK"
    assert imap.rename(a, b)[0] == "OK"
    typ, data = imap.list(mbox + delim, "*")
    assert typ == "OK"
    assert any(x.endswith(b'"' + b.encode() + b'"') or x.endswith(b.encode()) for x in data), data
    assert imap.delete(b)[0] == "OK"


# --- SUBSCRIBE / LSUB --------------------------------------------------------------------
def test_subscribe_lsub_unsubscribe(connect, mbox, delim):
    r = connect(ALICE)
    name = mbox + delim + "sub"
    assert r.cmd("CREATE %s" % quote(name)).ok()
    assert r.cmd("SUBSCRIBE %s" % quote(name)).ok()
    assert name in listing(r, "", mbox + delim + "*", "LSUB")
    assert r.cmd("UNSUBSCRIBE %s" % quote(name)).ok()
    assert name not in listing(r, "", mbox + delim + "*", "LSUB")


def test_lsub_percent_shows_unsubscribed_parent_as_noselect(connect, mbox, delim):
    """RFC 3501 6.3.9: "foo/bar" subscribed, "foo" not: LSUB "" "%" returns foo \\Noselect."""
    r = connect(ALICE)
    leaf = delim.join([mbox, "p", "q"])
    assert r.cmd("CREATE %s" % quote(leaf)).ok()
    assert r.cmd("SUBSCRIBE %s" % quote(leaf)).ok()
    got = listing(r, "", mbox + delim + "%", "LSUB")
    assert set(got) == {mbox + delim + "p"}, got
    assert "\\noselect" in got[mbox + delim + "p"], got


def test_subscription_survives_delete_of_mailbox(connect, mbox, delim):
    """RFC 3501 6.3.6: the server MUST NOT unilaterally remove a subscribed name."""
    r = connect(ALICE)
    name = mbox + delim + "gone"
    assert r.cmd("CREATE %s" % quote(name)).ok()
    assert r.cmd("SUBSCRIBE %s" % quote(name)).ok()
    assert r.cmd("DELETE %s" % quote(name)).ok()
    assert name in listing(r, "", mbox + delim + "*", "LSUB")


def test_subscribe_via_imaplib(imap, mbox):
    assert imap.subscribe(mbox)[0] == "OK"
    typ, data = imap.lsub('""', mbox)
    assert typ == "OK" and len([d for d in data if d]) == 1, data
    assert imap.unsubscribe(mbox)[0] == "OK"
    typ, data = imap.lsub('""', mbox)
    assert typ == "OK" and [d for d in data if d] == [], data


# --- LIST ------------------------------------------------------------------------------
def test_list_empty_pattern_returns_delimiter(connect):
    r = connect(ALICE)
    resp = r.cmd('LIST "" ""')
    ents = list_entries(resp.of("LIST"))
    assert len(ents) == 1
    attrs, d, name = ents[0]
    assert "\\noselect" in attrs and name == b"" and len(d) == 1, ents


def test_list_star_percent_and_reference(connect, mbox, delim):
    r = connect(ALICE)
    for n in ("a", "a" + delim + "b", "c"):
        assert r.cmd("CREATE %s" % quote(mbox + delim + n)).ok()
    p = mbox + delim
    assert set(listing(r, "", p + "*")) == {p + "a", p + "a" + delim + "b", p + "c"}
    assert set(listing(r, "", p + "%")) == {p + "a", p + "c"}
    assert set(listing(r, p, "%")) == {p + "a", p + "c"}, "reference is prefixed to the pattern"
    assert set(listing(r, p, "a" + delim + "*")) == {p + "a" + delim + "b"}
    assert set(listing(r, "", mbox + "*")) == {mbox, p + "a", p + "a" + delim + "b", p + "c"}
    assert set(listing(r, "", p + "?")) == set(), "'?' is not a wildcard in IMAP"
    assert set(listing(r, "", mbox.upper() + delim + "*")) == set() or mbox == mbox.upper(), \
        "names other than INBOX are case-sensitive"


def test_list_children_attributes(connect, mbox, delim):
    r = connect(ALICE)
    for n in ("a", "a" + delim + "b", "c"):
        assert r.cmd("CREATE %s" % quote(mbox + delim + n)).ok()
    got = listing(r, "", mbox + "*")
    p = mbox + delim
    assert "\\haschildren" in got[mbox] and "\\hasnochildren" not in got[mbox], got
    assert "\\haschildren" in got[p + "a"], got
    assert "\\hasnochildren" in got[p + "c"], got
    assert "\\hasnochildren" in got[p + "a" + delim + "b"], got


def test_list_inbox_any_case(connect):
    r = connect(ALICE)
    got = listing(r, "", "inbox")
    assert list(got) == ["INBOX"], got


def test_list_special_use_folders(server):
    """RFC 6154: the default folders carry their special-use attribute."""
    from lib.imapwire import Raw
    with Raw(server.host, server.imap_port) as r:
        r.login("dave@example.org", server.users["dave@example.org"])
        got = listing(r, "", "*")
        r.logout()
    want = {"Drafts": "\\drafts", "Sent": "\\sent", "Archive": "\\archive", "Junk": "\\junk", "Trash": "\\trash"}
    for name, attr in want.items():
        assert name in got, "default folder %s missing: %r" % (name, got)
        assert attr in got[name], "%s lacks %s: %r" % (name, attr, got[name])
    assert "INBOX" in got
    users_attrs = set().union(*[a for n, a in got.items() if n not in want])
    assert not users_attrs & set(want.values()), "special-use attributes on other folders: %r" % got


def test_list_via_imaplib_quotes_names_with_spaces(imap, mbox, delim):
    name = mbox + delim + "with space"
    assert imap.create('"%s"' % name)[0] == "OK"
    typ, data = imap.list('""', '"%s"' % name)
    assert typ == "OK" and len(data) == 1 and data[0] is not None, data
    ents = list_entries(imaplib_lines(data))
    assert ents[0][2] == name.encode(), ents


def test_mailbox_name_in_modified_utf7_round_trips(connect, mbox, delim):
    r = connect(ALICE)
    name = mbox + delim + "Entw&APw-rfe"       # "Entwürfe" in modified UTF-7
    assert r.cmd("CREATE %s" % quote(name)).ok()
    assert name in listing(r, "", mbox + delim + "*")
    append(r, name, small(1))
    assert status(r, name, "(MESSAGES)")["MESSAGES"] == 1


# --- STATUS -------------------------------------------------------------------------------
def test_status_counts(connect, mbox):
    w = connect(ALICE)
    append(w, mbox, small(1), flags="\\Seen")
    append(w, mbox, small(2))
    u3 = append(w, mbox, small(3))
    st = status(w, mbox)
    assert st["MESSAGES"] == 3 and st["UNSEEN"] == 2 and st["UIDNEXT"] > u3, st
    assert st["RECENT"] == 3, "no session has selected it yet: %r" % st
    r = connect(ALICE)
    sel = select(r, mbox)
    assert int(sel.codes()["UIDVALIDITY"]) == st["UIDVALIDITY"]
    assert int(sel.codes()["UIDNEXT"]) == st["UIDNEXT"]
    assert status(w, mbox)["RECENT"] == 0, "\\Recent belongs to the session that selected it"


def test_status_nonexistent_is_no(connect, mbox):
    r = connect(ALICE)
    assert r.cmd("STATUS %s (MESSAGES)" % quote(mbox + "-nope")).status == "NO"


def test_status_via_imaplib(imap, mbox):
    imap.append(mbox, None, None, small(1))
    typ, data = imap.status(mbox, "(MESSAGES UIDNEXT)")
    assert typ == "OK"
    m = re.search(rb"MESSAGES (\d+)", data[0])
    assert m and m.group(1) == b"1", data


# --- NAMESPACE / ID / ENABLE -------------------------------------------------------------
def test_namespace_personal_with_delimiter(connect, delim):
    r = connect(ALICE)
    resp = r.cmd("NAMESPACE")
    assert resp.ok()
    lines = resp.of("NAMESPACE")
    assert len(lines) == 1, resp.untagged
    toks = parse(lines[0])
    personal, other, shared = toks[1], toks[2], toks[3]
    assert isinstance(personal, list) and len(personal) >= 1, lines
    prefix, d = personal[0][0], personal[0][1]
    assert d == delim.encode(), "NAMESPACE delimiter %r vs LIST %r" % (d, delim)
    assert prefix == b"" or prefix.endswith(delim.encode()), personal
    assert other is None and shared is None, "no other/shared namespaces exist: %r" % lines


def test_namespace_via_imaplib(imap):
    typ, data = imap.namespace()
    assert typ == "OK" and data[0].startswith(b"(("), data


def test_id_returns_server_id(connect):
    r = connect()
    resp = r.cmd('ID ("name" "sealbox-e2e" "version" "1.0")')
    assert resp.ok(), resp.tagged
    lines = resp.of("ID")
    assert len(lines) == 1, resp.untagged
    val = parse(lines[0])[1]
    assert val is None or (isinstance(val, list) and len(val) % 2 == 0), lines
    resp = r.cmd("ID NIL")
    assert resp.ok() and len(resp.of("ID")) == 1


def test_id_via_imaplib(server):
    m = imaplib.IMAP4(server.host, server.imap_port, timeout=20)
    try:
        typ, data = m._simple_command("ID", '("name" "imaplib")')
        assert typ == "OK"
        typ, data = m._untagged_response(typ, data, "ID")
        assert data and data[0] is not None
    finally:
        m.logout()


def test_enable_unknown_extension_answers_empty_enabled(connect):
    r = connect(ALICE)
    resp = r.cmd("ENABLE X-NO-SUCH-EXTENSION")
    assert resp.ok(), resp.tagged
    lines = resp.of("ENABLED")
    # RFC 5161 3.2: ENABLED lists only what was enabled (here nothing); Dovecot omits
    # the empty response, which clients accept too.
    assert lines in ([], [b"ENABLED"], [b"ENABLED "]), "RFC 5161: only extensions actually enabled: %r" % resp.untagged


def test_enable_via_imaplib(server):
    m = imaplib_login(server, ALICE)
    try:
        typ, data = m._simple_command("ENABLE", "X-FOO")
        assert typ == "OK"
    finally:
        m.logout()
