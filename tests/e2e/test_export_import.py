"""
test_export_import.py — `sealbox export` / `sealbox import` through the real CLI
against a running sealboxd (issue 4, "Export and import").

What it checks:
  - a Maildir (Maildir++, dovecot-keywords, flags in the info suffix, mtimes) and
    an mbox tree (mboxrd, flags in Status/X-Status/X-Keywords the way mutt and
    Dovecot write them) of 500+ varied messages in several folders import into
    the right folders with flags, keywords and dates; exported again as mbox,
    Maildir and eml-zip, every message comes back byte for byte (LF in mbox and
    Maildir, CRLF in the zip) with the same flags, keywords and date;
  - a second import adds nothing, identical copies in one folder are all kept;
  - the zip passes Python's zipfile and `unzip -t`; Python's mailbox module (the
    same conventions Thunderbird and mbsync follow) reads the mbox and Maildir
    exports with the right message counts, folders and flags;
  - messages APPENDed over IMAP with tricky bytes ("From " lines, ">From ", no
    final line end, 8-bit, a 200 KB line, a bare CR) survive export to mbox and
    import into another mailbox exactly as IMAP served them;
  - mbsync (Maildir++) pulls a mailbox and `import` takes that Maildir; mbsync
    pushes an `export`ed Maildir into another address; folders, bytes, flags agree;
  - refusals: a non-empty OUT, an input that is not an mbox (file and line named),
    eml-zip as an import format.
"""
import calendar
import io
import mailbox
import os
import random
import re
import shutil
import subprocess
import time
import zipfile

import pytest

from lib import messages
from lib.helpers import append, select
from lib.imapwire import Raw, fetch_map, list_entries

DOMAIN = "example.org"
USERS = {
    "md@example.org": "md-export-Passw0rd!xyz",     # imports the Maildir
    "mb@example.org": "mb-export-Passw0rd!xyz",     # imports the mbox tree
    "rt@example.org": "rt-export-Passw0rd!xyz",     # tricky bytes over IMAP
    "rt2@example.org": "rt2-export-Passw0rd!xy",    # ... imported back here
}
FOLDERS = ["INBOX", "Work", "Work/Projects", "Archive/2023", "v1.2 notes", "Caf\u00e9"]
KEYWORDS = ["Project", "$label1", "Junk"]           # $Forwarded travels as Maildir 'P'
SYSLETTERS = "DFRST"                                # Maildir letters of the system flags


def asctime(t):
    return time.strftime("%a %b %e %H:%M:%S %Y", time.gmtime(t))


def tricky_lf():
    """Messages (LF) with what mbox and Maildir writers get wrong."""
    long_line = ("".join(random.Random(7).choice("abcdefghij") for _ in range(200_000))).encode()
    return [
        b"From: a@x.example\nSubject: from lines\n\nFrom here on\n>From quoted\n>>From twice\nFrom \n",
        b"Subject: no final newline\n\nthe last line",
        b"Subject: 8bit \xc3\xa9\n\ncaf\xc3\xa9 \xff\xfe\x80\n",
        b"Subject: long line\n\n" + long_line + b"\n",
        b"Subject: body has flag fields\n\nStatus: RO\nX-Status: F\nX-Keywords: x\n",
        b"Subject: blank lines at the end\n\nbody\n\n\n",
        b"Subject: ends with From\n\nFrom ",
    ]


def make_source(n=500, seed=4):
    """[(folder, lf_bytes, sysletters, keywords, date)] — the expected mailbox."""
    rng = random.Random(seed)
    msgs = [m.replace(b"\r\n", b"\n") for m in messages.corpus(n, seed)] + tricky_lf()
    dup = b"Subject: identical twins\n\nsame bytes\n"
    out = []
    for i, m in enumerate(msgs):
        assert b"\r" not in m
        folder = FOLDERS[i % len(FOLDERS)]
        letters = "".join(c for c in SYSLETTERS if rng.random() < 0.3)
        kws = frozenset(k for k in KEYWORDS + ["$Forwarded"] if rng.random() < 0.2)
        out.append((folder, m, letters, kws, rng.randint(946684800, 1735689600)))
    out.append(("Work", dup, "S", frozenset(), 1700000000))
    out.append(("Work", dup, "", frozenset(), 1700000001))
    return out


