"""
messages.py — test messages made in code (no binary corpora in the repository).

What it offers:
  ENVELOPE_MSG, ENVELOPE_EXPECTED      a crafted message and its exact ENVELOPE
  SIMPLE_MSG, SIMPLE_BODY_EXPECTED     a text/plain message and its BODYSTRUCTURE
  multipart_message() -> Multipart     a nested multipart (mixed > alternative,
                                       base64 attachment, message/rfc822) with the
                                       exact bytes of every section and the exact
                                       BODYSTRUCTURE, all computed from the parts
  SEARCH_CORPUS                        ten messages with flags, dates and headers
                                       whose SEARCH answers are known
  corpus(n, seed) -> [bytes]           varied messages for mbsync: multipart/mixed
                                       with base64 attachments, alternative, 8-bit
                                       UTF-8 bodies and headers, long folded headers,
                                       RFC 2047 words, message/rfc822, 200 B - 300 KB,
                                       a few with bare LF line ends
  norm_body(bs, ext) / norm_env(env)   normalise a parsed BODYSTRUCTURE / ENVELOPE
                                       for comparison: only what RFCs call
                                       case-insensitive (types, subtypes, encodings,
                                       parameter names, charset values, disposition
                                       types) is case-folded; missing trailing
                                       extension fields count as NIL.

Every generator is deterministic (seeded), so a failure reproduces.
"""
import base64
import email.utils
import random
from datetime import datetime, timezone

CRLF = b"\r\n"


def crlf(s):
    """Text with \\n line ends -> bytes with CRLF."""
    if isinstance(s, str):
        s = s.encode("utf-8")
    return s.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


def lines(b):
    return b.count(CRLF)


# --- ENVELOPE ------------------------------------------------------------------------
ENVELOPE_MSG = crlf(
    "Date: Mon, 7 Feb 1994 21:52:25 -0800\n"
    "From: Fred Foobar <foobar@Blurdybloop.example>\n"
    "Subject: =?utf-8?q?caf=C3=A9?= afternoon tea\n"
    "To: mooch@owatagu.siam.edu.example, \"Other, Ann\" <ann@example.net>\n"
    "Cc: Undisclosed recipients: ;\n"
    "Message-Id: <B27397-0100000@Blurdybloop.example>\n"
    "In-Reply-To: <parent-1@example.net>\n"
    "MIME-Version: 1.0\n"
    "Content-Type: TEXT/PLAIN; CHARSET=US-ASCII\n"
    "\n"
    "Hello Joe, do you think we can meet at 3:30 tomorrow?\n")

_FRED = [b"Fred Foobar", None, b"foobar", b"Blurdybloop.example"]
ENVELOPE_EXPECTED = [
    b"Mon, 7 Feb 1994 21:52:25 -0800",
    b"=?utf-8?q?caf=C3=A9?= afternoon tea",          # RFC 3501: encoded words as-is
    [_FRED],                                          # from
    [_FRED],                                          # sender defaults to from
    [_FRED],                                          # reply-to defaults to from
    [[None, None, b"mooch", b"owatagu.siam.edu.example"],
     [b"Other, Ann", None, b"ann", b"example.net"]],
    [[None, None, b"Undisclosed recipients", None],   # group start (RFC 3501 7.4.2)
     [None, None, None, None]],                       # group end
    None,                                             # bcc
    b"<parent-1@example.net>",
    b"<B27397-0100000@Blurdybloop.example>",
]

# --- a simple text/plain message --------------------------------------------------------
SIMPLE_BODY = crlf("Line one of the body.\nLine two, a little longer than the first.\nThree.\n")
SIMPLE_MSG = crlf(
    "From: Simple Sender <simple@example.org>\n"
    "To: someone@example.org\n"
    "Subject: simple text\n"
    "Date: Tue, 02 Jan 2024 10:00:00 +0000\n"
    "Message-ID: <simple-1@example.org>\n"
    "MIME-Version: 1.0\n"
    "Content-Type: text/plain; charset=ISO-8859-1; format=flowed\n"
    "Content-Transfer-Encoding: quoted-printable\n"
    "\n") + SIMPLE_BODY
