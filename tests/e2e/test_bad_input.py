"""
Hostile and malformed input (DESIGN.md promise 5): garbage gets BAD and the session
goes on; over-long lines and literals are refused without being buffered; bad mailbox
names are refused; random bytes never crash the server.
"""
import random
import re
import socket
import time

import pytest

from conftest import ALICE, USERS
from lib.helpers import capabilities, status
from lib.imapwire import Raw, list_entries, quote
from lib.server import TIME_SCALE


def still_serves(server):
    assert server.alive(), "sealboxd died; stderr tail:\n%s" % server.log()[-3000:].decode("utf-8", "replace")
    with Raw(server.host, server.imap_port) as r:
        assert r.greeting.startswith(b"* OK"), r.greeting
        r.login(ALICE, server.users[ALICE])
        assert r.cmd("NOOP").ok()
        assert r.cmd("SELECT INBOX").ok()
        r.logout()


def read_tagged_or_untagged_bad(r, tag):
    """Reads until a line tagged `tag` or an untagged BAD; returns that line."""
    while True:
        line = r.read_response()
        if line.startswith(tag.encode() + b" ") or line.startswith(b"* BAD"):
            return line


@pytest.mark.parametrize("line", [
    b"",                     # empty line
    b"   ",
    b"hello",                # a tag without a command
    b"A1",
    b"A2 NOSUCHCOMMAND",
    b"A3 FETCH",
    b"A4 LOGIN onlyuser",
    b"A5 LOGIN \"unterminated",
    b"A6 (((((",
    b"A7 SELECT \"a\" extra args",
    b"A8 \x01\x02\x03\xff\xfe",
    b"* NOOP",
    b"+ NOOP",
])
def test_garbage_line_gets_bad_and_session_continues(connect, line):
    r = connect()
    r.send(line + b"\r\n")
    got = r.read_response()
    assert re.match(rb"(\S+ )?BAD", got) or got.startswith(b"* BAD"), "%r -> %r" % (line, got)
    assert r.cmd("NOOP").ok()


def test_unknown_command_is_bad_with_tag(connect):
    r = connect(ALICE)
    resp = r.cmd("FROBNICATE now")
    assert resp.status == "BAD", resp.tagged
    assert r.cmd("NOOP").ok()


def test_overlong_line_is_bad_and_session_continues(connect):
    r = connect()
    r.send(b"L1 NOOP " + b"x" * 200_000 + b"\r\n")
    got = read_tagged_or_untagged_bad(r, "L1")
    assert b"BAD" in got.split(b" ", 2)[1], got
    assert r.cmd("NOOP").ok(), "the session must go on after an over-long line"


def test_overlong_line_while_authenticated(connect):
    r = connect(ALICE)
    r.send(b"L2 SELECT " + b"y" * 100_000 + b"\r\n")
    got = read_tagged_or_untagged_bad(r, "L2")
    assert b"BAD" in got or b"NO" in got, got
    assert r.cmd("SELECT INBOX").ok()


def test_append_literal_over_appendlimit_is_refused_without_continuation(connect, mbox):
    r = connect(ALICE)
    caps = capabilities(r.cmd("CAPABILITY").of("CAPABILITY")[0])
    limit = int([c for c in caps if c.startswith("APPENDLIMIT=")][0].split("=")[1])
    r.send(b"T1 APPEND " + quote(mbox).encode() + b" {%d}\r\n" % (limit + 1))
    got = r.read_response()
    assert not got.startswith(b"+"), "the server asked for a literal over APPENDLIMIT"
    assert got.startswith(b"T1 NO [TOOBIG]") or got.startswith(b"T1 BAD"), got
    assert r.cmd("NOOP").ok(), "the session must go on (nothing of the literal was sent)"
    assert status(r, mbox, "(MESSAGES)")["MESSAGES"] == 0


def test_huge_literal_in_other_command_is_refused_without_continuation(connect):
    r = connect(ALICE)
    assert r.cmd("SELECT INBOX").ok()
    r.send(b"T2 SEARCH TEXT {100000000}\r\n")
    got = r.read_response()
    assert not got.startswith(b"+"), "the server asked for a 100 MB search string"
    assert got.startswith(b"T2 BAD") or got.startswith(b"T2 NO"), got
    assert r.cmd("NOOP").ok()


def test_login_literal_too_big_is_refused(connect):
    r = connect()
    r.send(b"T3 LOGIN {10000000}\r\n")
    got = r.read_response()
    assert not got.startswith(b"+"), got
    assert r.cmd("NOOP").ok()


