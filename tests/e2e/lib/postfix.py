"""
postfix.py — a private Postfix instance for the interoperability tests: a real MTA
that accepts mail on a loopback port and relays all of it to Sealbox's MX.

What it offers:
  PrivatePostfix(relay_port, hostname="mta.postfix-e2e.test", extra_main_cf="")
      .start()          writes DIR/main.cf and DIR/master.cf in a fresh directory
                        (queue, data and log inside it), `postfix -c DIR start`, waits
                        until its smtpd accepts on .port (20 s); extra_main_cf is
                        appended to main.cf (e.g. "debug_peer_list = 127.0.0.1\n")
      .stop()           `postfix -c DIR stop` (master and all its children exit), waits
                        until the port is closed, removes DIR
      .port .host .hostname .dir
      .log()            Postfix's own log (maillog_file), for failure messages
      .flush()          `postqueue -c DIR -f`: retry deferred mail at once
      .queue()          `postqueue -c DIR -p` output

The instance: inet_interfaces = loopback-only over IPv4, one smtpd listener on a free
port, mynetworks 127.0.0.0/8 (only loopback clients may relay), mydestination empty
(nothing is delivered locally), relayhost = [127.0.0.1]:<Sealbox SMTP port> (no DNS),
opportunistic STARTTLS towards Sealbox, SMTPUTF8 on. No daemon runs chrooted, so it
needs nothing outside DIR but the installed binaries. The system Postfix (/etc/postfix)
is neither read nor started.

How it fails: AssertionError carrying the command, its output and the log tail.
Needs root (Postfix's master starts as root and drops to the `postfix` user).
"""
import os
import shutil
import socket
import subprocess
import tempfile
import time

from lib.server import TIME_SCALE, free_port, port_open

MAIN_CF = """\
# A private test instance: see tests/e2e/lib/postfix.py.
compatibility_level = 3.6
queue_directory = {dir}/queue
data_directory = {dir}/data
meta_directory = /etc/postfix
command_directory = /usr/sbin
daemon_directory = /usr/lib/postfix/sbin
shlib_directory = /usr/lib/postfix
mail_owner = postfix
setgid_group = postdrop
maillog_file = {dir}/maillog
maillog_file_prefixes = {dir}
myhostname = {hostname}
mydomain = postfix-e2e.test
myorigin = $myhostname
mydestination =
inet_interfaces = loopback-only
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
smtpd_relay_restrictions = permit_mynetworks, reject
smtpd_recipient_restrictions = permit_mynetworks, reject
relayhost = [127.0.0.1]:{relay_port}
default_transport = smtp
relay_transport = smtp
smtp_dns_support_level = disabled
smtp_host_lookup = native
smtp_tls_security_level = may
# A stalled handshake (test_smtp_interop.py::test_starttls_handshake_never_stalls) shows
# within the tests' waiting time, in the log, instead of after Postfix's default 300 s.
smtp_starttls_timeout = 5s
smtp_tls_loglevel = 1
smtputf8_enable = yes
alias_maps =
alias_database =
local_recipient_maps =
biff = no
queue_run_delay = 1s
minimal_backoff_time = 1s
maximal_backoff_time = 2s
"""

# service type private unpriv chroot wakeup maxproc command
MASTER_CF = """\
127.0.0.1:{port} inet n - n - - smtpd
pickup    unix  n - n 60 1 pickup
cleanup   unix  n - n -  0 cleanup
qmgr      unix  n - n 300 1 qmgr
tlsmgr    unix  - - n 1000? 1 tlsmgr
rewrite   unix  - - n -  - trivial-rewrite
bounce    unix  - - n -  0 bounce
defer     unix  - - n -  0 bounce
trace     unix  - - n -  0 bounce
verify    unix  - - n -  1 verify
flush     unix  n - n 1000? 0 flush
proxymap  unix  - - n -  - proxymap
smtp      unix  - - n -  - smtp
relay     unix  - - n -  - smtp
showq     unix  n - n -  - showq
error     unix  - - n -  - error
retry     unix  - - n -  - error
discard   unix  - - n -  - discard
anvil     unix  - - n -  1 anvil
scache    unix  - - n -  1 scache
postlog   unix-dgram n - n - 1 postlogd
"""


