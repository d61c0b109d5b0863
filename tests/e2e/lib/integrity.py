"""
integrity.py — PRAGMA integrity_check on the files of a data directory that the
server key opens (directory.db and spool/*.db), through lib/sqlcheck.c.

What it offers:
  server_keyed_files(datadir) -> [paths]     directory.db and every spool/*.db
  integrity_check(datadir, paths) -> (ok, output)
      builds lib/sqlcheck.c once per process into a temporary directory with the
      shared SQLite3MC object (build/deps/sqlite3mc/sqlite3.o, as the Makefile builds
      it) and runs it with DIR/server.key on the paths.

What it does not reach: the mailbox files (mailboxes/*.db) are keyed with each alias's
data key, unlocked only by a login; their check is the server serving every message,
until a `sealbox doctor` can run integrity_check with the keys.

How it fails: AssertionError when gcc or the SQLite3MC object is missing, or the build
fails, with the command's output.
"""
import atexit
import glob
import os
import shutil
import subprocess
import tempfile

from lib.server import REPO

_SQLDIR = os.path.join(REPO, "build", "deps", "sqlite3mc")
_built = {}


def _tool():
    if "path" in _built:
        return _built["path"]
    obj = os.path.join(_SQLDIR, "sqlite3.o")
    assert os.path.isfile(obj), "%s is missing (run `make` once: it builds SQLite3MC there)" % obj
    tmp = tempfile.mkdtemp(prefix="sealbox-sqlcheck-")
    atexit.register(shutil.rmtree, tmp, True)
    out = os.path.join(tmp, "sqlcheck")
    cmd = ["gcc", "-O1", "-w", "-I", _SQLDIR, "-o", out, os.path.join(os.path.dirname(__file__), "sqlcheck.c"),
           obj, "-lpthread", "-ldl", "-lm"]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, "building sqlcheck failed: %s\n%s%s" % (" ".join(cmd), p.stdout, p.stderr)
    _built["path"] = out
    return out


def server_keyed_files(datadir):
    return [os.path.join(datadir, "directory.db")] + sorted(glob.glob(os.path.join(datadir, "spool", "*.db")))


def integrity_check(datadir, paths):
    p = subprocess.run([_tool(), os.path.join(datadir, "server.key")] + list(paths),
                       capture_output=True, text=True, timeout=120)
    return p.returncode == 0, p.stdout + p.stderr