SIMPLE_BODY_EXPECTED = ["TEXT", "PLAIN", [("CHARSET", b"ISO-8859-1"), ("FORMAT", b"flowed")],
                        None, None, "QUOTED-PRINTABLE", len(SIMPLE_BODY), lines(SIMPLE_BODY),
                        None, None, None, None]


# --- nested multipart ---------------------------------------------------------------
class Multipart:
    pass


def multipart_message():
    m = Multipart()
    p1_hdr = crlf("Content-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\n")
    p1_body = crlf("Grüße aus Köln\nzweite Zeile\n")
    p21_hdr = crlf("Content-Type: text/plain; charset=us-ascii\n\n")
    p21_body = crlf("plain alternative\n")
    p22_hdr = crlf("Content-Type: text/html; charset=us-ascii\n\n")
    p22_body = crlf("<p>html <b>alternative</b></p>\n")
    p2_hdr = crlf('Content-Type: multipart/alternative; boundary="inner-b"\n\n')
    p2_body = (b"--inner-b\r\n" + p21_hdr + p21_body + b"\r\n--inner-b\r\n" + p22_hdr + p22_body
               + b"\r\n--inner-b--\r\n")
    p3_hdr = crlf('Content-Type: application/octet-stream; name="data.bin"\n'
                  'Content-Transfer-Encoding: base64\n'
                  'Content-Disposition: attachment; filename="data.bin"\n\n')
    p3_body = base64.b64encode(bytes(range(48))) + CRLF
    inner_hdr = crlf("From: Inner Sender <inner@example.net>\n"
                     "To: outer@example.org\n"
                     "Subject: inner message\n"
                     "Date: Tue, 2 Jan 2024 09:00:00 +0000\n"
                     "Message-ID: <inner-1@example.net>\n\n")
    inner_body = crlf("inner body line 1\ninner body line 2\n")
    p4_hdr = crlf("Content-Type: message/rfc822\n\n")
    p4_body = inner_hdr + inner_body
    top_hdr = crlf("From: Multi Part <mp@example.org>\n"
                   "To: reader@example.org\n"
                   "Subject: multipart sample\n"
                   "Date: Tue, 02 Jan 2024 10:30:00 +0000\n"
                   "Message-ID: <mp-1@example.org>\n"
                   "MIME-Version: 1.0\n"
                   'Content-Type: multipart/mixed; boundary="outer-b"\n\n')
    top_body = (b"This is a preamble.\r\n--outer-b\r\n" + p1_hdr + p1_body
                + b"\r\n--outer-b\r\n" + p2_hdr + p2_body
                + b"\r\n--outer-b\r\n" + p3_hdr + p3_body
                + b"\r\n--outer-b\r\n" + p4_hdr + p4_body
                + b"\r\n--outer-b--\r\nThis is the epilogue.\r\n")
    m.raw = top_hdr + top_body
    m.sections = {
        "HEADER": top_hdr, "TEXT": top_body,
        "1": p1_body, "1.MIME": p1_hdr,
        "2": p2_body, "2.MIME": p2_hdr,
        "2.1": p21_body, "2.1.MIME": p21_hdr,
        "2.2": p22_body,
        "3": p3_body, "3.MIME": p3_hdr,
        "4": p4_body, "4.MIME": p4_hdr,
        "4.HEADER": inner_hdr, "4.TEXT": inner_body, "4.1": inner_body,
    }
    inner_env = [b"Tue, 2 Jan 2024 09:00:00 +0000", b"inner message",
                 [[b"Inner Sender", None, b"inner", b"example.net"]],
                 [[b"Inner Sender", None, b"inner", b"example.net"]],
                 [[b"Inner Sender", None, b"inner", b"example.net"]],
                 [[None, None, b"outer", b"example.org"]],
                 None, None, None, b"<inner-1@example.net>"]
    # RFC 2045 5.2: no Content-Type means text/plain; charset=us-ascii, 7bit.
    inner_bs = ["TEXT", "PLAIN", [("CHARSET", b"US-ASCII")], None, None, "7BIT",
                len(inner_body), lines(inner_body), None, None, None, None]
    m.bodystructure = [
        ["TEXT", "PLAIN", [("CHARSET", b"UTF-8")], None, None, "8BIT",
         len(p1_body), lines(p1_body), None, None, None, None],
        [["TEXT", "PLAIN", [("CHARSET", b"US-ASCII")], None, None, "7BIT",
          len(p21_body), lines(p21_body), None, None, None, None],
         ["TEXT", "HTML", [("CHARSET", b"US-ASCII")], None, None, "7BIT",
          len(p22_body), lines(p22_body), None, None, None, None],
         "ALTERNATIVE", [("BOUNDARY", b"inner-b")], None, None, None],
        ["APPLICATION", "OCTET-STREAM", [("NAME", b"data.bin")], None, None, "BASE64",
         len(p3_body), None, ["ATTACHMENT", [("FILENAME", b"data.bin")]], None, None],
        ["MESSAGE", "RFC822", [], None, None, "7BIT", len(p4_body), inner_env, inner_bs,
         lines(p4_body), None, None, None, None],
        "MIXED", [("BOUNDARY", b"outer-b")], None, None, None,
    ]
    return m


