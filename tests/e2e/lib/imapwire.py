"""
imapwire.py — a raw IMAP client and response parser for the end-to-end tests.

What it is for: the tests that must see exact protocol bytes (response codes,
literals, untagged updates, IDLE) speak IMAP over a plain socket with this
module, where imaplib would hide or reshape the details.

What it offers:
  Raw(host, port, tls=False, ctx=None, server_hostname=None, timeout=10)
      .greeting               the first line the server sent (bytes, no CRLF)
      .cmd(text)              sends "<tag> <text>\\r\\n", reads until the tagged
                              reply; returns a Resp. Literals: see .cmd_lit.
      .cmd_lit(parts)         a command with synchronising literals: parts is a
                              list alternating str/bytes prefix and bytes literal
      .send(bytes)            raw bytes, nothing read
      .read_response()        one response line with its literals (bytes, no final CRLF)
      .read_until_tag(tag)    -> Resp
      .wait_for(pred, t)      reads lines until pred(line) or timeout -> line|None
      .starttls(ctx, host)    wraps the socket after a STARTTLS OK
      .close()
  Resp: .tag .status ("OK"/"NO"/"BAD"/"BYE"...) .tagged (bytes) .untagged (list of
        bytes lines without the "* ") .code (text of a [CODE ...] in the tagged line)
  parse(bytes) -> list of tokens: atoms as str, quoted strings and literals as bytes,
        NIL as None, parenthesised lists as Python lists. "BODY[...]<n>" and
        "[CODE ...]" are single atoms.
  fetch_map(lines) -> {seq: {ITEM: value}} from "* n FETCH (...)" lines.
  imaplib_lines(data) -> raw response lines from imaplib's data list.

How it fails: a read that times out raises AssertionError naming the command
that was waiting and the bytes received so far, so a hung server reads as a
test failure with context, never as a hang.
"""
import re
import socket
import ssl

CRLF = b"\r\n"
_LITERAL_AT_END = re.compile(rb"\{(\d+)\+?\}\r\n$")


class Resp:
    def __init__(self, tag, tagged, untagged):
        self.tag = tag
        self.tagged = tagged              # full tagged line (bytes, no CRLF)
        self.untagged = untagged          # list of bytes, each without "* "
        rest = tagged[len(tag) + 1:] if tagged.startswith(tag.encode() + b" ") else tagged
        self.status = rest.split(b" ", 1)[0].decode("ascii", "replace").upper()
        m = re.match(rb"\S+ \[([^\]]*)\]", rest)
        self.code = m.group(1).decode("ascii", "replace") if m else None

    def ok(self):
        return self.status == "OK"

    def of(self, kind):
        """Untagged lines whose first atom (after an optional number) is `kind`."""
        kind = kind.upper().encode()
        out = []
        for u in self.untagged:
            w = u.split(b" ", 2)
            if w[0].upper() == kind or (len(w) > 1 and w[0].isdigit() and w[1].upper() == kind):
                out.append(u)
        return out

    def codes(self):
        """Response codes of untagged OK/NO lines and the tagged line: {CODE: rest}."""
        out = {}
        lines = [u for u in self.untagged if re.match(rb"(OK|NO|BAD) \[", u, re.I)]
        lines.append(self.tagged.split(b" ", 1)[1] if b" " in self.tagged else b"")
        for line in lines:
            m = re.match(rb"\S+ \[([^\]]*)\]", line)
            if m:
                body = m.group(1).decode("utf-8", "replace")
                name, _, val = body.partition(" ")
                out[name.upper()] = val
        return out

    def __repr__(self):
        return "Resp(%r, untagged=%r)" % (self.tagged, self.untagged)


