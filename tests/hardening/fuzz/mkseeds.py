#!/usr/bin/env python3
"""mkseeds.py: (re)write the seed corpora of the fuzz harnesses.

corpus/config/: conf/bindguard.json, every config literal in
tests/unit/test_config.c, and broken ones (truncated, deep nesting, huge
numbers, bad UTF-8, lone surrogates, too many rules/ports, long strings...).
corpus/event/: inputs in fuzz_event.c's byte layout, one or more per event kind.

Run from anywhere: python3 tests/hardening/fuzz/mkseeds.py (deterministic; the
output is committed, so run it again only when the layout or the configs change).
"""
import ast
import hashlib
import os
import re
import shutil
import struct

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", "..", ".."))


def reset(d):
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)


def put(d, name, data):
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


# ---- config ----------------------------------------------------------------------


def test_literals(src):
    """The first argument of parse_ok/parse_fails/write_file calls, when it is a
    (possibly concatenated) C string literal."""
    out = []
    pat = re.compile(r'\b(parse_ok|parse_fails)\(\s*|\bwrite_file\("[^"]*",\s*')
    lit = re.compile(r'\s*(?:/\*.*?\*/\s*)*("(?:[^"\\\n]|\\.)*")', re.S)
    for m in pat.finditer(src):
        pos, parts = m.end(), []
        while True:
            lm = lit.match(src, pos)
            if not lm:
                break
            parts.append(ast.literal_eval(lm.group(1)))
            pos = lm.end()
        if parts:
            out.append("".join(parts))
    return out


