"""
helpers.py — small IMAP steps shared by the end-to-end tests.

  append(raw, mbox, msg, flags="", date=None) -> uid     APPEND with a synchronising
                                                       literal; asserts OK and returns
                                                       the APPENDUID uid
  select(raw, mbox) -> Resp                             SELECT, asserts OK
  uids(raw) -> [uid...] in sequence order               UID FETCH 1:* of the selected folder
  fetch(raw, seqset, items, uid=False) -> {seq: {ITEM: value}}
  capabilities(resp_or_line) -> set of upper-case capability names
  apply_expunges(uid_list, untagged) -> uid list after "* n EXPUNGE" lines
"""
import re

from lib.imapwire import fetch_map, parse, quote


def append(raw, mbox, msg, flags="", date=None):
    head = "APPEND %s " % quote(mbox)
    if flags:
        head += "(%s) " % flags
    if date:
        head += date + " "
    r = raw.cmd_lit([head, msg, ""])
    assert r.ok(), "APPEND to %s: %r" % (mbox, r.tagged)
    m = re.search(rb"\[APPENDUID (\d+) (\d+)\]", r.tagged, re.I)
    assert m, "APPEND OK without [APPENDUID uidvalidity uid] (UIDPLUS): %r" % r.tagged
    return int(m.group(2))


def select(raw, mbox, examine=False):
    r = raw.cmd("%s %s" % ("EXAMINE" if examine else "SELECT", quote(mbox)))
    assert r.ok(), "SELECT %s: %r" % (mbox, r.tagged)
    return r


def fetch(raw, seqset, items, uid=False):
    r = raw.cmd("%sFETCH %s %s" % ("UID " if uid else "", seqset, items))
    assert r.ok(), "FETCH %s %s: %r" % (seqset, items, r.tagged)
    return fetch_map(r.untagged)


def uids(raw):
    r = raw.cmd("UID FETCH 1:* (UID)")
    assert r.ok(), r
    m = fetch_map(r.untagged)
    return [int(m[s]["UID"]) for s in sorted(m)]


def capabilities(data):
    if isinstance(data, (list, tuple)):
        data = b" ".join(data)
    m = re.search(rb"CAPABILITY ([^\]\r\n]*)", data, re.I)
    assert m, "no CAPABILITY in %r" % data
    return {c.upper() for c in m.group(1).decode().split()}


def apply_expunges(uid_list, untagged):
    out = list(uid_list)
    for line in untagged:
        m = re.match(rb"(\d+) EXPUNGE$", line, re.I)
        if m:
            n = int(m.group(1))
            assert 1 <= n <= len(out), "EXPUNGE %d outside 1..%d" % (n, len(out))
            del out[n - 1]
    return out


def norm_flags(value):
    out = set()
    for f in value:
        if f.startswith("\\"):
            out.add("\\" + f[1:].capitalize())
        else:
            out.add(f)
    return out


def status(raw, mbox, items="(MESSAGES RECENT UIDNEXT UIDVALIDITY UNSEEN)"):
    r = raw.cmd("STATUS %s %s" % (quote(mbox), items))
    assert r.ok(), "STATUS %s: %r" % (mbox, r.tagged)
    lines = r.of("STATUS")
    assert len(lines) == 1, r.untagged
    toks = parse(lines[0])
    lst = toks[2]
    return {lst[i].upper(): int(lst[i + 1]) for i in range(0, len(lst), 2)}