class Raw:
    def __init__(self, host, port, tls=False, ctx=None, server_hostname=None, timeout=10.0,
                 read_greeting=True):
        self.timeout = timeout
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if tls:
            if ctx is None:
                ctx = ssl.create_default_context()
                ctx.check_hostname = False
                ctx.verify_mode = ssl.CERT_NONE
            self.sock = ctx.wrap_socket(self.sock, server_hostname=server_hostname or host)
        self.buf = b""
        self.n = 0
        self.last = "(greeting)"
        self.greeting = self.read_response() if read_greeting else None

    # --- low level ---------------------------------------------------------------
    def send(self, data):
        if isinstance(data, str):
            data = data.encode()
        self.sock.sendall(data)

    def _fill(self, what):
        try:
            chunk = self.sock.recv(65536)
        except (socket.timeout, TimeoutError):
            raise AssertionError("timeout (%.1fs) waiting for %s after %s; got so far %r"
                                 % (self.sock.gettimeout() or 0, what, self.last, self.buf[-300:]))
        if not chunk:
            raise ConnectionError("server closed the connection (after %s); unread %r"
                                  % (self.last, self.buf[-300:]))
        self.buf += chunk

    def _line(self):
        while CRLF not in self.buf:
            self._fill("a line")
        i = self.buf.index(CRLF) + 2
        line, self.buf = self.buf[:i], self.buf[i:]
        return line

    def _exact(self, n):
        while len(self.buf) < n:
            self._fill("a literal of %d bytes" % n)
        data, self.buf = self.buf[:n], self.buf[n:]
        return data

    def read_response(self):
        """One response: a line plus any literals it carries, without the final CRLF."""
        out = b""
        while True:
            line = self._line()
            out += line
            m = _LITERAL_AT_END.search(line)
            if not m:
                return out[:-2]
            out += self._exact(int(m.group(1)))

    def settimeout(self, t):
        self.sock.settimeout(t)

    # --- commands ----------------------------------------------------------------
    def next_tag(self):
        self.n += 1
        return "T%03d" % self.n

    def read_until_tag(self, tag):
        untagged = []
        while True:
            line = self.read_response()
            if line.startswith(tag.encode() + b" "):
                return Resp(tag, line, untagged)
            if line.startswith(b"* "):
                untagged.append(line[2:])
            else:
                untagged.append(line)       # "+ ..." or junk: kept for the test to see

    def cmd(self, text, tag=None):
        tag = tag or self.next_tag()
        data = text.encode() if isinstance(text, str) else text
        self.last = "%s %r" % (tag, data[:200])
        self.send(tag.encode() + b" " + data + CRLF)
        return self.read_until_tag(tag)

    def cmd_lit(self, parts, tag=None):
        """parts: [prefix, literal, text, literal, ..., text]; each literal is sent as a
        synchronising {n} after the server's "+" continuation."""
        tag = tag or self.next_tag()
        self.last = "%s %r" % (tag, bytes(parts[0] if isinstance(parts[0], bytes) else parts[0].encode())[:200])
        head = tag.encode() + b" "
        early = []
        i = 0
        while i < len(parts):
            text = parts[i]
            text = text.encode() if isinstance(text, str) else text
            if i + 1 < len(parts):
                lit = parts[i + 1]
                self.send(head + text + b"{%d}\r\n" % len(lit))
                cont = self.read_response()
                while cont.startswith(b"* "):      # untagged updates may come first
                    early.append(cont[2:])
                    cont = self.read_response()
                if not cont.startswith(b"+"):
                    # The server refused the literal; that line is the final answer.
                    return Resp(tag, cont, early)
                self.send(lit)
                head = b""
                i += 2
            else:
                self.send(head + text + CRLF)
                i += 1
        resp = self.read_until_tag(tag)
        resp.untagged[:0] = early
        return resp

    def wait_for(self, pred, timeout):
        """Reads responses until pred(line) is true; returns that line, or None after
        `timeout` seconds. Lines read meanwhile are kept in self.seen."""
        old = self.sock.gettimeout()
        import time
        end = time.monotonic() + timeout
        self.seen = []
        try:
            while True:
                left = end - time.monotonic()
                if left <= 0:
                    return None
                self.sock.settimeout(left)
                try:
                    if CRLF not in self.buf:
                        chunk = self.sock.recv(65536)
                        if not chunk:
                            raise ConnectionError("server closed the connection while waiting")
                        self.buf += chunk
                        continue
                    line = self.read_response()
                except (socket.timeout, TimeoutError):
                    return None
                self.seen.append(line)
                if pred(line):
                    return line
        finally:
            self.sock.settimeout(old)

    def login(self, user, password):
        r = self.cmd("LOGIN %s %s" % (quote(user), quote(password)))
        assert r.ok(), "LOGIN %s failed: %r" % (user, r.tagged)
        return r

    def starttls(self, ctx, server_hostname):
        assert self.buf == b"", "unread bytes before TLS: %r" % self.buf
        self.sock = ctx.wrap_socket(self.sock, server_hostname=server_hostname)

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def logout(self):
        try:
            self.cmd("LOGOUT")
        except (ConnectionError, AssertionError, OSError):
            pass
        self.close()

    def __enter__(self):
        return self

    def __exit__(self, *a):
        self.close()