BAD_NAMES = [
    b'".."',
    b'"../escape"',
    b'"a/../../b"',
    b'"a/./b"',
    b'"/absolute"',
    b'"tab\tname"',
    b'"ctrl\x01name"',
    b'"del\x7fname"',
    b'"&Jjo"',               # modified UTF-7 not closed with "-"
    b'"&AGE-"',              # encodes "a": printable ASCII must not be encoded
    b'"&Jjo!-"',             # "!" inside a base64 run
    b'"bad&utf7"',           # "&" must be written "&-"
    b'"\xc3\x28raw8bit"',    # raw 8-bit (invalid UTF-8) in a mailbox name
]


@pytest.mark.parametrize("name", BAD_NAMES, ids=[repr(n)[2:-1][:30] for n in BAD_NAMES])
def test_bad_mailbox_name_is_refused(connect, name):
    r = connect(ALICE)
    resp = r.cmd(b"CREATE " + name)
    assert resp.status in ("NO", "BAD"), "CREATE %r: %r" % (name, resp.tagged)
    assert r.cmd("NOOP").ok()
    inner = name[1:-1]
    lst = r.cmd(b'LIST "" *')
    assert not any(e[2] == inner for e in list_entries(lst.of("LIST"))), "%r was created anyway" % name


def test_mailbox_name_with_nul_is_refused(connect):
    r = connect(ALICE)
    name = b"nul\x00name"
    r.send(b"N1 CREATE {%d}\r\n" % len(name))
    got = r.read_response()
    if got.startswith(b"+"):
        r.send(name + b"\r\n")
        got = r.read_until_tag("N1").tagged
    assert got.startswith(b"N1 NO") or got.startswith(b"N1 BAD"), got
    assert r.cmd("NOOP").ok()


def test_10kb_mailbox_name_is_refused(connect):
    r = connect(ALICE)
    name = "n" * 10_240
    resp = r.cmd("CREATE " + quote(name))
    assert resp.status in ("NO", "BAD"), resp.tagged
    assert r.cmd("NOOP").ok()
    resp = r.cmd("SELECT " + quote(name))
    assert resp.status in ("NO", "BAD")


def test_deep_hierarchy_is_refused(connect, delim):
    r = connect(ALICE)
    name = delim.join(["d%d" % i for i in range(200)])
    resp = r.cmd("CREATE " + quote(name))
    assert resp.status in ("NO", "BAD"), "200 levels: %r" % resp.tagged
    assert r.cmd("NOOP").ok()


def test_deeply_nested_parentheses_do_not_crash(connect, server):
    r = connect(ALICE)
    assert r.cmd("SELECT INBOX").ok()
    resp = r.cmd("SEARCH " + "(" * 5000 + "ALL" + ")" * 5000)
    assert resp.status in ("BAD", "NO"), resp.tagged
    assert r.cmd("NOOP").ok()
    resp = r.cmd("SEARCH " + "NOT " * 5000 + "ALL")
    assert resp.status in ("OK", "BAD", "NO")
    still_serves(server)


def test_many_items_in_fetch_and_flags(connect, mbox, server):
    r = connect(ALICE)
    assert r.cmd("SELECT INBOX").ok()
    resp = r.cmd("FETCH 1 (" + " ".join(["FLAGS"] * 5000) + ")")
    assert resp.status in ("OK", "BAD", "NO")
    resp = r.cmd("STORE 1:* +FLAGS (" + " ".join("kw%d" % i for i in range(3000)) + ")")
    assert resp.status in ("OK", "BAD", "NO")
    still_serves(server)


def test_sequence_set_edge_cases(connect, server):
    r = connect(ALICE)
    assert r.cmd("SELECT INBOX").ok()
    for s in ("0", "0:*", "4294967296", "1:4294967295", "*:*", ",", "1,,2", "1:", "-1", "99999999999999999999"):
        resp = r.cmd("FETCH %s FLAGS" % s)
        assert resp.status in ("OK", "BAD", "NO"), (s, resp)
        resp = r.cmd("UID FETCH %s FLAGS" % s)
        assert resp.status in ("OK", "BAD", "NO"), (s, resp)
        assert r.cmd("NOOP").ok()    # stay under the "bad commands in a row" limit
    assert r.cmd("FETCH 0 FLAGS").status == "BAD", "0 is not a valid sequence number"
    still_serves(server)


