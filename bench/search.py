#!/usr/bin/python3
"""
bench/search.py — SEARCH / SORT / THREAD speed: Sealbox vs Dovecot on one large
mailbox, side by side, in one run.

What it offers: `bench/search.py [--quick] [--messages N] [--build DIR] [--reps R]
[--keep]` (as root, loopback only):
  1. generates a deterministic corpus of N messages (seed 1; default 100,000,
     --quick 20,000) as a Maildir: sentences of a built-in vocabulary of 3,000
     pseudo-English words drawn with a Zipf distribution, rare marker words planted in
     known messages, varied From/To/Subject (some RFC 2047 encoded words), dates over
     three years (mtime = internal date), 30 % without \\Seen, text/plain,
     multipart/alternative, HTML-only and multipart/mixed with base64 text and binary
     attachments, reply threads (In-Reply-To/References);
  2. loads the same files into both servers: Sealbox with `sealbox import --format
     maildir`; a private Dovecot (bench/run's configuration, no FTS plugin: its
     default) gets a copy of the Maildir, then a first SELECT and a FETCH of every
     message's UID and Message-ID build its index (both load times are reported);
  3. on an already selected INBOX of each server (plain IMAP on loopback, one
     connection each; before each server's runs of a query the run waits until
     neither server's processes use CPU, so one's deferred work is not timed as
     the other's) runs each query
     once ("first") and then R more times ("warm", p50), alternating servers;
  4. verifies every answer: both servers must return the same messages (compared
     by Message-ID, so UID numbering does not matter) and, where the generator knows
     it, the expected set; a wrong answer is a failure in the table, however fast;
  5. prints a Markdown table and writes it to bench/results/<date>-search[-N].md
     with bench/run's machine description (including the load average at start).

What it promises: the same N gives byte-identical mail on every run (only
random.Random with fixed seeds); every process it starts is stopped on exit, error
and Ctrl-C/SIGTERM (bench/run's cleanup; the servers get PR_SET_PDEATHSIG); the temp
dir is removed unless --keep.

How it fails: a setup step that fails stops the run with a message (after cleanup)
and exit status 1; a NO/BAD or a wrong answer to a query is reported in the table
and below it, and the exit status is then 1.
"""
import argparse
import atexit
import base64
import bisect
import datetime
import os
import random as random_mod
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.dont_write_bytecode = True


import runlib  # noqa: E402  (bench/, this script's directory, is on sys.path)

R = runlib.load()
import imapload  # noqa: E402  (bench/run put bench/ on sys.path)

USER = "search@" + R.DOMAIN
log = R.log
FULL_MESSAGES = 100000
QUICK_MESSAGES = 20000

# --- the corpus ----------------------------------------------------------------------

# Fixed strings every message (or many) carries in header names, structure and
# markup. A query term must not be a substring of any of them, so "contains the
# term" means the same whether a server matches field names and tags or not.
BOILERPLATE = ("from to cc subject date message-id in-reply-to references mime-version "
               "content-type content-transfer-encoding content-disposition text plain html "
               "multipart alternative mixed boundary charset utf-8 us-ascii base64 7bit "
               "application octet-stream attachment filename name notes.txt data.bin "
               "<html><head></head><body><p></p></body></html> re: fwd: mon tue wed thu fri sat sun "
               "jan feb mar apr may jun jul aug sep oct nov dec +0000 mid.bench corpus bench test "
               "example.com example.org example.net mail.test").split()

MARKERS = {  # planted marker -> number of messages carrying it (letters the vocabulary never uses)
    "zqxjolt": 12,   # the "rare word": bodies of every kind, and two subjects
    "xqzvemb": 40,
}
UTF8_SUBJ = "Grüße"      # in encoded-word subjects
UTF8_NAME = "Müller"     # in encoded-word From display names


def make_vocab(n=3000):
    """n distinct lowercase pseudo-words (3..10 letters, no q/x/z), most frequent first."""
    rng = random_mod.Random(7)
    onsets = "b c d f g h j k l m n p r s t v w br cr dr fl gr pl pr st tr sh ch th sp".split()
    vowels = "a e i o u ai ea ou io".split()
    codas = ["", "", "n", "r", "l", "s", "t", "nd", "rk", "st", "m", "ng"]
    seen, out = set(), []
    while len(out) < n:
        w = "".join(rng.choice(onsets) + rng.choice(vowels) for _ in range(rng.choice((1, 2, 2, 3)))) + rng.choice(codas)
        if 3 <= len(w) <= 10 and w not in seen:
            seen.add(w)
            out.append(w)
    return out


VOCAB = make_vocab()
# Zipf (s = 1.07) by rank: cumulative weights for bisect.
_CUM = []
_acc = 0.0
for _r in range(len(VOCAB)):
    _acc += 1.0 / (_r + 1) ** 1.07
    _CUM.append(_acc)


def clean_term(t):
    return not any(t in b for b in BOILERPLATE)


