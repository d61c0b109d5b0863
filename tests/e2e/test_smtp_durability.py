"""
Durability of SMTP delivery under kill -9 (issue 3, "Durability (promise 3)"): a 250
is sent only after the message is durable in the mailbox or the spool.

The run: COUNT messages (each with its number and attempt in an X-Durability header,
its Message-ID and its body) go over SMTP from CLIENTS concurrent connections to
three addresses:
  ONLINE    has an IMAP session logged in with INBOX selected for the whole run (the
            key is cached: live delivery into INBOX); after each crash the session
            logs in again, which also drains what was spooled meanwhile;
  OFFLINE1/2  nobody logs in during the run: every message is sealed into the spool.
Meanwhile sealboxd is killed with SIGKILL every 0.2-0.8 s (random) and restarted on the
same data directory and ports. A client whose connection breaks reconnects; a message
without a 250 is sent again as a new attempt (its own attempt number), until every
message number has one acknowledged attempt.

The rule asserted after a clean restart and a login to each address (which drains the
spools), over every message in the three INBOXes:
  - every acknowledged attempt is there exactly once, in the right INBOX, and its
    bytes end with exactly what was sent (the server opens and serves every message);
  - an unacknowledged attempt may be there (the crash hit after the commit, before the
    250 went out: SMTP is at-least-once, RFC 5321 6.1) but at most once;
  - nothing else is there (no message that was never sent, no attempt twice);
  - a second login imports nothing more (the drain does not import again).
An unacknowledged attempt that is stored makes its message number appear twice (it
was resent): that is the sender-visible duplicate SMTP allows; it is counted and
printed, not failed.

PRAGMA integrity_check: the files are SQLite3MC files, encrypted. Those keyed with the
server key (directory.db, spool/*.db) are checked with lib/sqlcheck.c and DIR/server.key
right after the last kill -9 (before any restart recovers them) and after the final
clean stop. The mailbox files are keyed with each alias's data key, which only a login
unlocks: after the clean stop `sealbox doctor` checks each with its owner's password,
and before that the server must open every mailbox, serve every message byte-exact,
and accept new mail afterwards.

What kill -9 cannot show: the kernel keeps a killed process's written pages, so this
proves the order "commit, then 250" and crash recovery of the files, not that the commit
reached the disk (a missing fsync would pass here; that needs a power-loss setup).

The throughput seen (messages acknowledged per second, kills included) is printed, not
asserted. COUNT is above the 2,000 the issue asks for because this machine acknowledges
~300-500 messages/s (with group commit): 2,000 would give only a few kills. With 0.3-1.5 s
intervals a run of ~10 s (group commit) sometimes made only 4 kills; 0.2-0.8 s makes 10+.
"""
import random
import re
import smtplib
import threading
import time

from lib.integrity import integrity_check, server_keyed_files
from lib.mx import SamePortsServer, imap_login, inbox
from lib.helpers import select
from lib.server import TIME_SCALE

COUNT = 5000                      # messages; issue 3 asks for at least 2,000
CLIENTS = 4                       # concurrent SMTP connections
KILL_EVERY = (0.2, 0.8)           # seconds between kill -9s, uniformly random
MIN_KILLS = 5                     # the run must actually have crashed the daemon
RUN_LIMIT = 100.0 * TIME_SCALE    # seconds for the sending phase, kills included

DOMAIN = "example.org"
ONLINE = "online@example.org"
OFFLINE1 = "offline1@example.org"
OFFLINE2 = "offline2@example.org"
USERS = {
    ONLINE: "online-dur-Passw0rd!x",
    OFFLINE1: "offline1-dur-Passw0rd!",
    OFFLINE2: "offline2-dur-Passw0rd!",
}
RCPTS = (ONLINE, OFFLINE1, OFFLINE2)
SENDER = "load@elsewhere.example"


def message(n, attempt):
    rcpt = RCPTS[n % len(RCPTS)]
    return rcpt, ("From: <%s>\r\nTo: <%s>\r\nSubject: durability %d\r\n"
                  "Message-ID: <dur-%d-%d@elsewhere.example>\r\nX-Durability: %d %d\r\n\r\n"
                  "message %d attempt %d\r\n%s\r\n"
                  % (SENDER, rcpt, n, n, attempt, n, attempt, n, attempt, "x" * (n % 200))).encode()


