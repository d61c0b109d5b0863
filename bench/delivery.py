#!/usr/bin/python3
"""
bench/delivery.py — SMTP delivery: Sealbox vs Postfix delivering to Dovecot (LMTP),
side by side, in one run.

What it offers: `bench/delivery.py [--build DIR] [--clients N] [--messages M]
[--addresses K] [--size OCTETS] [--only sealbox|postfix] [--keep]` (as root, on
loopback only):
  1. installs postfix, dovecot-imapd and dovecot-lmtpd with apt if missing (the
     system services are kept stopped; /etc/postfix and /etc/dovecot are never used);
  2. in a fresh temp dir: a Sealbox data directory, and a private Postfix instance
     (queue, config, log in the temp dir; tests/e2e/lib/postfix.py's configuration)
     that accepts mail for bench.test and hands it to a private Dovecot over LMTP
     (passwd-file users, Maildir); the same K addresses everywhere;
  3. per system, one after the other (they never compete for the cores): IMAP
     sessions in IDLE for the first half of the addresses (Sealbox: live delivery
     into INBOX; the other half is offline: sealed into the spool), then N SMTP
     clients deliver M messages (message i to address i mod K, OCTETS each, from a
     fresh connection per client that is reused), timing each transaction from MAIL
     to the reply to the end of data;
  4. checks that every acknowledged message arrived (Sealbox: after a login of each
     address, which drains the spools; Dovecot: files in the Maildirs);
  5. prints a Markdown table and writes it to bench/results/<date>-delivery.md with
     the machine it ran on (bench/run's machine description).

What the numbers mean: Sealbox's 250 is sent after the message is committed
(fsynced) in the mailbox or the spool. Postfix's 250 is sent after the message is
fsynced in its queue; delivery to Dovecot happens later. So two throughputs:
"acknowledged" (250s per second) and "in the mailbox" (M / time until the last
message is stored in the recipient's mailbox: for Postfix+Dovecot, until the last
Maildir file appears). Latency is MAIL FROM to 250, per message (p50, p99).

What it promises: every process it starts is stopped on normal exit, on error and on
Ctrl-C/SIGTERM (bench/run's cleanup; the servers also get PR_SET_PDEATHSIG); the temp
dir is removed unless --keep. A refused or lost message is counted, never hidden.

How it fails: a setup step that fails stops the run with a message (after cleanup)
and exit status 1; delivery failures appear in the table.
"""
import argparse
import atexit
import datetime
import imaplib
import os
import shutil
import signal
import smtplib
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.dont_write_bytecode = True


import runlib  # noqa: E402  (bench/, this script's directory, is on sys.path)

R = runlib.load()
sys.path.insert(0, os.path.join(REPO, "tests", "e2e"))
from lib import postfix as pfmod  # noqa: E402

PASSWORD = R.PASSWORD
DOMAIN = R.DOMAIN
SENDER = "load@sender.example"
log = R.log


# --- the load --------------------------------------------------------------------------