def escape(comp, maildirpp):
    o = []
    for i, ch in enumerate(comp.encode()):
        c = chr(ch)
        if ch < 0x20 or ch == 0x7f or c in '%\\:*?"<>|/' or (c == "." and (i == 0 or maildirpp)):
            o.append("%%%02X" % ch)
        else:
            o.append(c)
    return "".join(o).encode("latin-1").decode("utf-8", "surrogateescape")


def unescape(s):
    b = s.encode("utf-8", "surrogateescape")
    return re.sub(rb"%([0-9A-Fa-f]{2})", lambda m: bytes([int(m.group(1), 16)]), b).decode()


def write_maildir(root, src):
    kwfile = "".join("%d %s\n" % (i, k) for i, k in enumerate(KEYWORDS))
    for i, (folder, m, letters, kws, date) in enumerate(src):
        d = root if folder == "INBOX" else os.path.join(
            root, "." + ".".join(escape(c, True) for c in folder.split("/")))
        if not os.path.isdir(os.path.join(d, "cur")):
            for sub in ("cur", "new", "tmp"):
                os.makedirs(os.path.join(d, sub))
            with open(os.path.join(d, "dovecot-keywords"), "w") as f:
                f.write(kwfile)
        info = set(letters) | {chr(ord("a") + KEYWORDS.index(k)) for k in kws if k in KEYWORDS}
        if "$Forwarded" in kws:
            info.add("P")
        if info:
            name = "cur/%d.M%dP1.gen:2,%s" % (date, i, "".join(sorted(info)))
        else:
            name = "new/%d.M%dP1.gen" % (date, i)      # new/: no info suffix at all
        p = os.path.join(d, name)
        with open(p, "wb") as f:
            f.write(m)
        os.utime(p, (date, date))


def write_mbox_tree(root, src):
    """mboxrd, flag fields at the end of the header as mutt and Dovecot put them."""
    files = {}
    for folder, m, letters, kws, date in src:
        rel = "/".join(escape(c, False) for c in folder.split("/")) + ".mbox"
        p = os.path.join(root, rel)
        if p not in files:
            os.makedirs(os.path.dirname(p), exist_ok=True)
            files[p] = open(p, "wb")
        head, sep, body = m.partition(b"\n\n")
        assert sep, "the mbox source needs a header/body separator"
        flags = b"Status: %sO\n" % (b"R" if "S" in letters else b"")
        xs = "".join({"R": "A", "F": "F", "T": "D", "D": "T"}.get(c, "") for c in letters)
        flags += b"X-Status: %s\n" % xs.encode()
        if kws:
            flags += b"X-Keywords: " + b", ".join(sorted(k.encode() for k in kws)) + b"\n"
        text = head + b"\n" + flags + b"\n" + body
        quoted = re.sub(rb"(?m)^(>*From )", rb">\1", text)
        files[p].write(b"From gen@example.org " + asctime(date).encode() + b"\n" + quoted + b"\n")
    for f in files.values():
        f.close()


def cli(srv, *args, user=None, check=True):
    pw = (srv.users[user] + "\n").encode() if user else b""
    return srv.cli(*args, input=pw, check=check, timeout=120)


# --- readers of our exports ------------------------------------------------------------

def maildir_letters(name):
    return name.rsplit(":2,", 1)[1] if ":2," in name else ""


def read_maildir(root):
    out = []
    for d in sorted(os.listdir(root)) + [""]:
        if d and not d.startswith("."):
            continue
        path = os.path.join(root, d)
        if d and not os.path.isdir(os.path.join(path, "cur")):
            continue
        folder = "INBOX" if not d else "/".join(unescape(c) for c in d[1:].split("."))
        kwmap = {}
        if os.path.exists(os.path.join(path, "dovecot-keywords")):
            for line in open(os.path.join(path, "dovecot-keywords")):
                n, k = line.rstrip("\n").split(" ", 1)
                kwmap[chr(ord("a") + int(n))] = k
        for sub in ("cur", "new"):
            for name in os.listdir(os.path.join(path, sub)):
                p = os.path.join(path, sub, name)
                info = maildir_letters(name)
                kws = {kwmap[c] for c in info if c.islower()}
                if "P" in info:
                    kws.add("$Forwarded")
                with open(p, "rb") as f:
                    data = f.read()
                out.append((folder, data, "".join(c for c in info if c in SYSLETTERS),
                            frozenset(kws), int(os.stat(p).st_mtime)))
    return out