def config_seeds(d):
    reset(d)
    with open(os.path.join(ROOT, "conf", "bindguard.json"), "rb") as f:
        example = f.read()
    put(d, "example.json", example)
    with open(os.path.join(ROOT, "tests", "unit", "test_config.c")) as f:
        for text in test_literals(f.read()):
            h = hashlib.sha1(text.encode()).hexdigest()[:10]
            put(d, "unit-" + h + ".json", text)
    broken = {
        "truncated-half.json": example[: len(example) // 2],
        "truncated-rules.json": example[: example.index(b'"rules": [') + 40],
        "deep-arrays.json": b'{"_x": ' + b"[" * 1200 + b"]" * 1200 + b"}",
        "deep-objects.json": b'{"rules": [' + b'{"_a": ' * 990 + b"1" + b"}" * 990 + b"]}",
        "huge-numbers.json": b'{"rules": [{"ports": [1e999, -1e999, 4294967297, 65535.0000001,'
        b" 1e-400, -0, 123456789012345678901234567890]}]}",
        "huge-port-strings.json": b'{"rules": [{"ports": ["99999999999999999999-1",'
        b' "1-99999999999999999999", "00000000000000000080", "1-65535"]}]}',
        "bad-utf8-value.json": b'{"mode": "\xff\xfe", "log": "/var/\xc3\x28"}',
        "bad-utf8-key.json": b'{"\xe2\x82": 1, "rules": [{"programs": ["\xed\xa0\x80"]}]}',
        "bad-utf8-log.json": b'{"log": "/tmp/\xf0\x9f\x98", "mode": "enforce"}',
        "surrogates.json": b'{"_a": "\\ud800", "log": "/x\\udc00\\ud83d\\ude00\\u0000y"}',
        "nul-escape.json": b'{"mode": "audit\\u0000enforce", "profile": "auto\\u0000"}',
        "bom.json": b'\xef\xbb\xbf{"mode": "enforce"}',
        "crlf.json": b'{\r\n"mode": "enforce",\r\n"level" "info"\r\n}',
        "empty.json": b"",
        "not-object.json": b'["mode", "enforce"]',
        "rules-65.json": b'{"rules": [' + b",".join([b"{}"] * 65) + b"]}",
        "rules-64.json": b'{"rules": ['
        + b",".join(b'{"ports": [%d], "mode": "off"}' % (i + 1) for i in range(64))
        + b"]}",
        "ports-17.json": b'{"rules": [{"ports": [' + b",".join(b"%d" % i for i in range(1, 18)) + b"]}]}",
        "addresses-16.json": b'{"rules": [{"addresses": ['
        + b",".join(b'"10.0.%d.0/24"' % i for i in range(8))
        + b","
        + b",".join(b'"fd00:%x::/%d"' % (i, 16 + i * 8) for i in range(8))
        + b"]}]}",
        "address-edges.json": b'{"rules": [{"addresses": ["::ffff:10.0.0.1/100", "::ffff:0:0/95",'
        b' "0.0.0.0/0", "::/0", "::1.2.3.4", "1.2.3.4/32", "::/128"]}]}',
        "long-log.json": b'{"log": "/' + b"a" * 600 + b'"}',
        "long-values.json": b'{"mode": "' + "é".encode() * 400 + b'", "x": 1}',
        "long-key.json": b'{"rules": [{"' + b"k" * 300 + b'": 1}]}',
        "dup-keys.json": b'{"rules": [{"ports": [1]}], "rules": [], "mode": "off", "mode": "enforce"}',
        "errno-names.json": b'{"enforce": {"errno": "EPERM", "block": ["pin", "pin", "pin_halfclosed"]}}',
        "programs.json": b'{"rules": [{"programs": ["legacyd"], "except_programs": ["legacyd"]},'
        b' {"except_programs": ["x"], "mode": "enforce", "block": []}]}',
    }
    for name, text in broken.items():
        put(d, name, text)


# ---- event -----------------------------------------------------------------------
# layout (fuzz_event.c): kind u8 (mod 5: bind, config_error, divergence, start, stop),
# process name (len u8, bytes), then per kind; integers little-endian.


def s8(b):
    if isinstance(b, str):
        b = b.encode()
    return bytes([len(b)]) + b


def addr(fam6, mapped, raw):
    return bytes([(1 if fam6 else 0) | (2 if mapped else 0)]) + raw.ljust(16, b"\0")[:16]


V4 = bytes(12) + bytes([127, 0, 0, 2])
V6 = bytes.fromhex("fd000020000000000000000000000001")


def owner(pid, comm, fam6, mapped, laddr, raddr, state, lport, rport, cb, uid, inode):
    return (
        struct.pack("<i", pid)
        + s8(comm)
        + addr(fam6, mapped, laddr)
        + raddr.ljust(16, b"\0")[:16]
        + bytes([state])
        + struct.pack("<HH", lport, rport)
        + bytes([cb])
        + struct.pack("<II", uid, inode)
    )


def bind(name, action, fd, fam6, mapped, a, port, flags, mode, decision, hazard, profile, view,
         before, after, result, err, owners, omitted, sev):
    b = bytes([0]) + s8(name) + bytes([action]) + struct.pack("<i", fd) + addr(fam6, mapped, a)
    b += struct.pack("<H", port) + bytes([flags, mode, decision, hazard, profile, view])
    b += struct.pack("<bbbb", *before, *after) + struct.pack("<ii", result, err)
    b += bytes([len(owners)])
    b += bytes([1]) + struct.pack("<I", omitted) if omitted else bytes([0])
    for o in owners:
        b += o
    return b + bytes([sev])


def event_seeds(d):
    reset(d)
    cw = owner(4100, "server", False, True, V4, V4, 8, 40000, 8080, 1, 0, 123456)
    put(d, "bind-hazard-v4.bin",
        bind("app", 0, 7, False, True, V4, 40000, 0, 1, 1, 2, 1, 0, (0, 0), (0, -1), 0, 0, [cw], 0, 2))
    put(d, "bind-blocked-v6.bin",
        bind("legacyd", 0, 12, True, False, V6, 40001, 4 | 8, 2, 2, 2, 2, 1, (1, 0), (-1, -1), -1, 98,
             [owner(-1, "", True, False, V6, V6[::-1], 8, 40001, 443, 2, 1000, 7)], 0, 3))
    put(d, "listen-no-hazard.bin",
        bind("nginx: worker", 1, 3, False, True, bytes(16), 0, 1 | 2, 1, 0, 0, 1, 2, (0, 0), (1, 0), 0, 0,
             [], 0, 0))
    many = [owner(1000 + i, "w%d" % i, i % 2 == 1, i % 2 == 0, V4 if i % 2 == 0 else V6, V6,
                  1 + i % 12, 40000 + i, 80, i % 3, i, i * 7) for i in range(16)]
    put(d, "bind-16-owners.bin",
        bind("p", 0, 99, False, True, V4, 40000, 15, 2, 2, 1, 0, 0, (1, 2), (1, 2), -1, 13, many, 4242, 2))
    odd = owner(2**31 - 1, b'q"\\\n\x01\x7f\xff\xc3\x28\xed\xa0\x80' + "ж".encode() * 20, False, True, V4,
                V4, 255, 65535, 0, 2, 2**32 - 1, 2**32 - 1)
    put(d, "bind-odd-comm.bin",
        bind(b"x" + b"\xe2\x82\xac" * 21, 0, -1, False, True, V4, 65535, 0, 0, 0, 2, 0, 1,
             (-128, 127), (127, -128), -7, -5, [odd], 0, 1))
    put(d, "config-error.bin",
        bytes([1]) + s8("app") + b'/etc/bindguard/bindguard.json: rules[0].ports[0]: expected a port, got "x"')
    put(d, "config-error-long-utf8.bin", bytes([1]) + s8("app") + "ü".encode() * 460)
    put(d, "config-error-control.bin", bytes([1]) + s8("a\tb") + b'tab\there "quote" \\ \x01\x1f\x7f\xff end')
    put(d, "divergence-v4.bin",
        bytes([2]) + s8("app") + bytes([1]) + addr(False, True, V4) + struct.pack("<H", 40000) + bytes([1])
        + struct.pack("<ii", 0, 0))
    put(d, "divergence-v6-fail.bin",
        bytes([2]) + s8("app") + bytes([0]) + addr(True, False, V6) + struct.pack("<H", 8080) + bytes([0])
        + struct.pack("<ii", -1, 98))
    cfg = open(os.path.join(ROOT, "conf", "bindguard.json"), "rb").read()
    put(d, "start-example.bin",
        bytes([3]) + s8("app") + s8("0.4.0") + s8("classic") + s8("6.1.0-28-cloud-amd64") + s8("sock_diag")
        + s8("probe") + s8("classic") + s8("") + bytes([0]) + bytes([0]) + cfg)
    put(d, "start-null-config.bin",
        bytes([3]) + s8("app") + s8("0.4.0") + s8("release") + s8("6.18.0") + s8("proc")
        + s8("uname") + s8("release") + s8("probe file /var/lib/bindguard/probe.json: a FIFO; ignored")
        + bytes([1]) + bytes([0xff]))
    put(d, "start-odd.bin",
        bytes([3]) + s8(b"\xff") + s8("é" * 30) + s8(b"\xc3") + s8("k" * 127) + s8("none")
        + s8(b"\xc3") + s8("\t" * 20) + s8("n\u00e9\"\\" * 40) + bytes([1]) + bytes([1])
        + b'{"n": 1e999, "s": "\\u0001\\ud83d\\ude00", "a": [1, -0, 1.5e300, null, true], "d": {"d": {}}}')
    put(d, "stop.bin", bytes([4]) + s8("app") + struct.pack("<QQIII", 12, 3, 1, 0, 40))
    put(d, "stop-huge.bin", bytes([4]) + s8("app") + b"\xff" * 28)


if __name__ == "__main__":
    config_seeds(os.path.join(HERE, "corpus", "config"))
    event_seeds(os.path.join(HERE, "corpus", "event"))
    for k in ("config", "event"):
        print(k, len(os.listdir(os.path.join(HERE, "corpus", k))), "seeds")