def quote(s):
    """An IMAP quoted string for ASCII text without CR/LF."""
    if isinstance(s, bytes):
        s = s.decode("utf-8")
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


# --- parser --------------------------------------------------------------------------
class ParseError(Exception):
    pass


def parse(data):
    """Tokenises one response (bytes, literals inline as {n}\\r\\n<bytes>)."""
    toks, i = _parse_seq(data, 0, None)
    return toks


def _parse_seq(d, i, closer):
    out = []
    n = len(d)
    while i < n:
        c = d[i:i + 1]
        if c == b" ":
            i += 1
        elif c == b"(":
            sub, i = _parse_seq(d, i + 1, b")")
            out.append(sub)
        elif c == b")":
            if closer != b")":
                raise ParseError("unbalanced ) at %d in %r" % (i, d[:200]))
            return out, i + 1
        elif c == b'"':
            j = i + 1
            s = bytearray()
            while True:
                if j >= n:
                    raise ParseError("unterminated quoted string in %r" % d[:200])
                ch = d[j:j + 1]
                if ch == b"\\":
                    s += d[j + 1:j + 2]
                    j += 2
                elif ch == b'"':
                    j += 1
                    break
                else:
                    s += ch
                    j += 1
            out.append(bytes(s))
            i = j
        elif c == b"{":
            m = re.compile(rb"\{(\d+)\+?\}\r\n").match(d, i)
            if not m:
                raise ParseError("bad literal at %d in %r" % (i, d[:200]))
            ln = int(m.group(1))
            start = m.end()
            if start + ln > n:
                raise ParseError("short literal in %r" % d[:200])
            out.append(d[start:start + ln])
            i = start + ln
        else:
            j = i
            while j < n and d[j:j + 1] not in (b" ", b"(", b")"):
                if d[j:j + 1] == b"[":
                    depth = 0
                    while j < n:
                        ch = d[j:j + 1]
                        if ch == b"[":
                            depth += 1
                        elif ch == b"]":
                            depth -= 1
                            if depth == 0:
                                break
                        j += 1
                j += 1
            atom = d[i:j].decode("utf-8", "replace")
            out.append(None if atom.upper() == "NIL" else atom)
            i = j
    if closer:
        raise ParseError("missing ) in %r" % d[:200])
    return out, i


def fetch_map(lines):
    """{seq: {ITEM: value}} from untagged lines "n FETCH (...)" (merged per seq); also
    takes imaplib's FETCH data, where the word FETCH is already gone ("n (...)")."""
    out = {}
    for line in lines:
        m = re.match(rb"(\d+) (?:FETCH )?(?=\()", line, re.I)
        if not m:
            continue
        toks = parse(line[m.end():])
        if len(toks) != 1 or not isinstance(toks[0], list):
            raise ParseError("FETCH data is not one list: %r" % line[:300])
        lst = toks[0]
        if len(lst) % 2:
            raise ParseError("FETCH list has an odd number of items: %r" % line[:300])
        d = out.setdefault(int(m.group(1)), {})
        for k in range(0, len(lst), 2):
            d[lst[k].upper()] = lst[k + 1]
    return out


def imaplib_lines(data):
    """Rebuilds raw response lines from an imaplib data list (tuples carry literals)."""
    lines, cur = [], b""
    for item in data:
        if item is None:
            continue
        if isinstance(item, tuple):
            cur += item[0] + b"\r\n" + item[1]
        else:
            cur += item
            lines.append(cur)
            cur = b""
    if cur:
        lines.append(cur)
    return lines


def list_entries(lines, kind="LIST"):
    """[(attrs set (lowercase), delimiter, name bytes)] from LIST/LSUB lines."""
    out = []
    for line in lines:
        toks = parse(line)
        if toks and isinstance(toks[0], str) and toks[0].upper() == kind:
            toks = toks[1:]
        attrs, delim, name = toks[0], toks[1], toks[2]
        if isinstance(name, str):
            name = name.encode()
        if isinstance(delim, str):
            delim = delim.encode()
        out.append(({a.lower() for a in attrs}, delim, name))
    return out