def read_mbox_file(path):
    """Our mboxrd: separators, unquoting, one LF dropped, our three flag lines."""
    msgs, cur = [], None
    for line in io.BytesIO(open(path, "rb").read()):
        if line.startswith(b"From "):
            if cur is not None:
                msgs.append(cur)
            cur = [line, []]
            continue
        if re.match(rb">+From ", line):
            line = line[1:]
        cur[1].append(line)
    if cur is not None:
        msgs.append(cur)
    out = []
    for fromline, lines in msgs:
        data = b"".join(lines)
        assert data.endswith(b"\n"), "a message is followed by LF: %r" % data[-40:]
        data = data[:-1]
        st, xs, xk, data = data.split(b"\n", 3) if data.count(b"\n") >= 3 else (data.split(b"\n") + [b""])[:4]
        assert st.startswith(b"Status: ") and xs.startswith(b"X-Status:") and xk.startswith(b"X-Keywords:"), \
            "the three flag lines open the header: %r" % [st, xs, xk]
        letters = ("S" if b"R" in st else "") + "".join(
            {"A": "R", "F": "F", "T": "D", "D": "T"}[c] for c in xs[9:].decode().strip())
        letters = "".join(c for c in SYSLETTERS if c in letters)
        kws = frozenset(xk[11:].decode().split())
        date = calendar.timegm(time.strptime(fromline.decode().split(None, 2)[2].strip(),
                                             "%a %b %d %H:%M:%S %Y"))
        out.append((data, letters, kws, date))
    return out


def read_mbox_tree(root):
    out = []
    for dirpath, _, names in os.walk(root):
        for n in names:
            assert n.endswith(".mbox"), n
            rel = os.path.relpath(os.path.join(dirpath, n), root)[:-5]
            folder = "/".join(unescape(c) for c in rel.split("/"))
            out += [(folder,) + m for m in read_mbox_file(os.path.join(dirpath, n))]
    return out


def read_zip(path):
    import json
    with zipfile.ZipFile(path) as z:
        assert z.testzip() is None
        man = json.loads(z.read("manifest.json"))
        assert man["format"] == "sealbox-eml-zip"
        out = []
        for e in man["messages"]:
            data = z.read(e["file"])
            assert len(data) == e["size"]
            letters = "".join(c for c, f in zip("DFRST", ("\\Draft", "\\Flagged", "\\Answered",
                                                          "\\Seen", "\\Deleted")) if f in e["flags"])
            letters = "".join(c for c in SYSLETTERS if c in letters)
            date = calendar.timegm(time.strptime(e["internaldate"], "%Y-%m-%dT%H:%M:%SZ"))
            out.append((e["folder"], data, letters, frozenset(e["keywords"]), date))
        return out, man


def canon(recs):
    return sorted((f, m, "".join(sorted(l)), tuple(sorted(k)), d) for f, m, l, k, d in recs)


def diff_hint(want, got):
    for a, b in zip(want, got):
        if a != b:
            return "first difference: want %r... got %r..." % (
                (a[0], a[1][:80], a[2:]), (b[0], b[1][:80], b[2:]))
    return "counts %d vs %d" % (len(want), len(got))


@pytest.fixture
def srv(fresh_server):
    return fresh_server(USERS)