def _random_lines(rng, n):
    # No LOGIN/AUTHENTICATE: random credentials that parse would count as failed
    # logins and (rightly) get 127.0.0.1 throttled for the rest of the run.
    prefixes = [b"", b"R1 ", b"R2 FETCH ", b"R3 SEARCH ", b"R4 STORE 1 ", b"R5 LIST ", b"R6 APPEND ",
                b"R7 UID ", b"R8 SELECT ", b"R11 STATUS INBOX ", b"R12 COPY 1 ", b"R13 ID ", b"R14 ENABLE ",
                b"R15 CREATE ", b"R16 RENAME ", b"R17 UID SEARCH ", b"R18 UID STORE 1:* "]
    alphabet = bytes(range(256)).replace(b"\r", b"").replace(b"\n", b"")
    tokens = [b"(", b")", b"[", b"]", b"<", b">", b'"', b"\\", b"*", b"%", b"{", b"}", b"NIL", b"BODY[",
              b"1:*", b"HEADER.FIELDS", b"\x00", b"&", b"-", b"~{5}"]
    out = []
    for _ in range(n):
        parts = []
        for _ in range(rng.randint(0, 12)):
            if rng.random() < 0.5:
                parts.append(rng.choice(tokens))
            else:
                parts.append(bytes(rng.choice(alphabet) for _ in range(rng.randint(1, 30))))
        line = rng.choice(prefixes) + b" ".join(parts)
        if line.endswith(b"}"):
            line += b"x"         # never announce a literal by accident: the stream must stay line-based
        out.append(line + b"\r\n")
    return out


def test_1000_random_lines_do_not_crash_the_server(fresh_server):
    server = fresh_server(users={ALICE: USERS[ALICE]})
    rng = random.Random(1234)
    lines = _random_lines(rng, 1000)
    states = ["none", "auth", "selected"]
    i, conns = 0, 0
    while i < len(lines):
        state = states[conns % 3]
        conns += 1
        r = Raw(server.host, server.imap_port, timeout=10)
        try:
            if state != "none":
                r.login(ALICE, server.users[ALICE])
            if state == "selected":
                assert r.cmd("SELECT INBOX").ok()
            # a batch, then a NOOP that must be answered (unless the server said BYE)
            batch = lines[i:i + 15]
            i += len(batch)
            try:
                r.send(b"".join(batch))
                r.send(b"Z1 NOOP\r\n")
                while True:
                    line = r.read_response()
                    if line.startswith(b"Z1 "):
                        assert line.startswith(b"Z1 OK"), line
                        break
                    if line.startswith(b"* BYE"):
                        break
            except (ConnectionError, OSError):
                pass       # closing after too many errors is allowed; crashing is not
        finally:
            r.close()
        assert server.alive(), "sealboxd died after random line batch ending at %d; stderr:\n%s" % (
            i, server.log()[-3000:].decode("utf-8", "replace"))
    still_serves(server)


def test_random_binary_after_greeting_then_new_connection_works(fresh_server):
    server = fresh_server(users={ALICE: USERS[ALICE]})
    rng = random.Random(99)
    for n in range(5):
        s = socket.create_connection((server.host, server.imap_port), timeout=5)
        try:
            s.recv(1000)
            s.sendall(bytes(rng.getrandbits(8) for _ in range(20000)))
            s.settimeout(2)
            try:
                while s.recv(65536):
                    pass
            except (socket.timeout, OSError):
                pass
        finally:
            s.close()
    still_serves(server)


def test_half_sent_command_then_disconnect(server):
    for data in (b"A1 LOGIN {20}\r\nabc", b"A1 APPEND INBOX {100+}\r\nshort", b"A1 SELECT \"INB"):
        s = socket.create_connection((server.host, server.imap_port), timeout=5)
        s.recv(1000)
        s.sendall(data)
        s.close()
    still_serves(server)