def pick_word(rank_from, length=None):
    for w in VOCAB[rank_from:]:
        if clean_term(w) and (length is None or len(w) >= length):
            return w
    raise SystemExit("no clean word")


COMMON = pick_word(25)                 # a frequent word (in about half the messages)
MIDWORD = pick_word(150, 6)            # a mid-frequency word
SUBJWORD = pick_word(40, 5)            # for SUBJECT
ORWORD = pick_word(400, 6)
TRIGRAM = next(w[1:4] for w in VOCAB[60:] if len(w) >= 5 and clean_term(w[1:4]))  # inside words


class Gen:
    """The generator: writes message k (k = chronological order) and keeps what the
    expected answers need."""

    def __init__(self, n, seed=1):
        self.n = n
        self.rng = random_mod.Random(seed)
        rng = self.rng
        self.start = datetime.datetime(2023, 1, 2, tzinfo=datetime.timezone.utc)
        # Internal dates on 3 * 365 days, 06:00..18:00 UTC only (a server's local time
        # zone cannot move a message across a day for SINCE/BEFORE), strictly rising with k.
        self.perday = -(-n // (3 * 365))
        self.spacing = (12 * 3600) // self.perday
        # Senders: 1,500 people, Zipf-ish too; some display names encoded.
        first = [w.capitalize() for w in VOCAB[1000:1300]]
        last = [w.capitalize() for w in VOCAB[1300:1700]]
        doms = ["example.com", "example.org", "example.net", "mail.test"]
        self.people = []
        for i in range(1500):
            f, la = rng.choice(first), rng.choice(last)
            if i % 50 == 7:
                la = UTF8_NAME
            addr = "%s.%s%d@%s" % (f.lower(), la.lower().replace("ü", "ue"), i, rng.choice(doms))
            self.people.append((f + " " + la, addr))
        self.pcum, acc = [], 0.0
        for r in range(len(self.people)):
            acc += 1.0 / (r + 1)
            self.pcum.append(acc)
        # Marker placement: known messages.
        self.marked = {}
        for word, cnt in MARKERS.items():
            for k in rng.sample(range(n), min(cnt, n)):
                self.marked.setdefault(k, []).append(word)
        # File name and internal date order (= UID order on both servers) is a
        # permutation of the Date: order, so SORT (DATE) has real work to do.
        self.pos = list(range(n))
        rng.shuffle(self.pos)
        self.meta = []   # per k: (subject base lower, from lower, seen, date)

    def date_at(self, j):
        dayi, slot = divmod(j, self.perday)
        return self.start + datetime.timedelta(days=dayi, seconds=6 * 3600 + slot * self.spacing +
                                               (j * 7919) % max(1, self.spacing // 2))

    def words(self, count):
        rng = self.rng
        u = rng.random
        top = _CUM[-1]
        return [VOCAB[bisect.bisect_left(_CUM, u() * top)] for _ in range(count)]

    def sentences(self, nwords):
        out, ws = [], self.words(nwords)
        i = 0
        while i < len(ws):
            ln = self.rng.randint(6, 15)
            s = ws[i:i + ln]
            s[0] = s[0].capitalize()
            out.append(" ".join(s) + ".")
            i += ln
        return out

    @staticmethod
    def wrap(sents, width=72):
        lines, cur = [], ""
        for w in " ".join(sents).split(" "):
            if cur and len(cur) + 1 + len(w) > width:
                lines.append(cur)
                cur = w
            else:
                cur = cur + " " + w if cur else w
        if cur:
            lines.append(cur)
        return lines

    def person(self):
        return self.people[bisect.bisect_left(self.pcum, self.rng.random() * self.pcum[-1])]

    @staticmethod
    def enc(s):
        return "=?UTF-8?B?%s?=" % base64.b64encode(s.encode()).decode()

    def message(self, k):
        """(bytes with LF line ends, maildir flags, internal date epoch, searchable text lower)"""
        rng = self.rng
        date = self.date_at(k)            # Date: (sent date), rising with k
        idate = self.date_at(self.pos[k])  # internal date (mtime): rising with the file name
        fname, faddr = self.person()
        tname, taddr = self.person()
        marks = self.marked.get(k, [])
        # Threads: 30 % reply to a recent earlier message.
        parent = None
        if k > 0 and rng.random() < 0.3:
            parent = max(0, k - 1 - int(rng.expovariate(1 / 200.0)))
        if parent is not None:
            base = self.meta[parent][4]
            subj = ("Re: " if rng.random() < 0.85 else "Fwd: ") + base
        else:
            base = " ".join(self.words(rng.randint(3, 7))).capitalize()
            if k % 97 == 5:
                base = UTF8_SUBJ + " " + base
            if "zqxjolt" in marks and k % 2 == 0:
                base = base + " zqxjolt"
            subj = base
        has_utf8 = any(ord(c) > 127 for c in subj)
        hdr = []
        disp = fname if all(ord(c) < 128 for c in fname) else self.enc(fname)
        hdr.append("From: %s <%s>" % (disp, faddr))
        hdr.append("To: %s <%s>" % (tname if all(ord(c) < 128 for c in tname) else self.enc(tname), taddr))
        hdr.append("Subject: %s" % (self.enc(subj) if has_utf8 else subj))
        hdr.append("Date: %s" % date.strftime("%a, %d %b %Y %H:%M:%S +0000"))
        hdr.append("Message-ID: <c%07d@mid.bench>" % k)
        refs = []
        if parent is not None:
            refs = self.meta[parent][5] + ["<c%07d@mid.bench>" % parent]
            hdr.append("In-Reply-To: <c%07d@mid.bench>" % parent)
            hdr.append("References: %s" % " ".join(refs[-10:]))
        hdr.append("MIME-Version: 1.0")
        # Body size: mostly short, a few long.
        r = rng.random()
        nw = rng.randint(20, 200) if r < 0.7 else rng.randint(200, 800) if r < 0.95 else rng.randint(800, 3000)
        sents = self.sentences(nw)
        body_words = list(marks)
        if marks and "zqxjolt" in marks and k % 2 == 0 and parent is None:
            body_words = [m for m in marks if m != "zqxjolt"]   # that one is in the subject
        for m in body_words:
            i = rng.randrange(len(sents))
            sents[i] = sents[i][:-1] + " " + m + "."
        text = "\n".join(self.wrap(sents))
        hay = [fname, faddr, tname, taddr, subj, text]
        kind = rng.random()
        bnd = "=_b%07d" % k
        if kind < 0.6:
            hdr.append("Content-Type: text/plain; charset=us-ascii")
            body = text
        elif kind < 0.75:
            html = self.html(sents)
            hdr.append('Content-Type: multipart/alternative; boundary="%s"' % bnd)
            body = "\n".join(["--" + bnd, "Content-Type: text/plain; charset=us-ascii", "", text,
                              "--" + bnd, "Content-Type: text/html; charset=us-ascii", "", html, "--" + bnd + "--", ""])
        elif kind < 0.85:
            hdr.append("Content-Type: text/html; charset=us-ascii")
            body = self.html(sents)
        else:
            att = self.sentences(rng.randint(50, 400))
            amark = []
            if marks and rng.random() < 0.5:   # move the marker into the base64 attachment
                amark = body_words
                for m in amark:
                    text = text.replace(" " + m + ".", ".")
                    att[0] = att[0][:-1] + " " + m + "."
                hay[5] = text
            atext = "\n".join(self.wrap(att)) + "\n"
            hay.append(atext)
            parts = ["--" + bnd, "Content-Type: text/plain; charset=us-ascii", "", text,
                     "--" + bnd, 'Content-Type: text/plain; charset=utf-8; name="notes.txt"',
                     "Content-Transfer-Encoding: base64", 'Content-Disposition: attachment; filename="notes.txt"', "",
                     self.b64(atext.replace("\n", "\r\n").encode())]
            if rng.random() < 0.5:
                # Bytes that can never form a letter (0x80..0xff, controls), so no
                # substring query can hit inside the binary part.
                blob = bytes(rng.choice(range(0x80, 0x100)) for _ in range(rng.randint(500, 6000)))
                parts += ["--" + bnd, 'Content-Type: application/octet-stream; name="data.bin"',
                          "Content-Transfer-Encoding: base64", 'Content-Disposition: attachment; filename="data.bin"',
                          "", self.b64(blob)]
            parts += ["--" + bnd + "--", ""]
            hdr.append('Content-Type: multipart/mixed; boundary="%s"' % bnd)
            body = "\n".join(parts)
        msg = ("\n".join(hdr) + "\n\n" + body + "\n").encode()
        seen = rng.random() >= 0.3
        flags = ("F" if rng.random() < 0.05 else "") + ("S" if seen else "")
        self.meta.append((fname.lower(), faddr.lower(), subj.lower(), seen, base, refs[-10:] if refs else [],
                          idate, msg.count(b"\n") + len(msg)))
        return msg, flags, idate, "\n".join(hay).lower(), "\n".join(hay[5:]).lower()

    @staticmethod
    def html(sents):
        return "<html><head></head><body>\n" + "\n".join("<p>%s</p>" % s for s in sents) + "\n</body></html>"

    @staticmethod
    def b64(data):
        s = base64.b64encode(data).decode()
        return "\n".join(s[i:i + 76] for i in range(0, len(s), 76))


def day(s):
    return datetime.datetime.strptime(s, "%d-%b-%Y").date()


def queries():
    """(label, IMAP command after the tag, UTF-8 literal or None, kind, predicate on
    (k, meta, text of header values and bodies, text of the bodies) or None when only
    the two servers are compared)."""
    since, before = "1-Mar-2024", "1-Apr-2024"
    d0, d1 = day(since), day(before)
    q = [
        ("SEARCH TEXT rare word (zqxjolt)", "SEARCH TEXT zqxjolt", None, "search",
         lambda k, m, h, b: "zqxjolt" in h),
        ("UID SEARCH TEXT rare word", "UID SEARCH TEXT zqxjolt", None, "uid", lambda k, m, h, b: "zqxjolt" in h),
        ("SEARCH TEXT common word (%s)" % COMMON, "SEARCH TEXT %s" % COMMON, None, "search",
         lambda k, m, h, b: COMMON in h),
        ("SEARCH BODY mid-frequency word (%s)" % MIDWORD, "SEARCH BODY %s" % MIDWORD, None, "search",
         lambda k, m, h, b: MIDWORD in b),
        ("SEARCH TEXT 3-letter substring (%s)" % TRIGRAM, "SEARCH TEXT %s" % TRIGRAM, None, "search",
         lambda k, m, h, b: TRIGRAM in h),
        ("SEARCH FROM address", "FROM", None, "search", "from"),
        ("SEARCH FROM UTF-8 name (%s)" % UTF8_NAME, "SEARCH CHARSET UTF-8 FROM", UTF8_NAME, "search",
         lambda k, m, h, b: UTF8_NAME.lower() in m[0]),
        ("SEARCH SUBJECT word (%s)" % SUBJWORD, "SEARCH SUBJECT %s" % SUBJWORD, None, "search",
         lambda k, m, h, b: SUBJWORD in m[2]),
        ("SEARCH SUBJECT UTF-8 (%s)" % UTF8_SUBJ, "SEARCH CHARSET UTF-8 SUBJECT", UTF8_SUBJ, "search",
         lambda k, m, h, b: UTF8_SUBJ.lower() in m[2]),
        ("SEARCH SINCE %s BEFORE %s" % (since, before), "SEARCH SINCE %s BEFORE %s" % (since, before), None, "search",
         lambda k, m, h, b: d0 <= m[6].date() < d1),
        ("SEARCH UNSEEN", "SEARCH UNSEEN", None, "search", lambda k, m, h, b: not m[3]),
        ("SEARCH UNSEEN SINCE .. TEXT word", "SEARCH UNSEEN SINCE %s TEXT %s" % (since, MIDWORD), None, "search",
         lambda k, m, h, b: (not m[3]) and m[6].date() >= d0 and MIDWORD in h),
        ("SEARCH OR SUBJECT a FROM b", "OR", None, "search", "or"),
        ("SEARCH NOT TEXT common word", "SEARCH NOT TEXT %s" % COMMON, None, "search",
         lambda k, m, h, b: COMMON not in h),
        ("SEARCH OR (UNSEEN TEXT a) (NOT SEEN BODY b)",
         "SEARCH OR (UNSEEN TEXT %s) (NOT SEEN BODY %s)" % (ORWORD, MIDWORD), None, "search",
         lambda k, m, h, b: not m[3] and (ORWORD in h or MIDWORD in b)),
        ("SEARCH LARGER 20000", "SEARCH LARGER 20000", None, "search", lambda k, m, h, b: m[7] > 20000),
        ("SORT (DATE)", "SORT (DATE) UTF-8 ALL", None, "sort", "date"),
        ("SORT (REVERSE DATE) UNSEEN", "SORT (REVERSE DATE) UTF-8 UNSEEN", None, "sort", "rdate-unseen"),
        ("SORT (SUBJECT)", "SORT (SUBJECT) UTF-8 ALL", None, "sort", "subject"),
        ("SORT (FROM) TEXT word", "SORT (FROM) UTF-8 TEXT %s" % MIDWORD, None, "sort", "from-text"),
        ("THREAD REFERENCES", "THREAD REFERENCES UTF-8 ALL", None, "thread", None),
        ("THREAD REFERENCES SINCE ..", "THREAD REFERENCES UTF-8 SINCE %s" % since, None, "thread", None),
    ]
    return q


# --- loading ---------------------------------------------------------------------------

def write_corpus(gen, qs, maildir):
    """Writes the Maildir; returns {query index: set of k} for the predicates, the set
    of messages containing MIDWORD, and the octets written."""
    for sub in ("cur", "new", "tmp"):
        os.makedirs(os.path.join(maildir, sub))
    expect = {i: set() for i, q in enumerate(qs) if callable(q[4])}
    textmid = set()   # TEXT MIDWORD, for SORT (FROM) TEXT MIDWORD
    preds = [(i, q[4]) for i, q in enumerate(qs) if callable(q[4])]
    octets = 0
    for k in range(gen.n):
        msg, flags, date, hay, body = gen.message(k)
        m = gen.meta[k]
        for i, p in preds:
            if p(k, m, hay, body):
                expect[i].add(k)
        if MIDWORD in hay:
            textmid.add(k)
        # The file name sorts in UID order (both servers take new files sorted).
        path = os.path.join(maildir, "cur", "1700000000.M%07dP1.bench:2,%s" % (gen.pos[k], flags))
        with open(path, "wb") as f:
            f.write(msg)
        t = date.timestamp()
        os.utime(path, (t, t))
        octets += len(msg)
        if k and k % 20000 == 0:
            log("corpus: %d messages" % k)
    return expect, textmid, octets


def sort_key_subject(base):
    b = base
    while True:  # RFC 5256 base subject for what the generator writes (Re:/Fwd: once)
        lb = b.lower()
        if lb.startswith("re: "):
            b = b[4:]
        elif lb.startswith("fwd: "):
            b = b[5:]
        else:
            break
    return bytes(c - 32 if 97 <= c <= 122 else c for c in b.encode())


# --- IMAP ------------------------------------------------------------------------------

MID_RE = re.compile(rb"<c(\d{7})@mid\.bench>", re.I)


def connect(port):
    c = imapload.Client("127.0.0.1", port, False)
    c.ok(b"LOGIN %s %s" % (imapload.q(USER), imapload.q(R.PASSWORD)))
    return c


def load_map(c):
    """SELECT (timed) and the seq/UID -> k maps from every message's Message-ID (timed)."""
    t0 = time.monotonic()
    un, _ = c.ok(b"SELECT INBOX")
    t_sel = time.monotonic() - t0
    t0 = time.monotonic()
    un, _ = c.ok(b"FETCH 1:* (UID BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)])")
    t_fetch = time.monotonic() - t0
    seq, uid = {}, {}
    for r in un:
        m = re.match(rb"\* (\d+) FETCH .*?UID (\d+)", r.text, re.S)
        if not m:
            continue
        mid = MID_RE.search(b"".join(r.lits))
        if mid:
            seq[int(m.group(1))] = int(mid.group(1))
            uid[int(m.group(2))] = int(mid.group(1))
    return t_sel, t_fetch, seq, uid


def parse_thread(s):
    """'(1 2)(3 (4)(5))' -> nested lists of ints."""
    stack, cur, num = [], [], ""
    for ch in s:
        if ch.isdigit():
            num += ch
            continue
        if num:
            cur.append(int(num))
            num = ""
        if ch == "(":
            stack.append(cur)
            cur = []
        elif ch == ")":
            done = cur
            cur = stack.pop()
            cur.append(done)
    return cur


def answer(kind, untagged, seq, uid):
    """The answer as message identities (k): a frozenset for SEARCH, a list for SORT,
    a nested list for THREAD; unknown numbers map to -n."""
    mp = uid if kind == "uid" else seq
    word = {"search": b"SEARCH", "uid": b"SEARCH", "sort": b"SORT", "thread": b"THREAD"}[kind]
    nums, text = [], ""
    for r in untagged:
        t = r.text.rstrip(b"\r\n")
        if t.upper().startswith(b"* " + word):
            if kind == "thread":
                text += t[len(word) + 2:].decode()
            else:
                nums += [int(x) for x in t[len(word) + 2:].split() if x.isdigit()]
    if kind == "thread":
        def conv(t):
            return [conv(x) if isinstance(x, list) else mp.get(x, -x) for x in t]
        return conv(parse_thread(text))
    ks = [mp.get(n, -n) for n in nums]
    return ks if kind == "sort" else frozenset(ks)


def flat(t):
    for x in t:
        if isinstance(x, list):
            yield from flat(x)
        else:
            yield x


def thread_groups(t):
    return frozenset(frozenset(flat([x])) for x in t)


def run_query(c, cmd, lit, kind, seq, uid):
    t0 = time.monotonic()
    st, un, tl = c.cmd(cmd.encode(), lit.encode() if lit else None)
    dt = time.monotonic() - t0
    if st != "OK":
        return dt, None, tl.decode("utf-8", "replace").strip()[:160]
    return dt, answer(kind, un, seq, uid), None


# --- the run ---------------------------------------------------------------------------

def setup_servers(root, build, maildir):
    res = {}
    sb = R.setup_sealbox(root, build, [USER])
    cli = os.path.join(build, "sealbox")
    log("Sealbox: importing")
    t0 = time.monotonic()
    # Popen in R.PROCS (not R.sh), so a SIGTERM/Ctrl-C of the run stops the import too.
    p = subprocess.Popen([cli, "-d", sb["data"], "import", USER, "--format", "maildir", maildir],
                         stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=open(sb["dir"] + "/import.err", "wb"),
                         env=sb["env"], preexec_fn=R.die_with_parent)
    R.PROCS.append(p)
    p.stdin.write((R.PASSWORD + "\n").encode())
    p.stdin.close()
    while p.poll() is None:   # not p.wait(): the signal handler's cleanup must be able to wait for it
        time.sleep(0.2)
    R.PROCS.remove(p)
    if p.returncode != 0:
        raise SystemExit("sealbox import failed (%d): %s" % (
            p.returncode, open(sb["dir"] + "/import.err", "rb").read()[-1500:].decode("utf-8", "replace")))
    res["sb_import"] = time.monotonic() - t0
    log("Sealbox: import %.1f s" % res["sb_import"])
    dv = R.setup_dovecot(root, "dovecot", [USER], False, os.path.join(sb["data"], "tls"), 100)
    home = os.path.join(dv["dir"], "home", USER)
    log("Dovecot: copying the Maildir")
    t0 = time.monotonic()
    shutil.copytree(maildir, os.path.join(home, "Maildir"))   # copy2 keeps the mtimes
    for dp, dns, fns in os.walk(os.path.join(home, "Maildir")):
        os.chown(dp, R.MAIL_UID, R.MAIL_UID)
        for fn in fns:
            os.chown(os.path.join(dp, fn), R.MAIL_UID, R.MAIL_UID)
    res["dv_copy"] = time.monotonic() - t0
    R.start_sealbox(sb)
    R.start_dovecot(dv)
    R.wait_port(dv["imap"], dv["proc"], "dovecot")
    R.wait_port(sb["imap"], sb["proc"], "sealboxd")
    return sb, dv, res


def settle(srvs, quiet=0.3, limit=10.0):
    """Waits until no server's processes used CPU for `quiet` seconds (at most
    `limit`): work one server does after its answer (Dovecot updates its cache
    files) must not be timed as the other's. Returns the seconds waited."""
    t0 = time.monotonic()
    last = [R.cpu_seconds(s["proc"].pid) for s in srvs]
    while time.monotonic() - t0 < limit:
        time.sleep(quiet)
        now = [R.cpu_seconds(s["proc"].pid) for s in srvs]
        if all(n - l < 0.02 for n, l in zip(now, last)):
            break
        last = now
    return time.monotonic() - t0


def pct50(v):
    return statistics.median(v) if v else float("nan")


def main():
    ap = argparse.ArgumentParser(description="SEARCH/SORT/THREAD speed: Sealbox vs Dovecot on one large mailbox")
    ap.add_argument("--build", default=os.environ.get("O", "build"), help="Sealbox build dir (default $O or build)")
    ap.add_argument("--messages", type=int, help="messages in the mailbox (default %d; --quick %d)" % (
        FULL_MESSAGES, QUICK_MESSAGES))
    ap.add_argument("--quick", action="store_true", help="%d messages" % QUICK_MESSAGES)
    ap.add_argument("--reps", type=int, default=5, help="warm runs per query and server (default 5; fewer "
                    "when a query takes long: at most ~30 s of warm runs per query and server)")
    ap.add_argument("--keep", action="store_true", help="keep the temp dir (Maildir, configs, logs)")
    ap.add_argument("--note", default="", help="a sentence added under the table")
    a = ap.parse_args()
    n = a.messages or (QUICK_MESSAGES if a.quick else FULL_MESSAGES)
    if os.geteuid() != 0:
        raise SystemExit("bench/search.py must run as root (Dovecot drops privileges)")
    build = a.build if os.path.isabs(a.build) else os.path.join(REPO, a.build)
    for b in ("sealboxd", "sealbox"):
        if not os.access(os.path.join(build, b), os.X_OK):
            raise SystemExit("%s/%s missing: make O=%s all" % (build, b, a.build))
    atexit.register(R.cleanup)
    signal.signal(signal.SIGINT, R.on_signal)
    signal.signal(signal.SIGTERM, R.on_signal)
    started = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    R.ensure_dovecot()
    mach = R.machine()   # load average before the run adds its own
    imapload.TIMEOUT = 900   # a slow query is measured, not cut off
    R.TMP[0] = tempfile.mkdtemp(prefix="sealbox-bench-search.")
    R.TMP[1] = not a.keep
    os.chmod(R.TMP[0], 0o755)
    log("work dir %s" % R.TMP[0])

    gen = Gen(n)
    qs = queries()
    # The sender queries need a frequent sender and a subject word: fixed by the generator.
    fp = gen.people[3]
    faddr = fp[1]
    for i, q in enumerate(qs):
        if q[4] == "from":
            qs[i] = ("SEARCH FROM address (rank-4 sender)", "SEARCH FROM %s" % faddr, None, "search",
                     lambda k, m, h, b: faddr in m[1])
        elif q[4] == "or":
            qs[i] = ("SEARCH OR SUBJECT a FROM b", "SEARCH OR SUBJECT %s FROM %s" % (ORWORD, faddr), None, "search",
                     lambda k, m, h, b: ORWORD in m[2] or faddr in m[1])
    maildir = os.path.join(R.TMP[0], "Maildir")
    log("corpus: generating %d messages" % n)
    t0 = time.monotonic()
    expect, textmid, octets = write_corpus(gen, qs, maildir)
    log("corpus: %d messages, %.1f MB, %.1f s" % (n, octets / 1e6, time.monotonic() - t0))
    # Orders the generator knows: SORT (DATE) is chronological = k; SORT (SUBJECT)
    # by base subject (ties in sequence order, which differs per server: compared as
    # the list of keys).
    subj_key = [sort_key_subject(m[4]) for m in gen.meta]
    exp_sort = {"date": list(range(n)),
                "rdate-unseen": [k for k in range(n - 1, -1, -1) if not gen.meta[k][3]],
                # RFC 5256: FROM sorts by the addr-mailbox (local part), i;ascii-casemap;
                # ties in sequence order (= file name order = gen.pos).
                "from-text": sorted(textmid, key=lambda k: (gen.meta[k][1].split("@")[0].upper(), gen.pos[k]))}

    sb, dv, lt = setup_servers(R.TMP[0], build, maildir)
    conns, maps, loadt = {}, {}, {}
    for name, srv in (("Sealbox", sb), ("Dovecot", dv)):
        c = connect(srv["imap"])
        t_sel, t_fetch, seq, uid = load_map(c)
        conns[name], maps[name], loadt[name] = c, (seq, uid), (t_sel, t_fetch)
        log("%s: SELECT %.2f s, FETCH of %d Message-IDs %.2f s" % (name, t_sel, len(seq), t_fetch))
        if len(seq) != n:
            raise SystemExit("%s holds %d messages, expected %d" % (name, len(seq), n))

    rows, errors = [], []
    rseq = {name: {k: q for q, k in maps[name][0].items()} for name in maps}
    same_order = rseq["Sealbox"] == rseq["Dovecot"]
    log("sequence numbers of the two servers are %s" % ("the same" if same_order else "DIFFERENT"))
    for i, (label, cmd, lit, kind, pred) in enumerate(qs):
        r = {}
        for name in ("Sealbox", "Dovecot"):
            c = conns[name]
            seq, uid = maps[name]
            settle((sb, dv))
            dt, ans, err = run_query(c, cmd, lit, kind, seq, uid)
            warm = []
            budget = time.monotonic() + 30
            for _ in range(a.reps):
                if time.monotonic() > budget and len(warm) >= 1:
                    break
                dt2, ans2, err2 = run_query(c, cmd, lit, kind, seq, uid)
                warm.append(dt2)
                if err2 or ans2 != ans:
                    err = err or err2 or "answer changed between runs"
            r[name] = dict(first=dt, warm=pct50(warm), nwarm=len(warm), ans=ans, err=err)
        S, D = r["Sealbox"], r["Dovecot"]
        verdict, notes = [], []
        for name in ("Sealbox", "Dovecot"):
            if r[name]["err"]:
                notes.append("%s: %s" % (name, r[name]["err"]))
        if not notes:
            if kind in ("search", "uid"):
                same = S["ans"] == D["ans"]
                cnt = len(S["ans"])
            elif kind == "sort":
                same = S["ans"] == D["ans"]
                if pred == "subject":   # ties may be in a different (sequence) order
                    same = [subj_key[k] for k in S["ans"]] == [subj_key[k] for k in D["ans"]] and \
                        sorted(S["ans"]) == sorted(D["ans"])
                cnt = len(S["ans"])
            else:
                same = S["ans"] == D["ans"]
                if not same and thread_groups(S["ans"]) == thread_groups(D["ans"]):
                    same = "same threads, different order"
                cnt = len(S["ans"])
            exp = None
            if callable(pred):
                exp = expect[i]
            elif pred in exp_sort:
                exp = exp_sort[pred]
            elif pred == "subject":
                exp = sorted(subj_key)
            exp_ok = {}
            for name in ("Sealbox", "Dovecot"):
                got = r[name]["ans"]
                if exp is None:
                    continue
                if pred == "subject":
                    ok = [subj_key[k] for k in got] == exp
                else:
                    ok = got == exp if isinstance(exp, list) else set(got) == exp
                exp_ok[name] = ok
                if not ok:
                    g = set(got) if not isinstance(got, list) else set(got)
                    e = set(exp) if isinstance(exp, list) else exp
                    if isinstance(exp, list) and pred == "subject":
                        e = set(range(n))
                    notes.append("%s: %d answers, expected %d (%d missing, %d extra)" % (
                        name, len(got), len(exp), len(e - g), len(g - e)))
            if same is True and all(exp_ok.values()):
                verdict = "yes" + (" (= expected)" if exp_ok else "")
            elif same is True:
                verdict = "equal, NOT as expected"
            elif same:
                verdict = same
            else:
                verdict = "**NO**"
                if not notes:
                    sa = set(flat(S["ans"])) if kind == "thread" else set(S["ans"])
                    da = set(flat(D["ans"])) if kind == "thread" else set(D["ans"])
                    notes.append("Sealbox %d vs Dovecot %d answers; %d only Sealbox, %d only Dovecot" % (
                        len(sa), len(da), len(sa - da), len(da - sa)))
                    if kind == "sort" and sa == da:
                        at = next(j for j, (x, y) in enumerate(zip(S["ans"], D["ans"])) if x != y)
                        notes.append("same set, order differs from position %d: Sealbox has message %d "
                                     "(From %s, sequence %d), Dovecot message %d (From %s, sequence %d)" % (
                                         at + 1, S["ans"][at], gen.meta[S["ans"][at]][1], rseq["Sealbox"][S["ans"][at]],
                                         D["ans"][at], gen.meta[D["ans"][at]][1], rseq["Dovecot"][D["ans"][at]]))
        else:
            verdict, cnt = "**FAILED**", None
        if notes:
            errors.append("%s: %s" % (label, "; ".join(notes)))
        rows.append((label, cmd + (" {%s}" % lit if lit else ""), S, D, cnt, verdict))
        log("%-45s Sealbox %8.1f ms (first %8.1f)  Dovecot %8.1f ms (first %8.1f)  %s" % (
            label[:45], S["warm"] * 1000, S["first"] * 1000, D["warm"] * 1000, D["first"] * 1000, verdict))
        for e in notes:
            log("  " + e)
    for c in conns.values():
        c.close()

    text = report(a, n, octets, mach, started, lt, loadt, rows, errors, same_order)
    print(text)
    outdir = os.path.join(HERE, "results")
    os.makedirs(outdir, exist_ok=True)
    suffix = "" if n == FULL_MESSAGES else "-%d" % n
    path = os.path.join(outdir, "%s-search%s.md" % (datetime.date.today().isoformat(), suffix))
    with open(path, "w") as f:
        f.write(text)
    log("written %s" % path)
    if errors:
        sys.exit(1)


def ms(v):
    return R.fmt(v * 1000 if v is not None else None, 1)


def report(a, n, octets, mach, started, lt, loadt, rows, errors, same_order):
    lines = ["# SEARCH / SORT / THREAD benchmark: Sealbox vs Dovecot, %d messages, %s" % (n, started), "",
             "| machine | |", "|---|---|"]
    lines += ["| %s | %s |" % kv for kv in mach]
    lines += ["", "Corpus: %d messages, %.1f MB (seed 1): Zipf-distributed pseudo-English text from a %d-word "
              "vocabulary, 60 %% text/plain, 15 %% multipart/alternative, 10 %% HTML-only, 15 %% multipart/mixed "
              "with a base64 text attachment (half also a base64 binary part); 30 %% replies (threads), dates over "
              "3 years, 30 %% unseen, 5 %% flagged; some encoded-word subjects and names. One Maildir, loaded into "
              "both servers. Dovecot: bench/run's private instance, Maildir, **no FTS plugin** (its default). "
              "Plain IMAP on loopback, one connection per server on a selected INBOX; the servers run at the same "
              "time but only one works at a time: before each server's runs of a query the run waits until neither "
              "server's processes used CPU for 0.3 s (Dovecot updates its cache files after answering). *first* = the first time the query ran; *warm* = median of up "
              "to %d further runs (fewer when a query is slow: ~30 s per query and server)." % (
                  n, octets / 1e6, len(VOCAB), a.reps), "",
              "| load step (info) | Sealbox | Dovecot |", "|---|---|---|",
              "| import / copy of the Maildir (s) | %.1f (`sealbox import`, %.0f msg/s) | %.1f (file copy) |" % (
                  lt["sb_import"], n / lt["sb_import"], lt["dv_copy"]),
              "| first SELECT INBOX (s) | %.2f | %.2f (builds its index) |" % (loadt["Sealbox"][0], loadt["Dovecot"][0]),
              "| FETCH 1:* (UID Message-ID), warm-up (s) | %.2f | %.2f |" % (loadt["Sealbox"][1], loadt["Dovecot"][1]),
              "| message i has the same sequence number on both | %s | |" % ("yes" if same_order else "**no**"),
              "", "| query | answers | Sealbox warm ms | Dovecot warm ms | Dovecot/Sealbox | Sealbox first ms | "
              "Dovecot first ms | answers equal |", "|---|---|---|---|---|---|---|---|"]
    for label, cmd, S, D, cnt, verdict in rows:
        lines.append("| %s | %s | %s | %s | %s | %s | %s | %s |" % (
            label.replace("|", "/"), "n/a" if cnt is None else cnt, ms(S["warm"]), ms(D["warm"]),
            R.ratio(D["warm"], S["warm"], True), ms(S["first"]), ms(D["first"]), verdict))
    lines += ["", "Commands:", ""] + ["- %s: `%s`" % (label, cmd) for label, cmd, _, _, _, _ in rows]
    lines += ["", "*Dovecot/Sealbox* > 1: Sealbox is that many times faster (warm). *answers equal*: both "
              "returned the same messages (by Message-ID; SORT in the same order, SORT (SUBJECT) ties compared "
              "as keys since UID order may differ; THREAD the same trees); \"= expected\" when it is also the "
              "set/order the generator knows."]
    if errors:
        lines += ["", "Failures and differences:", ""] + ["- %s" % e.replace("|", "/") for e in errors]
    if a.note:
        lines += ["", "Note: %s" % a.note]
    lines += ["", "Load average at the end: %s" % " ".join(open("/proc/loadavg").read().split()[:3])]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    try:
        main()
    finally:
        R.cleanup()
