"""
imapload.py — the benchmark's IMAP client and load generator (stdlib only).

What it offers:
  Client(host, port, tls, src_ip)   a raw IMAP4rev1 client over one socket:
      .cmd(text, literal=None) -> (status, untagged, tagged_line); untagged is a list of
      Resp (.text: the line with literals replaced by {N}, .lits: the literal bytes).
  login_latency(...)                seconds from sending LOGIN to its tagged OK.
  run_load(target, users, password, corpus, clients, duration, ...) -> Result
      `clients` threads, each with its own user, repeat one realistic session until
      `duration` seconds have passed (a session under way is finished):
        LOGIN, SELECT INBOX, APPEND one corpus message (unique token), FETCH FLAGS of
        the 20 newest, FETCH ENVELOPE BODYSTRUCTURE of the 10 newest, UID SEARCH for
        the token, UID FETCH BODY.PEEK[] of the appended message, FETCH BODY.PEEK[] of
        one other recent message, UID STORE +FLAGS, STORE \\Deleted + EXPUNGE of the
        appended message, IDLE (a short wait, then DONE), LOGOUT.
  IdleHolder(host, port, tls, users, password, n, stage="idle"|"login"|"greeting", first=0)
      (connections are numbered from `first`, which picks their source addresses)
      n connections (TLS) that log in, SELECT INBOX and sit in IDLE, or stop
      after LOGIN (stage "login") or after TLS and the greeting ("greeting");
      held by an asyncio loop in a thread until .close(); .conns, .failures,
      .messages.

What it promises: every answer is checked (BODY[] byte-identical to what was
appended, SEARCH finds exactly the appended UID, FLAGS reflect the STORE, EXPUNGE
reports one message, envelope and bodystructure present for every message asked);
a wrong answer, a NO/BAD or a broken connection is a failure, counted per
operation and described (first ones kept) in Result.errors. Source addresses are
spread over 127.0.0.2.. so a per-IP connection limit of the server is not what is
measured.

How it fails: never raises out of run_load / hold_idle for server misbehaviour;
socket timeouts (30 s) count as failures.
"""
import asyncio
import random
import re
import socket
import ssl
import threading
import time

from corpus import TOKEN_LEN, stamp

TIMEOUT = 30.0
CONNS_PER_SRC_IP = 40