def test_maildir_and_mbox_round_trip_every_message_byte_exact(srv, tmp_path):
    src = make_source()
    want = canon(src)
    nmsg = len(src)
    write_maildir(str(tmp_path / "src.maildir"), src)
    write_mbox_tree(str(tmp_path / "src.mbox"), src)

    p = cli(srv, "import", "md@example.org", "--format", "maildir", str(tmp_path / "src.maildir"),
            user="md@example.org")
    assert b"%d messages" % nmsg in p.stdout and b"%d added, 0 already present, 0 skipped" % nmsg in p.stdout, p.stdout
    p = cli(srv, "import", "mb@example.org", "--format", "mbox", str(tmp_path / "src.mbox"),
            user="mb@example.org")
    assert b"%d added, 0 already present, 0 skipped" % nmsg in p.stdout, p.stdout

    # Idempotent: the same sources again add nothing.
    p = cli(srv, "import", "md@example.org", "--format", "maildir", str(tmp_path / "src.maildir"),
            user="md@example.org")
    assert b"0 added, %d already present" % nmsg in p.stdout, p.stdout
    p = cli(srv, "import", "mb@example.org", "--format", "mbox", str(tmp_path / "src.mbox"),
            user="mb@example.org")
    assert b"0 added, %d already present" % nmsg in p.stdout, p.stdout

    for user in ("md@example.org", "mb@example.org"):
        tag = user.split("@")[0]
        out_md, out_mb, out_zip = (str(tmp_path / ("%s.%s" % (tag, x))) for x in ("maildir", "mbox", "zip"))
        p = cli(srv, "export", user, "--format", "maildir", out_md, user=user)
        assert b"%d messages" % nmsg in p.stdout, p.stdout
        got = canon(read_maildir(out_md))
        assert got == want, "maildir export of %s: %s" % (user, diff_hint(want, got))
        cli(srv, "export", user, "--format", "mbox", out_mb, user=user)
        got = canon((f, m, l, k, d) for f, m, l, k, d in read_mbox_tree(out_mb))
        assert got == want, "mbox export of %s: %s" % (user, diff_hint(want, got))
        cli(srv, "export", user, "--format", "eml-zip", out_zip, user=user)
        recs, man = read_zip(out_zip)
        got = canon((f, m.replace(b"\r\n", b"\n"), l, k, d) for f, m, l, k, d in recs)
        assert got == want, "eml-zip export of %s: %s" % (user, diff_hint(want, got))
        assert all(b"\n" not in m.replace(b"\r\n", b"") for _, m, _, _, _ in recs), "zip entries are CRLF"
        assert set(FOLDERS) <= set(man["folders"])

    # The zip as other tools see it.
    assert shutil.which("unzip"), "unzip is not installed (scripts/deps.sh test)"
    u = subprocess.run(["unzip", "-tq", str(tmp_path / "md.zip")], capture_output=True)
    assert u.returncode == 0 and b"No errors detected" in u.stdout, u.stdout + u.stderr

    # Python's mailbox module (Thunderbird/mbsync conventions): Maildir++ folders,
    # flags in the info suffix; mbox separators and Status/X-Status flags.
    md = mailbox.Maildir(str(tmp_path / "md.maildir"), factory=None, create=False)
    assert set(md.list_folders()) >= {"Work", "Work.Projects", "Archive.2023", "v1%2E2 notes"}
    inbox = [s for s in src if s[0] == "INBOX"]
    assert len(md) == len(inbox)
    assert sorted("".join(c for c in m.get_flags() if c.isupper()) for m in md) == sorted(
        "".join(sorted(l + ("P" if "$Forwarded" in k else ""))) for _, _, l, k, _ in inbox)
    mb = mailbox.mbox(str(tmp_path / "md.mbox" / "INBOX.mbox"), create=False)
    assert len(mb) == len(inbox)
    assert sorted(m.get_flags() for m in mb) == sorted(
        ("RO" if "S" in l else "O") + "".join(x for c, x in (("R", "A"), ("T", "D"), ("F", "F"), ("D", "T"))
                                              if c in l) for _, _, l, _, _ in inbox)

    # The store holds CRLF: what IMAP serves is the source with CRLF line ends.
    with Raw(srv.host, srv.imap_port, timeout=30) as r:
        r.login("md@example.org", USERS["md@example.org"])
        select(r, "Work/Projects", examine=True)
        res = r.cmd("FETCH 1:* (BODY.PEEK[])")
        assert res.ok(), res
        got = sorted(v["BODY[]"] for v in fetch_map(res.untagged).values())
        assert got == sorted(m.replace(b"\n", b"\r\n") for f, m, _, _, _ in src if f == "Work/Projects")
        r.logout()