class Run:
    """Shared state of the sending threads and the killer."""

    def __init__(self, srv):
        self.srv = srv
        self.lock = threading.Lock()
        self.todo = list(range(COUNT))      # message numbers without an acknowledged attempt
        self.inflight = 0
        self.attempts = {}                  # n -> attempts made so far
        self.sent = {}                      # (n, attempt) -> (rcpt, bytes)
        self.acked = set()                  # (n, attempt) answered 250
        self.refused = []                   # (n, attempt, reply) answered 4xx/5xx
        self.done = threading.Event()
        self.errors = []
        self.kills = 0
        self.relogins = 0

    def take(self):
        with self.lock:
            if not self.todo:
                return None
            n = self.todo.pop(0)
            a = self.attempts.get(n, 0) + 1
            self.attempts[n] = a
            self.inflight += 1
            return n, a

    def settle(self, n, a, ok):
        with self.lock:
            self.inflight -= 1
            if ok:
                self.acked.add((n, a))
                if not self.todo and self.inflight == 0:
                    self.done.set()
            else:
                self.todo.append(n)


def sender(run):
    srv = run.srv
    conn = None
    try:
        while not run.done.is_set():
            item = run.take()
            if item is None:
                time.sleep(0.01)
                continue
            n, a = item
            rcpt, data = message(n, a)
            with run.lock:
                run.sent[(n, a)] = (rcpt, data)
            ok = False
            try:
                if conn is None:
                    conn = smtplib.SMTP(srv.host, srv.smtp_port, local_hostname="load.example",
                                        timeout=10 * TIME_SCALE)
                refused = conn.sendmail(SENDER, [rcpt], data)
                ok = refused == {}
            except smtplib.SMTPResponseException as e:
                # A 4xx/5xx reply is an answer, not an acknowledgement: resent. A daemon
                # killed mid-reply shows up as a disconnect, not here.
                with run.lock:
                    run.refused.append((n, a, e.smtp_code, e.smtp_error))
                conn = _drop(conn)
            except (smtplib.SMTPException, OSError):
                conn = _drop(conn)          # killed: reconnect on the next message
                time.sleep(0.02)
            run.settle(n, a, ok)
    except Exception as e:                  # noqa: BLE001 - reported by the test
        run.errors.append("sender: %r" % e)
        run.done.set()
    finally:
        _drop(conn)


def _drop(conn):
    if conn is not None:
        try:
            conn.close()
        except Exception:
            pass
    return None


def killer(run, rng):
    """Keeps ONLINE logged in with INBOX selected; kill -9 + restart at random points."""
    srv = run.srv
    online = None
    try:
        while not run.done.is_set():
            if online is None:
                online = imap_login(srv, ONLINE)
                select(online, "INBOX")
                run.relogins += 1
            if run.done.wait(rng.uniform(*KILL_EVERY)):
                break
            srv.kill()
            run.kills += 1
            online.close()
            online = None
            srv.start()
    except Exception as e:                  # noqa: BLE001 - reported by the test
        run.errors.append("killer: %r" % e)
        run.done.set()
    finally:
        if online is not None:
            online.close()