# --- normalisation of parsed BODYSTRUCTURE / ENVELOPE ----------------------------------
def _up(x):
    if x is None:
        return None
    if isinstance(x, bytes):
        x = x.decode("utf-8", "replace")
    return x.upper()


def _params(p):
    if p is None:
        return []
    out = []
    for i in range(0, len(p), 2):
        k = _up(p[i])
        v = p[i + 1]
        if k == "CHARSET" and v is not None:
            v = v.upper()
        out.append((k, v))
    return out


def _dsp(d):
    if d is None:
        return None
    return [_up(d[0]), _params(d[1])]


def _pad(rest, n):
    rest = list(rest)
    return rest + [None] * (n - len(rest)) if len(rest) < n else rest


def norm_env(e):
    return e


def norm_body(b, ext=True):
    if isinstance(b[0], list):
        i, parts = 0, []
        while isinstance(b[i], list):
            parts.append(norm_body(b[i], ext))
            i += 1
        out = parts + [_up(b[i])]
        if ext:
            rest = _pad(b[i + 1:], 4)
            out += [_params(rest[0]), _dsp(rest[1]), rest[2], rest[3]] + rest[4:]
        return out
    t, st = _up(b[0]), _up(b[1])
    out = [t, st, _params(b[2]), b[3], b[4], _up(b[5]), int(b[6])]
    i = 7
    if t == "MESSAGE" and st == "RFC822":
        out += [norm_env(b[7]), norm_body(b[8], ext), int(b[9])]
        i = 10
    elif t == "TEXT":
        out.append(int(b[7]))
        i = 8
    if ext:
        rest = _pad(b[i:], 4)
        out += [rest[0], _dsp(rest[1]), rest[2], rest[3]] + rest[4:]
    elif len(b) > i:
        out += ["<unexpected extension data>"] + list(b[i:])
    return out


def strip_ext(expected):
    """The BODY (non-extensible) form of an expected normalised BODYSTRUCTURE."""
    if isinstance(expected[0], list):
        i = 0
        while isinstance(expected[i], list):
            i += 1
        return [strip_ext(p) for p in expected[:i]] + [expected[i]]
    t, st = expected[0], expected[1]
    if t == "MESSAGE" and st == "RFC822":
        return expected[:8] + [strip_ext(expected[8]), expected[9]]
    if t == "TEXT":
        return expected[:8]
    return expected[:7]