def imap_utc(s):
    """'14-Nov-2023 22:13:20 +0100' -> UTC seconds."""
    m = re.match(r"\s*(\d+)-(\w{3})-(\d{4}) (\d\d):(\d\d):(\d\d) ([+-])(\d\d)(\d\d)$", s)
    assert m, s
    t = calendar.timegm(time.strptime("%s-%s-%s %s:%s:%s" % m.groups()[:6], "%d-%b-%Y %H:%M:%S"))
    z = int(m.group(8)) * 3600 + int(m.group(9)) * 60
    return t - z if m.group(7) == "+" else t + z


TRICKY_APPEND = [
    (b"From: a@x.example\r\nSubject: t1\r\n\r\nFrom the start\r\n>From quoted\r\n>>From double\r\n",
     "\\Seen", '"14-Nov-2023 22:13:20 +0100"'),
    (b"Subject: no final newline\r\n\r\nend", "", '"01-Jan-2001 00:00:00 +0000"'),
    (b"Subject: 8bit \xc3\xa9\r\n\r\n\xff\xfe\x80 bytes\r\n", "\\Flagged $Forwarded", '"29-Feb-2024 12:00:00 -0500"'),
    (b"Subject: long\r\n\r\n" + b"y" * 200_000 + b"\r\n", "\\Answered", '"02-Mar-2020 01:02:03 +0000"'),
    (b"Subject: cr alone\r\n\r\na\rb\r\n", "\\Draft", '"03-Mar-2020 01:02:03 +0000"'),
    (b"From someone Tue Nov 14 22:13:20 2023\r\nSubject: starts with a From line\r\n\r\nbody\r\n",
     "Project", '"04-Mar-2020 01:02:03 +0000"'),
    (b"Subject: trailing blank lines\r\n\r\nbody\r\n\r\n\r\n", "\\Deleted \\Seen", '"05-Mar-2020 01:02:03 +0000"'),
    (b"Subject: ends with From\r\n\r\nFrom ", "", '"06-Mar-2020 01:02:03 +0000"'),
]


def fetch_all(srv, user, folder):
    with Raw(srv.host, srv.imap_port, timeout=30) as r:
        r.login(user, USERS[user])
        select(r, folder, examine=True)
        res = r.cmd("FETCH 1:* (FLAGS INTERNALDATE BODY.PEEK[])")
        assert res.ok(), res
        r.logout()
    out = []
    for _, v in sorted(fetch_map(res.untagged).items()):
        out.append((v["BODY[]"], sorted(f for f in v["FLAGS"] if f != "\\Recent"),
                    imap_utc(v["INTERNALDATE"].decode())))
    return out


def test_imap_appended_tricky_bytes_survive_mbox_round_trip(srv, tmp_path):
    with Raw(srv.host, srv.imap_port, timeout=30) as r:
        r.login("rt@example.org", USERS["rt@example.org"])
        assert r.cmd('CREATE "Odd/Bytes"').ok()
        for msg, flags, date in TRICKY_APPEND:
            append(r, "Odd/Bytes", msg, flags=flags, date=date)
        r.logout()
    before = fetch_all(srv, "rt@example.org", "Odd/Bytes")
    assert len(before) == len(TRICKY_APPEND)
    assert before[4][0] == b"Subject: cr alone\r\n\r\na\r\nb\r\n"   # the store's normal form

    out = str(tmp_path / "rt.mbox")
    cli(srv, "export", "rt@example.org", "--format", "mbox", out, user="rt@example.org")
    path = os.path.join(out, "Odd", "Bytes.mbox")
    data = open(path, "rb").read()
    assert b"\r" not in data
    assert b"\n>From the start\n>>From quoted\n>>>From double\n" in data
    assert b"X-Keywords: $Forwarded\n" in data
    # Python's mbox (mboxo rules, like Thunderbird) finds the same messages.
    assert len(mailbox.mbox(path, create=False)) == len(TRICKY_APPEND)

    p = cli(srv, "import", "rt2@example.org", "--format", "mbox", out, user="rt2@example.org")
    assert b"%d added" % len(TRICKY_APPEND) in p.stdout, p.stdout
    after = fetch_all(srv, "rt2@example.org", "Odd/Bytes")
    assert after == before