def test_connections_per_ip_are_capped_and_freed(fresh_server):
    """limits.h NET_CONN_PER_IP_MAX (50): more connections from one IP are turned away,
    and closing them frees the slots."""
    server = fresh_server(users={ALICE: USERS[ALICE]})
    socks, refused = [], 0
    try:
        for _ in range(60):
            s = socket.create_connection((server.host, server.imap_port), timeout=5)
            socks.append(s)
            try:
                greeting = s.recv(200)
            except (socket.timeout, ConnectionResetError):
                greeting = b""
            if not greeting.startswith(b"* OK"):
                refused += 1
        assert 1 <= refused <= 10, "60 connections from 127.0.0.1: %d refused (cap 50)" % refused
    finally:
        for s in socks:
            s.close()
    import time
    deadline = time.monotonic() + 5
    while True:
        try:
            still_serves(server)
            break
        except (AssertionError, ConnectionError, OSError):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def test_too_many_bad_commands_in_a_row_end_with_bye(connect, server):
    """limits.h IMAP_BAD_COMMANDS_MAX (20): a client that only sends garbage is cut off."""
    r = connect()
    r.send(b"".join(b"G%d NOSUCHCOMMAND\r\n" % i for i in range(40)))
    bye = r.wait_for(lambda l: l.startswith(b"* BYE"), 10)
    assert bye, "no BYE after 40 bad commands in a row; got %r" % r.seen[-3:]
    assert len([l for l in r.seen if b" BAD" in l]) <= 21, r.seen
    still_serves(server)


def test_failed_logins_are_throttled_per_address(fresh_server):
    """limits.h AUTH_FAIL_PER_ADDRESS (10 in 300 s): after that the address is refused
    even with the right password, while other addresses still log in."""
    import threading
    other = "other@example.org"
    server = fresh_server(users={ALICE: USERS[ALICE], other: "other-Passw0rd-e2e"})
    results = []

    def bad_login(i):
        with Raw(server.host, server.imap_port, timeout=30) as r:
            results.append(r.cmd("LOGIN %s %s" % (quote(ALICE), quote("wrong-%d-password" % i))).status)

    threads = [threading.Thread(target=bad_login, args=(i,)) for i in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == ["NO"] * 12, results
    with Raw(server.host, server.imap_port, timeout=30) as r:
        resp = r.cmd("LOGIN %s %s" % (quote(ALICE), quote(USERS[ALICE])))
        assert resp.status == "NO", "12 failures, then the right password: must still be refused: %r" % resp.tagged
    with Raw(server.host, server.imap_port, timeout=30) as r:
        assert r.cmd("LOGIN %s %s" % (quote(other), quote("other-Passw0rd-e2e"))).ok(), \
            "throttling one address must not lock out another"


def test_search_with_invalid_utf8_literal_is_refused(connect, mbox):
    r = connect(ALICE)
    assert r.cmd("SELECT %s" % quote(mbox)).ok()
    resp = r.cmd_lit(["SEARCH CHARSET UTF-8 TEXT ", b"\xff\xfe\xc3", ""])
    assert resp.status in ("NO", "BAD", "OK"), resp.tagged
    if resp.ok():
        assert resp.of("SEARCH") in ([b"SEARCH"], [b"SEARCH "]), resp.untagged
    assert r.cmd("NOOP").ok()


def test_out_of_descriptors_pauses_accept_instead_of_spinning(fresh_server, tmp_path):
    """With its descriptors used up, sealboxd must not spin on accept() (the queued
    connection keeps the listening socket readable): it pauses, stays idle, and
    serves new connections once descriptors are free again."""
    srv = fresh_server(start=False)
    wrapper = tmp_path / "sealboxd-lowfd"
    wrapper.write_text("#!/bin/sh\nulimit -n 64\nexec %s \"$@\"\n" % srv.sealboxd)
    wrapper.chmod(0o755)
    srv.sealboxd = str(wrapper)
    srv.start()
    socks = []
    try:
        for _ in range(90):
            s = socket.create_connection((srv.host, srv.imap_port), timeout=5)
            socks.append(s)
        time.sleep(1)
        with open("/proc/%d/stat" % srv.proc.pid) as f:
            before = f.read().split(")")[1].split()
        time.sleep(2)
        with open("/proc/%d/stat" % srv.proc.pid) as f:
            after = f.read().split(")")[1].split()
        ticks = (int(after[11]) + int(after[12])) - (int(before[11]) + int(before[12]))
        assert ticks < 100, "sealboxd used %d CPU ticks in 2 s while out of descriptors" % ticks
        for s in socks[:80]:
            s.close()
        socks = socks[80:]
        s = socket.create_connection((srv.host, srv.imap_port), timeout=5)
        socks.append(s)
        s.settimeout(5 * TIME_SCALE)
        assert s.recv(64).startswith(b"* OK"), "no greeting once descriptors were free again"
        assert b"pausing new connections" in srv.log()
    finally:
        for s in socks:
            s.close()