# --- SEARCH corpus ---------------------------------------------------------------------
def _date(y, mo, d, h=12):
    return datetime(y, mo, d, h, 0, 0, tzinfo=timezone.utc)


def _search_msg(i, frm, to, subject, body, cc=None, bcc=None, extra=""):
    sent = _date(2022, 6, i)
    hdr = "From: %s\nTo: %s\n" % (frm, to)
    if cc:
        hdr += "Cc: %s\n" % cc
    if bcc:
        hdr += "Bcc: %s\n" % bcc
    hdr += "Subject: %s\nDate: %s\nMessage-ID: <search-%d@example.org>\n%s" % (
        subject, email.utils.format_datetime(sent), i, extra)
    hdr += "MIME-Version: 1.0\nContent-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\n"
    return crlf(hdr) + crlf(body)


_LOREM = ("Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor. " * 70)
# (raw message, flags, internal date)
SEARCH_CORPUS = [
    (_search_msg(1, "alice@a.example", "bob@b.example", "Quarterly report", "The numbers are up.\n",
                 extra="X-Priority: 1\n"), r"\Seen", _date(2023, 1, 1)),
    (_search_msg(2, "bob@b.example", "alice@a.example", "Re: Quarterly report",
                 "Great news about the numbers.\n", cc="carol@c.example",
                 extra="In-Reply-To: <search-1@example.org>\n"), r"\Seen \Answered", _date(2023, 1, 2)),
    (_search_msg(3, "carol@c.example", "alice@a.example", "Lunch tomorrow?", "Pizza or sushi?\n"),
     r"\Flagged", _date(2023, 1, 3)),
    (_search_msg(4, "dave@d.example", "bob@b.example", "Invoice 4711", "Please pay invoice 4711.\n"),
     r"\Deleted", _date(2023, 1, 4)),
    (_search_msg(5, "alice@a.example", "dave@d.example", "Draft: plans", "Unfinished thoughts\n",
                 cc="bob@b.example"), r"\Draft", _date(2023, 1, 5)),
    (_search_msg(6, "eve@e.example", "alice@a.example",
                 "=?UTF-8?Q?Gr=C3=BC=C3=9Fe_aus_M=C3=BCnchen?=", "Schöne Grüße\n"),
     "$Important", _date(2023, 1, 6)),
    (_search_msg(7, "bob@b.example", "alice@a.example", "Big attachment", _LOREM + "\n"),
     r"\Seen $Important", _date(2023, 1, 7)),
    (_search_msg(8, "frank@f.example", "alice@a.example", "Meeting notes",
                 "Notes: the numbers were discussed.\n"), "", _date(2023, 1, 8)),
    (_search_msg(9, "alice@a.example", "bob@b.example", "Quarterly numbers", "See attached.\n",
                 bcc="secret@s.example"), r"\Seen \Flagged", _date(2023, 1, 9)),
    (_search_msg(10, "carol@c.example", "bob@b.example", "Weekend", "Hiking on Saturday.\n"),
     r"\Answered", _date(2023, 1, 10)),
]


