"""
corpus.py — the deterministic message corpus the benchmark appends to every server.

What it offers:
  make_corpus(seed, count) -> list of bytes templates (RFC 5322, CRLF line ends,
      7-bit, lines <= 998 octets), sizes spread from about 1 KB to 1 MB:
      text/plain, multipart/alternative (text + HTML), multipart/mixed with one or
      two base64 attachments. Each template holds the placeholder TOKEN once in
      Subject: and once in Message-ID:.
  stamp(template, token) -> bytes  the template with its placeholder replaced, so
      every appended message is unique and can be found again by SEARCH.
  TOKEN_LEN  length of the tokens stamp() expects (the size of a message does not
      change when it is stamped).

What it promises: the same (seed, count) gives byte-identical templates on every
run and every machine (only random.Random(seed) is used, no clock, no locale).

How it fails: it does not; a bad count gives an empty list.
"""
import base64
import random

PLACEHOLDER = b"@@TOKEN-PLACEHOLDER@@"
TOKEN_LEN = len(PLACEHOLDER)

WORDS = ("the meeting report invoice attached quarterly budget review please see "
         "below thanks regards project deadline schedule update draft final notes "
         "customer order shipment delivery account payment reminder agenda minutes "
         "travel hotel flight booking confirmation receipt summary proposal contract "
         "server backup migration release version patch security audit team").split()

# (weight, low, high) target sizes in bytes: most mail is small, a few carry large
# attachments; the top is 1 MiB.
SIZE_BUCKETS = ((40, 1024, 4096), (30, 4096, 32768), (15, 32768, 131072),
                (10, 131072, 524288), (5, 524288, 1048576))


def _pick_size(rng):
    r = rng.randrange(sum(b[0] for b in SIZE_BUCKETS))
    for w, lo, hi in SIZE_BUCKETS:
        if r < w:
            return rng.randrange(lo, hi)
        r -= w
    return 1024


def _text(rng, nbytes):
    """Wrapped prose of about nbytes, CRLF lines of at most 76 characters."""
    lines, cur, total = [], [], 0
    while total < nbytes:
        w = rng.choice(WORDS)
        if sum(len(x) + 1 for x in cur) + len(w) > 72:
            line = " ".join(cur)
            lines.append(line)
            total += len(line) + 2
            cur = []
        cur.append(w)
    if cur:
        lines.append(" ".join(cur))
    return ("\r\n".join(lines) + "\r\n").encode()


def _b64(rng, nbytes):
    raw = bytes(rng.getrandbits(8) for _ in range(nbytes))
    enc = base64.b64encode(raw)
    return b"\r\n".join(enc[i:i + 76] for i in range(0, len(enc), 76)) + b"\r\n"


def _headers(rng, i, ctype):
    day = 1 + i % 28
    h = ("From: Sender %d <sender%d@example.net>\r\n"
         "To: Bench User <user@bench.test>\r\n"
         "Subject: %s %s\r\n"
         "Date: Mon, %d Nov 2026 10:%02d:%02d +0000\r\n"
         "Message-ID: <%s@bench.test>\r\n"
         "MIME-Version: 1.0\r\n"
         "Content-Type: %s\r\n\r\n") % (
             i, rng.randrange(1000), rng.choice(WORDS).capitalize(), "%s",
             day, i % 60, (i * 7) % 60, "%s", ctype)
    return h.encode().replace(b"%s", PLACEHOLDER)


def _message(rng, i):
    size = _pick_size(rng)
    kind = rng.random()
    if size < 8192 and kind < 0.6:
        return _headers(rng, i, "text/plain; charset=us-ascii") + _text(rng, size - 300)
    if size < 32768 and kind < 0.7:
        b = "alt%06d" % i
        half = max(200, (size - 600) // 2)
        txt = _text(rng, half)
        html = b"<html><body><p>" + _text(rng, half).replace(b"\r\n", b"</p>\r\n<p>") + b"</p></body></html>\r\n"
        body = (b"--" + b.encode() + b"\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n" + txt +
                b"--" + b.encode() + b"\r\nContent-Type: text/html; charset=us-ascii\r\n\r\n" + html +
                b"--" + b.encode() + b"--\r\n")
        return _headers(rng, i, 'multipart/alternative; boundary="%s"' % b) + body
    b = "mix%06d" % i
    natt = 1 if rng.random() < 0.7 else 2
    textpart = _text(rng, min(4000, max(300, size // 10)))
    body = b"--" + b.encode() + b"\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n" + textpart
    remaining = max(600, size - len(textpart) - 800)
    for a in range(natt):
        raw = (remaining * 3 // 4) // natt
        name = "file%d-%d.%s" % (i, a, rng.choice(("pdf", "jpg", "zip", "docx")))
        body += (b"--" + b.encode() + b"\r\nContent-Type: application/octet-stream; name=\"" +
                 name.encode() + b"\"\r\nContent-Disposition: attachment; filename=\"" +
                 name.encode() + b"\"\r\nContent-Transfer-Encoding: base64\r\n\r\n" + _b64(rng, raw))
    body += b"--" + b.encode() + b"--\r\n"
    return _headers(rng, i, 'multipart/mixed; boundary="%s"' % b) + body


def make_corpus(seed, count):
    rng = random.Random(seed)
    return [_message(rng, i) for i in range(count)]


def stamp(template, token):
    t = token.encode() if isinstance(token, str) else token
    assert len(t) == TOKEN_LEN, "token must be %d octets" % TOKEN_LEN
    return template.replace(PLACEHOLDER, t)
