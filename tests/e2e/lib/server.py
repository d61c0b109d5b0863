"""
server.py — starts and stops the real sealboxd for the end-to-end tests.

What it offers:
  build_dir() -> absolute path of $SEALBOX_BUILD (default "build" under the repo root)
  Server(workdir)          one data directory DIR = workdir/data, logs beside it
    .cli(*args, input=None, check=True)   runs `sealbox -d DIR ...`
    .setup(domains, users)               init + domain add + alias add --password-stdin
    .start(extra_args=None)              sealboxd -d DIR --imap .. --imaps .. on free ports;
                                         waits until both ports accept (20 s); extra_args
                                         (or the constructor's) are appended, e.g.
                                         ["--relay", "127.0.0.1:PORT"]
    .stop() -> exit status               SIGTERM, wait
    .kill()                              SIGKILL, wait (crash simulation)
    .imap_port .imaps_port .smtp_port .host .cert   where and how to connect
    .log()                               the daemon's stderr so far (bytes), all runs
  free_port()

What it promises: every process it starts is stopped by stop()/kill() (the
fixtures call them in teardown); ports are picked by binding port 0.

How it fails: a missing binary, a CLI command that exits non-zero, or a daemon
that does not accept connections within 20 s raises AssertionError with the
command, its exit status and its output, so the test report says why.
"""
import os
import re
import signal
import socket
import subprocess
import time

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))
START_TIMEOUT = 20.0
STOP_TIMEOUT = 15.0
# Sanitizer builds are several times slower; scale every waiting time by this.
TIME_SCALE = float(os.environ.get("SEALBOX_E2E_TIME_SCALE", "1"))


def build_dir():
    b = os.environ.get("SEALBOX_BUILD", "build")
    return b if os.path.isabs(b) else os.path.join(REPO, b)


def binaries():
    b = build_dir()
    d, c = os.path.join(b, "sealboxd"), os.path.join(b, "sealbox")
    for p in (d, c):
        assert os.access(p, os.X_OK), "%s is missing or not executable (build it: make O=%s all)" % (p, b)
    return d, c


def free_port():
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def port_open(host, port):
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


class Server:
    host = "127.0.0.1"

    def __init__(self, workdir, extra_args=None):
        self.sealboxd, self.sealbox = binaries()
        self.extra_args = list(extra_args or [])
        self.workdir = workdir
        self.dir = os.path.join(workdir, "data")
        self.log_path = os.path.join(workdir, "sealboxd.stderr")
        self.out_path = os.path.join(workdir, "sealboxd.stdout")
        self.cert = os.path.join(self.dir, "tls", "cert.pem")
        # The daemon's and CLI's TMPDIR, inside the work directory, so that the at-rest
        # test can scan whatever temporary files they leave.
        self.tmpdir = os.path.join(workdir, "tmp")
        os.makedirs(self.tmpdir, exist_ok=True)
        self.env = dict(os.environ, TMPDIR=self.tmpdir)
        self.proc = None
        self.imap_port = self.imaps_port = self.smtp_port = None
        self.users = {}

    # --- admin CLI -----------------------------------------------------------------
    def cli(self, *args, input=None, check=True, timeout=60):
        cmd = [self.sealbox, "-d", self.dir] + list(args)
        p = subprocess.run(cmd, input=input, capture_output=True, timeout=timeout * TIME_SCALE, env=self.env)
        if check:
            assert p.returncode == 0, "%s exited %d\nstdout: %r\nstderr: %r" % (
                " ".join(cmd[:4] + ["..."] if "password" in " ".join(args) else cmd),
                p.returncode, p.stdout[-2000:], p.stderr[-2000:])
        return p

    def setup(self, domains=("example.org",), users=None):
        self.cli("init")
        assert os.path.isfile(self.cert), "sealbox init made no %s" % self.cert
        for d in domains:
            self.cli("domain", "add", d)
        for addr, pw in (users or {}).items():
            self.add_user(addr, pw)

    def add_user(self, addr, password):
        self.cli("alias", "add", "--password-stdin", addr, input=(password + "\n").encode())
        self.users[addr] = password

    # --- daemon --------------------------------------------------------------------
    def start(self, extra_args=None):
        assert self.proc is None, "server already running"
        if extra_args is not None:
            self.extra_args = list(extra_args)
        ports = set()
        while len(ports) < 3:
            ports.add(free_port())
        self.imap_port, self.imaps_port, self.smtp_port = sorted(ports)
        err = open(self.log_path, "ab")
        out = open(self.out_path, "ab")
        self.proc = subprocess.Popen(
            [self.sealboxd, "-d", self.dir,
             "--imap", "%s:%d" % (self.host, self.imap_port),
             "--imaps", "%s:%d" % (self.host, self.imaps_port),
             "--smtp", "%s:%d" % (self.host, self.smtp_port)] + self.extra_args,
            stdin=subprocess.DEVNULL, stdout=out, stderr=err, env=self.env)
        err.close()
        out.close()
        deadline = time.monotonic() + START_TIMEOUT * TIME_SCALE
        while True:
            rc = self.proc.poll()
            if rc is not None:
                self.proc = None
                raise AssertionError("sealboxd exited %d during start-up; stderr:\n%s"
                                     % (rc, self.log()[-4000:].decode("utf-8", "replace")))
            if port_open(self.host, self.imap_port) and port_open(self.host, self.imaps_port):
                return
            if time.monotonic() > deadline:
                self.kill()
                raise AssertionError("sealboxd did not accept connections on %d/%d within %ds; stderr:\n%s"
                                     % (self.imap_port, self.imaps_port, START_TIMEOUT,
                                        self.log()[-4000:].decode("utf-8", "replace")))
            time.sleep(0.05)

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self):
        """SIGTERM and wait; returns the exit status (None if it was not running)."""
        if self.proc is None:
            return None
        p, self.proc = self.proc, None
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
        try:
            return p.wait(STOP_TIMEOUT * TIME_SCALE)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
            raise AssertionError("sealboxd did not stop within %ds of SIGTERM" % STOP_TIMEOUT)

    def kill(self):
        if self.proc is None:
            return
        p, self.proc = self.proc, None
        if p.poll() is None:
            p.kill()
        p.wait()

    def stdout(self):
        try:
            with open(self.out_path, "rb") as f:
                return f.read()
        except FileNotFoundError:
            return b""

    def log(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read()
        except FileNotFoundError:
            return b""


def set_conf(path, key, value):
    """Sets `key = value` in a sealbox.conf, replacing the line or adding one."""
    with open(path) as f:
        text = f.read()
    line = "%s = %s" % (key, value)
    text, n = re.subn(r"(?m)^%s\s*=.*$" % re.escape(key), line, text)
    if n == 0:
        text += "\n" + line + "\n"
    with open(path, "w") as f:
        f.write(text)