MBSYNC = shutil.which("mbsync") or "/usr/bin/mbsync"
TUID = re.compile(rb"^X-TUID: [^\r\n]*\r?\n", re.M | re.I)


def mbsync(srv, tmp_path, user, maildir, direction):
    """One mbsync run of every folder between `user` and a Maildir++ tree."""
    rc = str(tmp_path / ("mbsyncrc-" + user.split("@")[0]))
    with open(rc, "w") as f:
        f.write("IMAPAccount a\nHost localhost\nPort %d\nUser %s\nPass \"%s\"\nSSLType IMAPS\n"
                "CertificateFile %s\n\nIMAPStore remote\nAccount a\n\n"
                "MaildirStore local\nInbox %s\nSubFolders Maildir++\n\n"
                "Channel c\nFar :remote:\nNear :local:\nPatterns *\nCreate %s\nSync %s\n"
                "Expunge None\nSyncState *\n"
                % (srv.imaps_port, user, USERS[user], srv.cert, maildir,
                   "Near" if direction == "Pull" else "Far", direction))
    p = subprocess.run([MBSYNC, "-c", rc, "c"], capture_output=True, timeout=120)
    assert p.returncode == 0, p.stdout[-2000:] + p.stderr[-2000:]


def mailbox_state(srv, user):
    """{folder: sorted [(bytes without X-TUID, system flags)]} over IMAP."""
    out = {}
    with Raw(srv.host, srv.imap_port, timeout=30) as r:
        r.login(user, USERS[user])
        res = r.cmd('LIST "" "*"')
        for _, _, n in list_entries(res.of("LIST")):
            n = n.decode()
            assert r.cmd('EXAMINE "%s"' % n).ok()
            res = r.cmd("FETCH 1:* (FLAGS BODY.PEEK[])")
            msgs = []
            for v in fetch_map(res.untagged).values():
                body = v["BODY[]"]
                head, sep, rest = body.partition(b"\r\n\r\n")
                msgs.append((TUID.sub(b"", head + sep, count=1) + rest,
                             tuple(sorted(f for f in v["FLAGS"] if f.startswith("\\") and f != "\\Recent"))))
            if msgs:
                out[n] = sorted(msgs)
        r.logout()
    return out


def test_mbsync_maildirs_come_in_and_our_maildir_goes_out(fresh_server, tmp_path):
    """mbsync (isync 1.4, Maildir++) pulls a mailbox; sealbox imports that Maildir into
    another address: same folders, bytes, flags. sealbox exports it as a Maildir;
    mbsync pushes that into a third address: the same again."""
    assert os.access(MBSYNC, os.X_OK), "mbsync is not installed (apt-get install isync)"
    users = {u: USERS[u] for u in ("md@example.org", "mb@example.org", "rt@example.org")}
    srv = fresh_server(users)
    flags = ["", "\\Seen", "\\Answered \\Seen", "\\Flagged", "\\Draft", "\\Deleted"]
    with Raw(srv.host, srv.imap_port, timeout=30) as r:
        r.login("md@example.org", USERS["md@example.org"])
        for f in ("Work", "Work/Projects"):
            assert r.cmd('CREATE "%s"' % f).ok()
        for i, m in enumerate(messages.corpus(36, 99)):
            append(r, ("INBOX", "Work", "Work/Projects")[i % 3], m, flags=flags[i % len(flags)])
        r.logout()
    want = mailbox_state(srv, "md@example.org")
    assert sum(len(v) for v in want.values()) == 36

    pulled = str(tmp_path / "pulled")
    mbsync(srv, tmp_path, "md@example.org", pulled, "Pull")
    assert os.path.isdir(os.path.join(pulled, ".Work.Projects", "cur"))
    p = cli(srv, "import", "mb@example.org", "--format", "maildir", pulled, user="mb@example.org")
    assert b"36 added" in p.stdout, p.stdout
    assert mailbox_state(srv, "mb@example.org") == want

    exported = str(tmp_path / "exported")
    cli(srv, "export", "mb@example.org", "--format", "maildir", exported, user="mb@example.org")
    mbsync(srv, tmp_path, "rt@example.org", exported, "Push")
    assert mailbox_state(srv, "rt@example.org") == want