def test_every_acknowledged_message_survives_repeated_kill_9(tmp_path):
    srv = SamePortsServer(str(tmp_path / "dur"))
    srv.setup(domains=(DOMAIN,), users=USERS)
    srv.start()
    run = Run(srv)
    try:
        seed = random.randrange(1 << 30)
        print("\nkill schedule seed %d" % seed)
        threads = [threading.Thread(target=sender, args=(run,), daemon=True) for _ in range(CLIENTS)]
        threads.append(threading.Thread(target=killer, args=(run, random.Random(seed)), daemon=True))
        t0 = time.monotonic()
        for t in threads:
            t.start()
        finished = run.done.wait(RUN_LIMIT)
        elapsed = time.monotonic() - t0
        run.done.set()
        for t in threads:
            t.join(30 * TIME_SCALE)
        assert not run.errors, run.errors
        assert finished, "only %d of %d messages acknowledged within %.0fs (%d kills); stderr tail:\n%s" % (
            len(run.acked), COUNT, RUN_LIMIT, run.kills, srv.log()[-3000:].decode("utf-8", "replace"))
        attempts = len(run.sent)
        print("%d messages acknowledged in %.1fs: %.0f messages/s with %d kill -9s and %d IMAP re-logins "
              "(%d attempts, %d refused replies)"
              % (COUNT, elapsed, COUNT / elapsed, run.kills, run.relogins, attempts, len(run.refused)))
        assert run.kills >= MIN_KILLS, "only %d kills: the run proved little" % run.kills
        assert len({n for n, _ in run.acked}) == COUNT

        # The state the last kill -9 left, before a restart recovers anything.
        srv.kill()
        files = server_keyed_files(srv.dir)
        assert len(files) >= 3, "expected directory.db and the spools of %s and %s: %r" % (OFFLINE1, OFFLINE2, files)
        ok, out = integrity_check(srv.dir, files)
        assert ok, "PRAGMA integrity_check after kill -9:\n" + out

        # Clean restart, then log in to each address.
        srv.start()
        seen = {}                                   # (n, attempt) -> count
        for user in RCPTS:
            r = imap_login(srv, user)
            msgs = inbox(r)
            for seq, raw in msgs.items():
                m = re.search(rb"\r\nX-Durability: (\d+) (\d+)\r\n", raw)
                assert m, "%s INBOX %d: a message the test never sent: %r" % (user, seq, raw[:300])
                key = (int(m.group(1)), int(m.group(2)))
                assert key in run.sent, "%s INBOX %d: attempt %r was never sent" % (user, seq, key)
                rcpt, data = run.sent[key]
                assert rcpt == user, "attempt %r for %s is in the INBOX of %s" % (key, rcpt, user)
                assert raw.endswith(data), "attempt %r served with other bytes: %r" % (key, raw[-400:])
                assert raw.startswith(b"Return-Path: <%s>\r\nReceived: " % SENDER.encode()), raw[:200]
                seen[key] = seen.get(key, 0) + 1
            r.logout()
            # A second login imports nothing again.
            r = imap_login(srv, user)
            again = inbox(r)
            r.logout()
            assert len(again) == len(msgs), "%s: %d messages at the first login, %d at the second" % (
                user, len(msgs), len(again))

        # Live and spooled both happened: the daemon logs (by mailbox id) what each drain
        # imported, and what it found imported before (by a concurrent drain, or before a
        # crash that fell between the import's commit and the entry's deletion: the
        # exactly-once path).
        ids = {}
        for line in srv.cli("alias", "list").stdout.decode().splitlines():
            f = line.split()
            if len(f) >= 2 and f[0] in USERS:
                ids[f[0]] = f[1]
        assert set(ids) == set(USERS), "sealbox alias list: %r" % ids
        drained = {a: [0, 0] for a in USERS}
        for m in re.finditer(rb"mailbox ([0-9a-f]+): spool drained into INBOX: (\d+) imported, (\d+) imported before",
                             srv.log()):
            for a, mid in ids.items():
                if m.group(1).decode() == mid:
                    drained[a][0] += int(m.group(2))
                    drained[a][1] += int(m.group(3))
        online_total = sum(1 for k in seen if run.sent[k][0] == ONLINE)
        print("from the spool: " + ", ".join("%s %d imported (%d found imported before)" % (a, n, d)
                                              for a, (n, d) in sorted(drained.items())))
        print("%s: %d of %d messages delivered live" % (ONLINE, online_total - drained[ONLINE][0], online_total))
        assert drained[ONLINE][0] < online_total, "no live delivery to %s: its session did not hold the key" % ONLINE
        for a in (OFFLINE1, OFFLINE2):
            n = sum(1 for k in seen if run.sent[k][0] == a)
            assert drained[a][0] == n, "%s: %d in INBOX but %d imported from its spool" % (a, n, drained[a][0])

        twice = sorted(k for k, c in seen.items() if c > 1)
        assert not twice, "attempts stored more than once: %r" % twice[:20]
        lost = sorted(run.acked - set(seen))
        assert not lost, "%d acknowledged messages lost, e.g. %r" % (len(lost), lost[:20])
        extra = sorted(set(seen) - run.acked)
        print("%d messages in the INBOXes: %d acknowledged, %d stored without a 250 (resent, so "
              "their sender sees a duplicate)" % (sum(seen.values()), len(run.acked), len(extra)))

        # The server still takes mail into every mailbox after all this.
        s = smtplib.SMTP(srv.host, srv.smtp_port, local_hostname="load.example", timeout=10 * TIME_SCALE)
        for user in RCPTS:
            assert s.sendmail(SENDER, [user], b"Subject: after\r\n\r\nstill alive\r\n") == {}
        s.quit()
        for user in RCPTS:
            r = imap_login(srv, user)
            msgs = inbox(r)
            assert msgs[max(msgs)].endswith(b"Subject: after\r\n\r\nstill alive\r\n")
            r.logout()
    finally:
        run.done.set()
        alive = srv.alive()
        rc = srv.stop()
    assert alive, "sealboxd died; stderr tail:\n%s" % srv.log()[-3000:].decode("utf-8", "replace")
    assert rc == 0, "sealboxd exited %r on SIGTERM" % rc
    ok, out = integrity_check(srv.dir, server_keyed_files(srv.dir))
    assert ok, "PRAGMA integrity_check after the clean stop:\n" + out
    # The mailbox files, with each owner's key: `sealbox doctor` logs in with the
    # password and runs PRAGMA integrity_check over the whole encrypted file.
    for user, pw in USERS.items():
        p = srv.cli("doctor", user, input=(pw + "\n").encode(), check=False)
        assert p.returncode == 0 and p.stdout == b"ok\n", (user, p.stdout, p.stderr)