def src_ip(i):
    """The loopback source address for connection/client number i."""
    n = 2 + i // CONNS_PER_SRC_IP
    return "127.0.%d.%d" % (n // 250, 1 + n % 250) if n >= 250 else "127.0.0.%d" % n


def tls_context():
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


class Fail(Exception):
    pass


class Resp:
    __slots__ = ("text", "lits")

    def __init__(self, text, lits):
        self.text, self.lits = text, lits


LIT_RE = re.compile(rb"\{(\d+)\+?\}\r\n$")


class Client:
    def __init__(self, host, port, tls, src=None, ctx=None):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.settimeout(TIMEOUT)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if src:
            s.bind((src, 0))
        s.connect((host, port))
        if tls:
            s = (ctx or tls_context()).wrap_socket(s)
        self.sock = s
        self.f = s.makefile("rb", buffering=65536)
        self.n = 0
        greet = self.readline()
        if not greet.startswith(b"* OK"):
            raise Fail("greeting: %r" % greet[:100])

    def readline(self):
        line = self.f.readline(1 << 20)
        if not line:
            raise Fail("connection closed by server")
        return line

    def read_resp(self, first):
        """One response starting with line `first`, its literals read as well."""
        text, lits, line = [], [], first
        while True:
            m = LIT_RE.search(line)
            if not m:
                text.append(line)
                return Resp(b"".join(text), lits)
            n = int(m.group(1))
            text.append(line)
            data = self.f.read(n)
            if len(data) != n:
                raise Fail("short literal")
            lits.append(data)
            line = self.readline()

    def send(self, data):
        self.sock.sendall(data)

    def cmd(self, text, literal=None):
        self.n += 1
        tag = b"a%d" % self.n
        if literal is None:
            self.send(tag + b" " + text + b"\r\n")
        else:
            self.send(tag + b" " + text + b" {%d}\r\n" % len(literal))
            while True:
                line = self.readline()
                if line.startswith(b"+"):
                    break
                if line.startswith(tag + b" "):
                    raise Fail("literal refused: %r" % line[:120])
            self.send(literal + b"\r\n")
        untagged = []
        while True:
            line = self.readline()
            if line.startswith(tag + b" "):
                st = line[len(tag) + 1:].split(b" ", 1)[0].upper()
                return st.decode(), untagged, line
            if line.startswith(b"+"):
                continue
            untagged.append(self.read_resp(line))

    def ok(self, text, literal=None, what=None):
        st, un, tl = self.cmd(text, literal)
        if st != "OK":
            raise Fail("%s: %s" % (what or text[:30].decode("ascii", "replace"),
                                   tl[:160].decode("ascii", "replace").strip()))
        return un, tl

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


def q(s):
    return b'"' + s.encode().replace(b"\\", b"\\\\").replace(b'"', b'\\"') + b'"'


def login_latency(host, port, user, password, tls=False):
    c = Client(host, port, tls, src_ip(0))
    try:
        t0 = time.perf_counter()
        c.ok(b"LOGIN " + q(user) + b" " + q(password), what="LOGIN")
        dt = time.perf_counter() - t0
        c.cmd(b"LOGOUT")
        return dt
    finally:
        c.close()


def append_messages(host, port, tls, user, password, msgs):
    """Setup only (not measured): APPEND msgs to the user's INBOX."""
    c = Client(host, port, tls, src_ip(0))
    try:
        c.ok(b"LOGIN " + q(user) + b" " + q(password), what="LOGIN")
        for m in msgs:
            c.ok(b"APPEND INBOX", m, what="APPEND")
        c.cmd(b"LOGOUT")
    finally:
        c.close()


# --- load ---------------------------------------------------------------------------

OPS = ("login", "select", "append", "fetch_flags", "fetch_env_bs", "search",
       "fetch_body", "store", "expunge", "idle", "logout")


class Result:
    def __init__(self):
        self.lat = {op: [] for op in OPS}
        self.fail = {op: 0 for op in OPS}
        self.errors = []
        self.sessions = 0
        self.wall = 0.0
        self.lock = threading.Lock()

    def merge(self, lat, fail, errs, sessions):
        with self.lock:
            for k, v in lat.items():
                self.lat[k].extend(v)
            for k, v in fail.items():
                self.fail[k] += v
            if len(self.errors) < 20:
                self.errors.extend(errs[:20 - len(self.errors)])
            self.sessions += sessions

    @property
    def ops(self):
        return sum(len(v) for v in self.lat.values())

    @property
    def failures(self):
        return sum(self.fail.values())


EXISTS_RE = re.compile(rb"^\* (\d+) EXISTS", re.I)
EXPUNGE_RE = re.compile(rb"^\* (\d+) EXPUNGE", re.I)
APPENDUID_RE = re.compile(rb"\[APPENDUID \d+ (\d+)\]", re.I)
SEARCH_RE = re.compile(rb"^\* SEARCH([ \d]*)", re.I)
SIZE_RE = re.compile(rb"RFC822\.SIZE (\d+)", re.I)
FLAGS_RE = re.compile(rb"FLAGS \(([^)]*)\)", re.I)
UID_RE = re.compile(rb"UID (\d+)", re.I)


class Session:
    """One client thread's state: counts EXISTS so sequence numbers stay right."""

    def __init__(self, cfg, idx):
        self.cfg, self.idx = cfg, idx
        self.exists = 0
        self.rng = random.Random(cfg["seed"] * 1000003 + idx)
        self.lat = {op: [] for op in OPS}
        self.fail = {op: 0 for op in OPS}
        self.errs = []
        self.sessions = 0
        self.seq = 0

    def track(self, untagged):
        for r in untagged:
            m = EXISTS_RE.match(r.text)
            if m:
                self.exists = int(m.group(1))
            elif EXPUNGE_RE.match(r.text):
                self.exists -= 1

    def timed(self, op, fn):
        t0 = time.perf_counter()
        try:
            out = fn()
        except (Fail, OSError, ValueError) as e:
            self.fail[op] += 1
            if len(self.errs) < 20:
                self.errs.append("%s client %d: %s: %s" % (self.cfg["name"], self.idx, op, e))
            raise
        self.lat[op].append(time.perf_counter() - t0)
        return out

    def one(self):
        cfg = self.cfg
        user, pw = cfg["users"][self.idx % len(cfg["users"])], cfg["password"]
        self.seq += 1
        # Unique across runs on the same server too: a message left behind by a failed
        # session must not make a later SEARCH look wrong.
        token = ("T%02d%05d%06d" % (cfg["run"], self.idx, self.seq)).ljust(TOKEN_LEN, "x")
        msg = stamp(self.rng.choice(cfg["corpus"]), token)
        c = Client(cfg["host"], cfg["port"], cfg["tls"], src_ip(self.idx), cfg["ctx"])
        try:
            self.timed("login", lambda: c.ok(b"LOGIN " + q(user) + b" " + q(pw), what="LOGIN"))
            un, _ = self.timed("select", lambda: c.ok(b"SELECT INBOX"))
            self.track(un)
            un, tl = self.timed("append", lambda: c.ok(b"APPEND INBOX", msg, what="APPEND"))
            m = APPENDUID_RE.search(tl)
            uid = int(m.group(1)) if m else None
            if not any(EXISTS_RE.match(r.text) for r in un):
                c2 = c.ok(b"NOOP")[0]
                un = un + c2
            self.track(un)
            n = self.exists

            def fetch_flags():
                lo = max(1, n - 19)
                un2, _ = c.ok(b"FETCH %d:%d (FLAGS)" % (lo, n))
                got = sum(1 for r in un2 if b" FETCH " in r.text.upper() and b"FLAGS" in r.text.upper())
                if got != n - lo + 1:
                    raise Fail("FETCH FLAGS gave %d responses for %d messages" % (got, n - lo + 1))
                return un2
            self.track(self.timed("fetch_flags", fetch_flags))

            def fetch_env():
                lo = max(1, n - 9)
                un2, _ = c.ok(b"FETCH %d:%d (ENVELOPE BODYSTRUCTURE)" % (lo, n))
                got = 0
                for r in un2:
                    t = r.text.upper()
                    if b" FETCH " in t:
                        if b"ENVELOPE (" not in t or b"BODYSTRUCTURE (" not in t:
                            raise Fail("FETCH lacks ENVELOPE/BODYSTRUCTURE: %r" % r.text[:120])
                        got += 1
                if got != n - lo + 1:
                    raise Fail("FETCH ENVELOPE gave %d responses for %d messages" % (got, n - lo + 1))
                # The newest is ours: its envelope subject carries the token.
                if token.encode() not in b"".join(r.text + b"".join(r.lits) for r in un2):
                    raise Fail("ENVELOPE of the appended message lacks its subject token")
                return un2
            self.track(self.timed("fetch_env_bs", fetch_env))

            def search():
                un2, _ = c.ok(b"UID SEARCH SUBJECT " + q(token))
                hits = []
                for r in un2:
                    m2 = SEARCH_RE.match(r.text)
                    if m2:
                        hits += [int(x) for x in m2.group(1).split()]
                if len(hits) != 1 or (uid is not None and hits[0] != uid):
                    raise Fail("SEARCH for the appended token gave %r (APPENDUID %r)" % (hits[:5], uid))
                return hits[0], un2
            found, un = self.timed("search", search)
            self.track(un)
            myuid = uid if uid is not None else found

            def fetch_body():
                un2, _ = c.ok(b"UID FETCH %d (BODY.PEEK[])" % myuid)
                body = [r for r in un2 if b" FETCH " in r.text.upper() and r.lits]
                if len(body) != 1 or body[0].lits[-1] != msg:
                    got = body[0].lits[-1] if body else b""
                    raise Fail("BODY[] differs from the appended message (%d vs %d octets)" % (len(got), len(msg)))
                other = self.rng.randint(max(1, n - 9), n)
                un3, _ = c.ok(b"FETCH %d (RFC822.SIZE BODY.PEEK[])" % other)
                for r in un3:
                    sm = SIZE_RE.search(r.text)
                    if sm and r.lits:
                        if int(sm.group(1)) != len(r.lits[-1]):
                            raise Fail("BODY[] of #%d is %d octets, RFC822.SIZE says %s" % (
                                other, len(r.lits[-1]), sm.group(1).decode()))
                        break
                else:
                    raise Fail("FETCH BODY[] of #%d returned no body" % other)
                return un2 + un3
            self.track(self.timed("fetch_body", fetch_body))

            def store():
                un2, _ = c.ok(b"UID STORE %d +FLAGS (\\Seen \\Flagged)" % myuid)
                for r in un2:
                    fm = FLAGS_RE.search(r.text)
                    if fm:
                        fl = fm.group(1).lower()
                        if b"\\flagged" not in fl or b"\\seen" not in fl:
                            raise Fail("STORE answered FLAGS (%s)" % fm.group(1).decode())
                        return un2
                raise Fail("STORE gave no FETCH FLAGS")
            self.track(self.timed("store", store))

            def expunge():
                c.ok(b"UID STORE %d +FLAGS.SILENT (\\Deleted)" % myuid)
                un2, _ = c.ok(b"EXPUNGE")
                k = sum(1 for r in un2 if EXPUNGE_RE.match(r.text))
                if k != 1:
                    raise Fail("EXPUNGE removed %d messages, expected 1" % k)
                return un2
            self.track(self.timed("expunge", expunge))

            def idle():
                c.n += 1
                tag = b"a%d" % c.n
                c.send(tag + b" IDLE\r\n")
                line = c.readline()
                if not line.startswith(b"+"):
                    raise Fail("IDLE: %r" % line[:80])
                time.sleep(cfg["idle_ms"] / 1000.0)
                c.send(b"DONE\r\n")
                while True:
                    line = c.readline()
                    if line.startswith(tag + b" "):
                        if not line[len(tag) + 1:].upper().startswith(b"OK"):
                            raise Fail("IDLE ended %r" % line[:80])
                        return
            self.timed("idle", idle)

            def logout():
                st, un2, _ = c.cmd(b"LOGOUT")
                if st != "OK" or not any(r.text.upper().startswith(b"* BYE") for r in un2):
                    raise Fail("LOGOUT without BYE/OK")
            self.timed("logout", logout)
            self.sessions += 1
        finally:
            c.close()

    def loop(self, deadline):
        while time.monotonic() < deadline:
            try:
                self.one()
            except (Fail, OSError, ValueError):
                time.sleep(0.05)


_RUNS = [0]


def run_load(name, host, port, tls, users, password, corpus, clients, duration, seed=1, idle_ms=10):
    _RUNS[0] += 1
    cfg = dict(name=name, host=host, port=port, tls=tls, users=users, password=password, run=_RUNS[0] % 100,
               corpus=corpus, seed=seed, idle_ms=idle_ms, ctx=tls_context() if tls else None)
    res = Result()
    sessions = [Session(cfg, i) for i in range(clients)]
    deadline = time.monotonic() + duration
    t0 = time.monotonic()
    threads = [threading.Thread(target=s.loop, args=(deadline,), daemon=True) for s in sessions]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    res.wall = time.monotonic() - t0
    for s in sessions:
        res.merge(s.lat, s.fail, s.errs, s.sessions)
    return res


# --- idle connections ---------------------------------------------------------------

async def _idle_one(i, host, port, user, password, ctx, sem, conns, errs, stage):
    async with sem:
        try:
            r, w = await asyncio.wait_for(asyncio.open_connection(
                host, port, ssl=ctx, local_addr=(src_ip(i), 0), server_hostname=None if ctx is None else "bench"),
                TIMEOUT)

            async def expect(tag):
                while True:
                    line = await asyncio.wait_for(r.readline(), TIMEOUT)
                    if not line:
                        raise Fail("closed")
                    if tag is None or line.startswith(tag):
                        return line
            g = await expect(None)
            if not g.startswith(b"* OK"):
                raise Fail("greeting %r" % g[:60])
            if stage == "greeting":
                conns.append((r, w))
                return
            w.write(b"a1 LOGIN " + q(user) + b" " + q(password) + b"\r\n")
            if not (await expect(b"a1 ")).startswith(b"a1 OK"):
                raise Fail("LOGIN refused")
            if stage == "login":
                conns.append((r, w))
                return
            w.write(b"a2 SELECT INBOX\r\n")
            if not (await expect(b"a2 ")).startswith(b"a2 OK"):
                raise Fail("SELECT refused")
            w.write(b"a3 IDLE\r\n")
            await expect(b"+")
            conns.append((r, w))
        except Exception as e:  # any failure of one connection is counted, never fatal
            if len(errs) < 10:
                errs.append("idle conn %d: %s" % (i, e or type(e).__name__))
            errs.append(None)


class IdleHolder:
    """Owns an event loop in a thread holding n IDLE connections until close()."""

    def __init__(self, host, port, tls, users, password, n, parallel=64, stage="idle", first=0):
        self.loop = asyncio.new_event_loop()
        self.conns, self.errs = [], []
        self.ready = threading.Event()
        self.stop = None
        self.args = (host, port, tls, users, password, n, parallel, stage, first)
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()
        self.ready.wait()

    def _run(self):
        asyncio.set_event_loop(self.loop)
        self.loop.run_until_complete(self._main())

    async def _main(self):
        host, port, tls, users, password, n, parallel, stage, first = self.args
        ctx = tls_context() if tls else None
        sem = asyncio.Semaphore(parallel)
        self.stop = asyncio.Event()
        try:
            await asyncio.gather(*[_idle_one(i, host, port, users[i % len(users)], password, ctx, sem,
                                             self.conns, self.errs, stage) for i in range(first, first + n)])
        finally:
            self.ready.set()
        await self.stop.wait()
        for r, w in self.conns:
            try:
                w.write(b"DONE\r\na4 LOGOUT\r\n" if stage == "idle" else b"a4 LOGOUT\r\n")
                w.close()
            except Exception:
                pass
        await asyncio.sleep(0.5)

    @property
    def failures(self):
        return sum(1 for e in self.errs if e is None)

    @property
    def messages(self):
        return [e for e in self.errs if e]

    def close(self):
        if self.stop is not None:
            self.loop.call_soon_threadsafe(self.stop.set)
        self.thread.join(60)