def message(i, rcpt, size):
    head = ("From: <%s>\r\nTo: <%s>\r\nSubject: delivery bench %d\r\n"
            "Message-ID: <bench-%d@sender.example>\r\nX-Bench: %d\r\n"
            "Content-Type: text/plain; charset=us-ascii\r\n\r\n" % (SENDER, rcpt, i, i, i))
    line = "The quick brown fox jumps over the lazy dog %08d.\r\n" % i
    body = line * max(1, (size - len(head)) // len(line))
    return (head + body).encode()


class Load:
    def __init__(self, port, users, clients, count, size):
        self.port, self.users, self.clients, self.count, self.size = port, users, clients, count, size
        self.lock = threading.Lock()
        self.next = 0
        self.lat = []
        self.acked = {}          # user -> messages acknowledged
        self.failed = 0
        self.errors = []

    def take(self):
        with self.lock:
            if self.next >= self.count:
                return None
            self.next += 1
            return self.next - 1

    def client(self):
        conn = None
        while True:
            i = self.take()
            if i is None:
                break
            rcpt = self.users[i % len(self.users)]
            data = message(i, rcpt, self.size)
            try:
                if conn is None:
                    conn = smtplib.SMTP("127.0.0.1", self.port, local_hostname="load.example", timeout=60)
                t0 = time.monotonic()
                refused = conn.sendmail(SENDER, [rcpt], data)
                dt = time.monotonic() - t0
                with self.lock:
                    if refused:
                        self.failed += 1
                    else:
                        self.lat.append(dt)
                        self.acked[rcpt] = self.acked.get(rcpt, 0) + 1
            except (smtplib.SMTPException, OSError) as e:
                with self.lock:
                    self.failed += 1
                    if len(self.errors) < 10:
                        self.errors.append("message %d: %r" % (i, e))
                try:
                    if conn is not None:
                        conn.close()
                except Exception:
                    pass
                conn = None
        if conn is not None:
            try:
                conn.quit()
            except Exception:
                pass

    def run(self):
        threads = [threading.Thread(target=self.client, daemon=True) for _ in range(self.clients)]
        t0 = time.monotonic()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.wall = time.monotonic() - t0
        self.t0 = t0
        return self


def imap_sessions(port, users):
    """One logged-in session per user in IDLE on INBOX (RFC 2177), kept during the load:
    what a mail client that is open looks like."""
    out = []
    for u in users:
        m = imaplib.IMAP4("127.0.0.1", port, timeout=60)
        m.login(u, PASSWORD)
        m.select("INBOX")
        m.send(b"I1 IDLE\r\n")
        line = m.readline()
        if not line.startswith(b"+"):
            raise SystemExit("IDLE refused for %s: %r" % (u, line))
        out.append(m)
    return out


def close_sessions(sessions):
    for m in sessions:
        try:
            m.send(b"DONE\r\n")
            while not m.readline().startswith(b"I1 "):
                pass
            m.logout()
        except Exception:
            pass


def inbox_count(port, user):
    m = imaplib.IMAP4("127.0.0.1", port, timeout=120)
    m.login(user, PASSWORD)
    typ, data = m.status("INBOX", "(MESSAGES)")
    m.logout()
    return int(data[0].split(b"MESSAGES ")[1].rstrip(b")"))


def summarize(load, cpu, in_mailbox_s):
    n = len(load.lat)
    return dict(acked=n, failed=load.failed, errors=load.errors, wall=load.wall,
                acked_s=n / load.wall if load.wall else float("nan"),
                mailbox_s=n / in_mailbox_s if in_mailbox_s else float("nan"),
                p50=R.pct(load.lat, 50) * 1000, p99=R.pct(load.lat, 99) * 1000,
                cpu_ms=cpu * 1000 / n if n else float("nan"))


# --- Sealbox -------------------------------------------------------------------------------

def bench_sealbox(root, build, users, a):
    d = os.path.join(root, "sealbox")
    os.makedirs(d)
    cli, data = os.path.join(build, "sealbox"), os.path.join(d, "data")
    env = dict(os.environ, TMPDIR=d)
    R.sh([cli, "-d", data, "init"], env=env)
    R.sh([cli, "-d", data, "domain", "add", DOMAIN], env=env)
    for u in users:
        R.sh([cli, "-d", data, "alias", "add", u, "--password-stdin"], input=(PASSWORD + "\n").encode(), env=env)
    smtp, imap = R.free_port(), R.free_port()
    p = subprocess.Popen([os.path.join(build, "sealboxd"), "-d", data, "--no-demo", "--imaps", "off",
                          "--imap", "127.0.0.1:%d" % imap, "--smtp", "127.0.0.1:%d" % smtp],
                         stdin=subprocess.DEVNULL, stdout=open(d + "/stdout", "wb"),
                         stderr=open(d + "/stderr", "wb"), env=env, preexec_fn=R.die_with_parent)
    R.PROCS.append(p)
    try:
        R.wait_port(smtp, p, "sealboxd")
        R.wait_port(imap, p, "sealboxd")
        online = users[:len(users) // 2]
        sessions = imap_sessions(imap, online)
        log("Sealbox: %d IMAP sessions in IDLE (live delivery), %d addresses offline (sealed spool)" % (
            len(online), len(users) - len(online)))
        cpu0 = R.cpu_seconds(p.pid)
        load = Load(smtp, users, a.clients, a.messages, a.size).run()
        cpu = R.cpu_seconds(p.pid) - cpu0
        close_sessions(sessions)
        res = summarize(load, cpu, load.wall)
        # Every acknowledged message is in its INBOX (the login drains the spool).
        lost = 0
        for u in users:
            got = inbox_count(imap, u)
            if got != load.acked.get(u, 0):
                lost += abs(load.acked.get(u, 0) - got)
                res["errors"].append("Sealbox %s: %d acknowledged, %d in INBOX" % (u, load.acked.get(u, 0), got))
        res["lost"] = lost
        log("Sealbox: %d acknowledged in %.1f s (%.0f/s), p50 %.1f ms, p99 %.1f ms, %d failed, %d missing" % (
            res["acked"], res["wall"], res["acked_s"], res["p50"], res["p99"], res["failed"], lost))
        return res
    finally:
        if p.poll() is None:
            p.terminate()
            p.wait(30)
        R.PROCS.remove(p)


# --- Postfix -> Dovecot (LMTP) ----------------------------------------------------------------

def ensure_packages():
    need = []
    if not shutil.which("postfix"):
        need.append("postfix")
    if not shutil.which("dovecot"):
        need.append("dovecot-imapd")
    if not os.path.exists("/usr/lib/dovecot/lmtp"):
        need.append("dovecot-lmtpd")
    if need:
        log("installing %s (apt, noninteractive; the services are kept off)" % " ".join(need))
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        pol = "/usr/sbin/policy-rc.d"
        had = os.path.exists(pol)
        if not had:
            with open(pol, "w") as f:
                f.write("#!/bin/sh\nexit 101\n")
            os.chmod(pol, 0o755)
        try:
            subprocess.run(["apt-get", "update"], env=env, capture_output=True)
            R.sh(["apt-get", "install", "-y", "--no-install-recommends"] + need, env=env)
        finally:
            if not had:
                os.unlink(pol)
    for svc in ("postfix", "dovecot"):
        for cmd in (["systemctl", "disable", "--now", svc], ["service", svc, "stop"]):
            if shutil.which(cmd[0]):
                subprocess.run(cmd, capture_output=True)


DOVECOT_CONF = """# Private benchmark instance (NOT the system service). Generated by bench/delivery.py.
base_dir = {d}/run
state_dir = {d}/state
instance_name = bench-delivery
log_path = {d}/dovecot.log
info_log_path = {d}/dovecot.log
protocols = imap lmtp
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
mail_location = maildir:~/Maildir
first_valid_uid = 1
default_internal_user = dovecot
default_login_user = dovenull
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {imap}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
service lmtp {{
  inet_listener lmtp {{
    address = 127.0.0.1
    port = {lmtp}
  }}
}}
passdb {{
  driver = passwd-file
  args = username_format=%u {d}/users
}}
userdb {{
  driver = passwd-file
  args = username_format=%u {d}/users
}}
"""

# Postfix: tests/e2e/lib/postfix.py's private instance, told to take bench.test itself
# and hand it to Dovecot's LMTP (the last setting of a main.cf parameter wins).
POSTFIX_EXTRA = """
# bench/delivery.py: accept bench.test, deliver it over LMTP to the private Dovecot.
relayhost =
relay_domains = {domain}
relay_recipient_maps =
relay_transport = lmtp:inet:127.0.0.1:{lmtp}
smtpd_recipient_restrictions = permit_mynetworks, reject
"""


def maildir_count(home):
    n = 0
    for dp, _, fs in os.walk(home):
        if dp.endswith("/new") or dp.endswith("/cur"):
            n += sum(1 for f in fs if not f.startswith("."))
    return n


def bench_postfix(root, users, a):
    d = os.path.join(root, "dovecot")
    home = os.path.join(d, "home")
    os.makedirs(home)
    for x in (d, home):
        os.chmod(x, 0o755)
    pwhash = R.sh(["doveadm", "pw", "-s", "SHA512-CRYPT", "-p", PASSWORD]).decode().strip()
    with open(d + "/users", "w") as f:
        for u in users:
            h = os.path.join(home, u)
            os.makedirs(h)
            os.chown(h, R.MAIL_UID, R.MAIL_UID)
            f.write("%s:%s:%d:%d::%s::\n" % (u, pwhash, R.MAIL_UID, R.MAIL_UID, h))
    imap, lmtp = R.free_port(), R.free_port()
    with open(d + "/dovecot.conf", "w") as f:
        f.write(DOVECOT_CONF.format(d=d, imap=imap, lmtp=lmtp))
    dv = subprocess.Popen(["dovecot", "-F", "-c", d + "/dovecot.conf"], stdin=subprocess.DEVNULL,
                          preexec_fn=R.die_with_parent, stdout=open(d + "/stdout", "wb"), stderr=subprocess.STDOUT)
    R.PROCS.append(dv)
    # The LMTP transport needs its master.cf service line.
    if "\nlmtp " not in pfmod.MASTER_CF:
        pfmod.MASTER_CF += "lmtp      unix  - - n -  - lmtp\n"
    pf = pfmod.PrivatePostfix(0, hostname="mx.postfix-bench.test",
                              extra_main_cf=POSTFIX_EXTRA.format(domain=DOMAIN, lmtp=lmtp))
    sessions = []
    try:
        R.wait_port(imap, dv, "dovecot")
        R.wait_port(lmtp, dv, "dovecot")
        pf.start()
        online = users[:len(users) // 2]
        sessions = imap_sessions(imap, online)
        log("Postfix+Dovecot: %d IMAP sessions in IDLE, %d addresses without one" % (
            len(online), len(users) - len(online)))
        master = int(open(os.path.join(pf.dir, "queue", "pid", "master.pid")).read().split()[0])
        cpu0 = R.cpu_seconds(master) + R.cpu_seconds(dv.pid)
        load = Load(pf.port, users, a.clients, a.messages, a.size).run()
        want = sum(load.acked.values())
        deadline = time.monotonic() + 300
        while maildir_count(home) < want and time.monotonic() < deadline:
            time.sleep(0.02)
        done = time.monotonic() - load.t0
        cpu = R.cpu_seconds(master) + R.cpu_seconds(dv.pid) - cpu0
        res = summarize(load, cpu, done)
        got = maildir_count(home)
        res["lost"] = max(0, want - got)
        if got != want:
            res["errors"].append("Postfix+Dovecot: %d acknowledged, %d in the Maildirs after 300 s" % (want, got))
        log("Postfix+Dovecot: %d acknowledged in %.1f s (%.0f/s), all in Maildir after %.1f s; p50 %.1f ms, "
            "p99 %.1f ms, %d failed" % (res["acked"], res["wall"], res["acked_s"], done, res["p50"], res["p99"],
                                        res["failed"]))
        return res
    finally:
        close_sessions(sessions)
        try:
            pf.stop()
        except AssertionError as e:
            log("postfix stop: %s" % e)
        if dv.poll() is None:
            dv.terminate()
            dv.wait(30)
        R.PROCS.remove(dv)


# --- report ----------------------------------------------------------------------------

def report(a, res, started):
    S, P = res.get("Sealbox"), res.get("Postfix+Dovecot")
    lines = ["# SMTP delivery benchmark: Sealbox vs Postfix -> Dovecot (LMTP), %s" % started, "",
             "| machine | |", "|---|---|"]
    mach = R.machine()
    pfv = subprocess.run(["postconf", "-d", "-h", "mail_version"], capture_output=True).stdout.decode().strip()
    at = next((i + 1 for i, (k, _) in enumerate(mach) if k == "Dovecot"), len(mach))
    mach.insert(at, ("Postfix", pfv or "?"))
    lines += ["| %s | %s |" % kv for kv in mach]
    lines += ["", "Load: %d concurrent SMTP clients (Python smtplib, one thread and one reused connection each, "
              "on the same machine) deliver %d messages of %d octets to %d addresses (message i to address "
              "i mod %d); IMAP sessions are logged in and in IDLE for half of the addresses during the load (Sealbox: live "
              "delivery into INBOX; the other half is sealed into the spool). Plain SMTP on loopback, no TLS. "
              "The systems run one after the other." % (a.clients, a.messages, a.size, a.addresses, a.addresses),
              "", "Sealbox's 250 follows the COMMIT (fsync) into the mailbox or spool; Postfix's 250 follows the "
              "fsync of its queue file, delivery to Dovecot (LMTP, Maildir) comes after. *In the mailbox* counts "
              "until the last message is stored where its owner reads it.", "",
              "| measure | better | Sealbox | Postfix -> Dovecot | Sealbox / Postfix |", "|---|---|---|---|---|"]

    def row(label, key, better, digits=1):
        x = key(S) if S else None
        y = key(P) if P else None
        lines.append("| %s | %s | %s | %s | %s |" % (label, better, R.fmt(x, digits), R.fmt(y, digits),
                                                     R.ratio(x, y, better == "higher")))
    row("messages/s acknowledged (250)", lambda r: r["acked_s"], "higher")
    row("messages/s in the mailbox", lambda r: r["mailbox_s"], "higher")
    row("latency MAIL to 250, p50 (ms)", lambda r: r["p50"], "lower", 2)
    row("latency MAIL to 250, p99 (ms)", lambda r: r["p99"], "lower", 2)
    row("server CPU per message (ms)", lambda r: r["cpu_ms"], "lower", 3)
    row("refused or failed transactions", lambda r: r["failed"], "lower", 0)
    row("acknowledged but not in the mailbox", lambda r: r["lost"], "lower", 0)
    errs = [e for r in (S, P) if r for e in r["errors"]]
    if errs:
        lines += ["", "Failures:", ""] + ["- %s" % e.replace("|", "/") for e in errs]
    if a.note:
        lines += ["", "Note: %s" % a.note]
    return "\n".join(lines) + "\n"


def main():
    ap = argparse.ArgumentParser(description="SMTP delivery benchmark: Sealbox vs Postfix -> Dovecot LMTP")
    ap.add_argument("--build", default=os.environ.get("O", "build"), help="Sealbox build dir (default $O or build)")
    ap.add_argument("--clients", type=int, default=8, help="concurrent SMTP clients (default 8)")
    ap.add_argument("--messages", type=int, default=3000, help="messages in all (default 3000)")
    ap.add_argument("--addresses", type=int, default=8, help="recipient addresses, half online (default 8)")
    ap.add_argument("--size", type=int, default=4096, help="octets per message (default 4096)")
    ap.add_argument("--only", choices=("sealbox", "postfix"), help="measure one system only")
    ap.add_argument("--note", default="", help="a sentence added under the table (e.g. machine load)")
    ap.add_argument("--keep", action="store_true", help="keep the temp dir (configs, logs, mail)")
    a = ap.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("bench/delivery.py must run as root (Postfix and Dovecot drop privileges)")
    build = a.build if os.path.isabs(a.build) else os.path.join(REPO, a.build)
    for b in ("sealboxd", "sealbox"):
        if a.only != "postfix" and not os.access(os.path.join(build, b), os.X_OK):
            raise SystemExit("%s/%s missing: make O=%s all" % (build, b, a.build))
    atexit.register(R.cleanup)
    signal.signal(signal.SIGINT, R.on_signal)
    signal.signal(signal.SIGTERM, R.on_signal)
    started = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    if a.only != "sealbox":
        ensure_packages()
    R.TMP[0] = tempfile.mkdtemp(prefix="sealbox-bench-delivery.")
    R.TMP[1] = not a.keep
    os.chmod(R.TMP[0], 0o755)
    log("work dir %s" % R.TMP[0])
    users = ["u%03d@%s" % (i, DOMAIN) for i in range(a.addresses)]
    res = {}
    if a.only != "postfix":
        res["Sealbox"] = bench_sealbox(R.TMP[0], build, users, a)
    if a.only != "sealbox":
        res["Postfix+Dovecot"] = bench_postfix(R.TMP[0], users, a)
    text = report(a, res, started)
    print(text)
    if not a.only:
        outdir = os.path.join(HERE, "results")
        os.makedirs(outdir, exist_ok=True)
        path = os.path.join(outdir, "%s-delivery.md" % datetime.date.today().isoformat())
        with open(path, "w") as f:
            f.write(text)
        log("written %s" % path)


if __name__ == "__main__":
    try:
        main()
    finally:
        R.cleanup()