def imap_date(dt):
    """IMAP date-time for APPEND: "dd-Mon-yyyy hh:mm:ss +zzzz"."""
    mon = "Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec".split()[dt.month - 1]
    off = dt.utcoffset()
    mins = int(off.total_seconds() // 60) if off else 0
    sign = "+" if mins >= 0 else "-"
    return '"%02d-%s-%04d %02d:%02d:%02d %s%02d%02d"' % (
        dt.day, mon, dt.year, dt.hour, dt.minute, dt.second, sign, abs(mins) // 60, abs(mins) % 60)


# --- mbsync corpus ---------------------------------------------------------------------
_WORDS = ("mail server sealbox encrypted mailbox folder message header body attachment "
          "protocol client sync test random alpha beta gamma delta").split()
_UTF8_WORDS = "Grüße Straße naïve façade smørrebrød 東京 Привет ünïcödé café Ελληνικά".split()


def _text(rng, nbytes, utf8=False):
    words = _WORDS + (_UTF8_WORDS if utf8 else [])
    out, line, size = [], [], 0
    while size < nbytes:
        w = rng.choice(words)
        line.append(w)
        size += len(w.encode()) + 1
        if len(" ".join(line)) > 66:
            out.append(" ".join(line))
            line = []
    if line:
        out.append(" ".join(line))
    return "\n".join(out) + "\n"


def _b64(data):
    s = base64.b64encode(data)
    return b"\r\n".join(s[i:i + 76] for i in range(0, len(s), 76)) + b"\r\n"


def _headers(rng, i, subject, extra=""):
    d = datetime(2020, 1, 1, tzinfo=timezone.utc).timestamp() + i * 3671
    date = email.utils.formatdate(d)
    return ("From: Sender %d <sender%d@gen.example>\nTo: sync@example.org\n"
            "Subject: %s\nDate: %s\nMessage-ID: <corpus-%d@gen.example>\n%s" % (
                i, i % 17, subject, date, i, extra))


def corpus(n=210, seed=20240101):
    """n varied messages (bytes, CRLF line ends except the bare-LF ones)."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        kind = i % 9
        if kind == 0:       # plain ASCII, small
            msg = crlf(_headers(rng, i, "plain %d %s" % (i, rng.choice(_WORDS)))
                       + "\n" + _text(rng, rng.randint(100, 2000)))
        elif kind == 1:     # 8-bit UTF-8 headers and body
            msg = crlf(_headers(rng, i, "ütf-8 Betreff %d Grüße 東京" % i,
                                "MIME-Version: 1.0\nContent-Type: text/plain; charset=utf-8\n"
                                "Content-Transfer-Encoding: 8bit\n")
                       + "\n" + _text(rng, rng.randint(200, 4000), utf8=True))
        elif kind == 2:     # RFC 2047 encoded words, long folded headers
            refs = "\n ".join("<ref-%d-%d@gen.example>" % (i, k) for k in range(rng.randint(5, 40)))
            subj = "=?UTF-8?B?%s?=\n =?ISO-8859-1?Q?caf=E9_cr=E8me_%d?=" % (
                base64.b64encode(("Ünïcödé Sübject %d" % i).encode()).decode(), i)
            msg = crlf(_headers(rng, i, subj, "References: %s\nX-Long: %s\n" % (
                refs, "\n\t".join(rng.choice(_WORDS) * 3 for _ in range(30))))
                       + "\n" + _text(rng, rng.randint(100, 1500)))
        elif kind == 3:     # multipart/alternative
            b = "alt-%d-%x" % (i, rng.getrandbits(32))
            t = _text(rng, rng.randint(200, 3000), utf8=True)
            msg = crlf(_headers(rng, i, "alternative %d" % i,
                                'MIME-Version: 1.0\nContent-Type: multipart/alternative; boundary="%s"\n' % b)
                       + "\n--%s\nContent-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\n%s"
                       "\n--%s\nContent-Type: text/html; charset=utf-8\n\n<html><body><p>%s</p></body></html>\n"
                       "\n--%s--\n" % (b, t, b, t.replace("\n", "<br>\n"), b))
        elif kind in (4, 5):  # multipart/mixed with a base64 attachment (up to ~300 KB)
            b = "mix-%d-%x" % (i, rng.getrandbits(32))
            if i % 45 == 4:
                size = rng.randint(150_000, 220_000)   # ~200-300 KB once base64'd
            else:
                size = rng.randint(100, 12_000)
            data = bytes(rng.getrandbits(8) for _ in range(size))
            msg = (crlf(_headers(rng, i, "attachment %d" % i,
                                 'MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary="%s"\n' % b)
                        + "\n--%s\nContent-Type: text/plain; charset=us-ascii\n\n%s\n--%s\n"
                          "Content-Type: application/octet-stream; name=\"file%d.bin\"\n"
                          "Content-Transfer-Encoding: base64\n"
                          "Content-Disposition: attachment; filename=\"file%d.bin\"\n\n"
                        % (b, _text(rng, 300), b, i, i))
                   + _b64(data) + crlf("\n--%s--\n" % b))
        elif kind == 6:     # message/rfc822 attachment
            b = "fwd-%d-%x" % (i, rng.getrandbits(32))
            inner = crlf(_headers(rng, 10000 + i, "inner =?UTF-8?Q?m=C3=A9ssage?= %d" % i)
                         + "\n" + _text(rng, rng.randint(100, 3000)))
            msg = (crlf(_headers(rng, i, "Fwd: forwarded %d" % i,
                                 'MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary="%s"\n' % b)
                        + "\n--%s\nContent-Type: text/plain\n\nSee the forwarded message.\n"
                          "\n--%s\nContent-Type: message/rfc822\nContent-Disposition: inline\n\n" % (b, b))
                   + inner + crlf("\n--%s--\n" % b))
        elif kind == 7:     # bare LF line ends
            msg = (_headers(rng, i, "bare LF %d" % i) + "\n" + _text(rng, rng.randint(100, 2500))).encode()
        else:               # tiny message, around 200 bytes
            msg = crlf("From: t@gen.example\nTo: sync@example.org\nSubject: tiny %d\n"
                       "Message-ID: <corpus-%d@gen.example>\n\nok\n" % (i, i))
        out.append(msg)
    return out


# --- more ENVELOPE / BODYSTRUCTURE cases -------------------------------------------------
# Sender and Reply-To given (not defaulted), several From addresses, a comment, no
# Date and no Subject.
ENVELOPE2_MSG = crlf(
    "From: \"Smith, John\" <john@example.com>, jane@example.com (Jane Doe)\n"
    "Sender: secretary@example.com\n"
    "Reply-To: replies@example.com\n"
    "To: undisclosed-recipients:;\n"
    "Bcc: hidden@example.net\n"
    "Message-ID: <env2@example.com>\n"
    "\n"
    "no subject, no date\n")
ENVELOPE2_EXPECTED = [
    None, None,
    # A trailing comment serves as the name when there is no phrase (as Dovecot does).
    [[b"Smith, John", None, b"john", b"example.com"], [b"Jane Doe", None, b"jane", b"example.com"]],
    [[None, None, b"secretary", b"example.com"]],
    [[None, None, b"replies", b"example.com"]],
    [[None, None, b"undisclosed-recipients", None], [None, None, None, None]],
    None,
    [[None, None, b"hidden", b"example.net"]],
    None,
    b"<env2@example.com>",
]

# A single part with every extension field of RFC 3501 7.4.2.
EXT_BODY = crlf("<p>hello</p>\n<p>world</p>\n")
EXT_MSG = crlf(
    "From: ext@example.org\n"
    "Subject: extension fields\n"
    "MIME-Version: 1.0\n"
    "Content-Type: text/html; charset=\"us-ascii\"\n"
    "Content-ID: <part1@example.org>\n"
    "Content-Description: A description\n"
    "Content-Transfer-Encoding: 7bit\n"
    "Content-MD5: Q2hlY2sgSW50ZWdyaXR5IQ==\n"
    "Content-Disposition: inline; filename=\"page.html\"\n"
    "Content-Language: en, de\n"
    "Content-Location: http://example.org/page.html\n"
    "\n") + EXT_BODY
EXT_EXPECTED = ["TEXT", "HTML", [("CHARSET", b"US-ASCII")], b"<part1@example.org>", b"A description",
                "7BIT", len(EXT_BODY), lines(EXT_BODY), b"Q2hlY2sgSW50ZWdyaXR5IQ==",
                ["INLINE", [("FILENAME", b"page.html")]], [b"en", b"de"], b"http://example.org/page.html"]