def test_refusals_name_what_is_wrong(srv, tmp_path):
    out = tmp_path / "full"
    out.mkdir()
    (out / "x").write_bytes(b"x")
    p = cli(srv, "export", "md@example.org", "--format", "mbox", str(out), user="md@example.org", check=False)
    assert p.returncode == 1 and b"not empty" in p.stderr, p.stderr
    assert os.listdir(str(out)) == ["x"]

    bad = tmp_path / "bad.mbox"
    bad.write_bytes(b"\nSubject: hello\n\nbody\n")
    p = cli(srv, "import", "md@example.org", "--format", "mbox", str(bad), user="md@example.org", check=False)
    assert p.returncode == 1 and (b"%s:2: not an mbox file" % str(bad).encode()) in p.stderr, p.stderr

    p = cli(srv, "import", "md@example.org", "--format", "eml-zip", str(bad), check=False)
    assert p.returncode == 2 and b"--format is mbox or maildir" in p.stderr, p.stderr
    p = cli(srv, "export", "md@example.org", "--format", "mbox", str(tmp_path / "n"),
            user=None, check=False)          # no password on stdin
    assert p.returncode == 1
    assert not os.path.exists(str(tmp_path / "n"))
    p = cli(srv, "export", "--help")
    assert p.returncode == 0 and b"--format mbox|maildir|eml-zip" in p.stdout


def test_import_killed_midway_then_run_again_has_every_message_once(srv, tmp_path):
    """Import writes batches (one transaction each): kill -9 in the middle loses at
    most the batch being written, and the next run adds exactly what is missing."""
    src = [("INBOX", m, "S" if i % 3 else "", frozenset(), 1600000000 + i)
           for i, m in enumerate(m.replace(b"\r\n", b"\n") for m in messages.corpus(1500, 9))]
    want = canon(src)
    write_maildir(str(tmp_path / "src.maildir"), src)
    user = "md@example.org"
    cmd = [srv.sealbox, "-d", srv.dir, "import", user, "--format", "maildir", str(tmp_path / "src.maildir")]
    p = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=srv.env)
    p.stdin.write((srv.users[user] + "\n").encode())
    p.stdin.close()
    # Kill once the files have grown by two batches' worth (a batch of 256 of these
    # messages writes ~8 MB: file, index and WAL): the first is then committed
    # for sure. Growth alone is no proof: a COMMIT writes its WAL frames before
    # the fsync that makes it one (a kill at 3 MiB once hit that window).
    mbdir = os.path.join(srv.dir, "mailboxes")

    def size():
        return sum(os.path.getsize(os.path.join(mbdir, f)) for f in os.listdir(mbdir))
    start = size()
    deadline = time.monotonic() + 120
    while p.poll() is None and time.monotonic() < deadline:
        if size() - start > 16 * 1024 * 1024:
            break
        time.sleep(0.01)
    killed = p.poll() is None
    if killed:
        p.kill()
    p.wait()
    p.stdout.close()
    p.stderr.close()
    p = cli(srv, "import", user, "--format", "maildir", str(tmp_path / "src.maildir"), user=user)
    m = re.search(rb"(\d+) added, (\d+) already present, 0 skipped", p.stdout)
    assert m and int(m.group(1)) + int(m.group(2)) == len(src), p.stdout
    assert killed, "the import ended before it was killed: make the source larger"
    assert int(m.group(2)) > 0 and int(m.group(1)) > 0, "the kill came before or after the import: %r" % p.stdout
    got = canon(read_maildir_export(srv, user, tmp_path))
    assert got == want, diff_hint(want, got)


def read_maildir_export(srv, user, tmp_path):
    out = str(tmp_path / "after-kill.maildir")
    cli(srv, "export", user, "--format", "maildir", out, user=user)
    return read_maildir(out)