class PrivatePostfix:
    host = "127.0.0.1"

    def __init__(self, relay_port, hostname="mta.postfix-e2e.test", extra_main_cf=""):
        self.relay_port = relay_port
        self.extra_main_cf = extra_main_cf
        self.hostname = hostname
        self.port = free_port()
        self.dir = None
        self.running = False

    def _run(self, *args, check=True):
        p = subprocess.run(list(args), capture_output=True, timeout=60 * TIME_SCALE)
        if check:
            assert p.returncode == 0, "%s exited %d\nstdout: %s\nstderr: %s\nlog tail:\n%s" % (
                " ".join(args), p.returncode, p.stdout.decode("utf-8", "replace")[-2000:],
                p.stderr.decode("utf-8", "replace")[-2000:], self.log()[-3000:])
        return p

    def start(self):
        assert os.geteuid() == 0, "a private Postfix needs root (its master drops to the postfix user)"
        # Not under pytest's 0700 tmp tree: the postfix user must reach its queue.
        self.dir = tempfile.mkdtemp(prefix="sealbox-postfix-")
        os.chmod(self.dir, 0o755)
        for sub in ("queue", "data"):
            os.mkdir(os.path.join(self.dir, sub), 0o755)
        shutil.chown(os.path.join(self.dir, "data"), "postfix", "postfix")
        with open(os.path.join(self.dir, "main.cf"), "w") as f:
            f.write(MAIN_CF.format(dir=self.dir, hostname=self.hostname, relay_port=self.relay_port))
            f.write(self.extra_main_cf)
        with open(os.path.join(self.dir, "master.cf"), "w") as f:
            f.write(MASTER_CF.format(port=self.port))
        # Creates the queue's subdirectories with their owners and modes.
        self._run("postfix", "-c", self.dir, "set-permissions")
        self._run("postfix", "-c", self.dir, "check")
        self._run("postfix", "-c", self.dir, "start")
        self.running = True
        deadline = time.monotonic() + 20 * TIME_SCALE
        while not port_open(self.host, self.port):
            assert time.monotonic() < deadline, "Postfix does not listen on %d; log:\n%s" % (
                self.port, self.log()[-3000:])
            time.sleep(0.1)
        return self

    def flush(self):
        self._run("postqueue", "-c", self.dir, "-f", check=False)

    def queue(self):
        return self._run("postqueue", "-c", self.dir, "-p", check=False).stdout.decode("utf-8", "replace")

    def log(self):
        if not self.dir:
            return ""
        try:
            with open(os.path.join(self.dir, "maillog"), "rb") as f:
                return f.read().decode("utf-8", "replace")
        except FileNotFoundError:
            return ""

    def stop(self):
        if self.dir is None:
            return
        try:
            if self.running:
                self._run("postfix", "-c", self.dir, "stop", check=False)
                self.running = False
                deadline = time.monotonic() + 20 * TIME_SCALE
                while port_open(self.host, self.port) or self._master_alive():
                    assert time.monotonic() < deadline, "private Postfix did not stop"
                    time.sleep(0.1)
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)
            self.dir = None

    def _master_alive(self):
        pidfile = os.path.join(self.dir, "queue", "pid", "master.pid")
        try:
            with open(pidfile) as f:
                pid = int(f.read().split()[0])
        except (FileNotFoundError, ValueError, IndexError):
            return False
        try:
            os.kill(pid, 0)
            return True
        except ProcessLookupError:
            return False


def smtp_banner(host, port, timeout=5.0):
    with socket.create_connection((host, port), timeout=timeout) as s:
        return s.recv(512)
