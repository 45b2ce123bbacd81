#!/usr/bin/env python3
"""tests/fuzz/make-corpus.py - (re)build the seed corpora from tests/fixtures/pgoutput.

corpus/decode_capture/: the first few KB of each capture (cut at a message boundary).
corpus/pgoutput/:       one file per distinct (type, stream state) message: mode byte + message.
corpus/walproto/:       the same messages wrapped in 'w' frames, plus keepalives.
Messages are found with wal2edge's own splitting rule (parse, then expect '\\n'),
re-implemented here minimally: it only needs to cope with the committed fixtures.
"""
import hashlib, os, struct, sys

HERE = os.path.dirname(os.path.abspath(__file__))
FIX = os.path.join(HERE, '..', 'fixtures', 'pgoutput')
PREFIXED = set(b'RYIUDTM')


def messages(data, abort_trailer):
    pos, in_stream = 0, False
    while pos < len(data):
        start = pos
        t = data[pos]; pos += 1
        if in_stream and t in PREFIXED:
            pos += 4
        def cstr(p): return data.index(b'\0', p) + 1
        def tup(p):
            (n,) = struct.unpack_from('>H', data, p); p += 2
            for _ in range(n):
                k = data[p]; p += 1
                if k in b'tb':
                    (ln,) = struct.unpack_from('>I', data, p); p += 4 + ln
            return p
        c = chr(t)
        if c == 'B': pos += 20
        elif c == 'C': pos += 25
        elif c == 'O': pos = cstr(pos + 8)
        elif c == 'R':
            pos = cstr(cstr(pos + 4)) + 1
            (n,) = struct.unpack_from('>H', data, pos); pos += 2
            for _ in range(n): pos = cstr(pos + 1) + 8
        elif c == 'Y': pos = cstr(cstr(pos + 4))
        elif c in 'ID': pos = tup(pos + 5)
        elif c == 'U':
            pos += 4
            if data[pos] in b'KO': pos = tup(pos + 1)
            pos = tup(pos + 1)
        elif c == 'T':
            (n,) = struct.unpack_from('>I', data, pos); pos += 5 + 4 * n
        elif c == 'M':
            pos = cstr(pos + 9); (n,) = struct.unpack_from('>I', data, pos); pos += 4 + n
        elif c == 'S': pos += 5
        elif c == 'c': pos += 29
        elif c == 'A': pos += 8 + (16 if abort_trailer else 0)
        elif c == 'b': pos = cstr(pos + 28)
        elif c in 'PpK': pos = cstr(pos + 29)
        elif c == 'r': pos = cstr(pos + 37)
        assert c == 'E' or pos > start
        assert data[pos:pos + 1] == b'\n', (c, start)
        yield data[start:pos], in_stream, pos + 1
        if c == 'S': in_stream = True
        if c == 'E': in_stream = False
        pos += 1


def write(d, content):
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, hashlib.sha1(content).hexdigest()[:16]), 'wb') as f:
        f.write(content)


def main():
    seen = set()
    for name in sorted(os.listdir(FIX)):
        if not name.endswith('.bin'):
            continue
        data = open(os.path.join(FIX, name), 'rb').read()
        v4 = name.startswith('proto4')
        cut = 0
        for msg, in_stream, end in messages(data, v4):
            if end <= 4096:
                cut = end
            key = (msg[0], in_stream, msg[0:1] == b'U' and msg[5 + 4 * in_stream:6 + 4 * in_stream], v4)
            if key in seen:
                continue
            seen.add(key)
            mode = (1 if in_stream else 0) | ((2 if v4 else 0) << 1)
            write(os.path.join(HERE, 'corpus', 'pgoutput'), bytes([mode]) + msg)
            hdr = b'w' + struct.pack('>QQq', 0x1A2B3C40, 0x1A2B3C40, 767880000000000)
            if not in_stream:
                write(os.path.join(HERE, 'corpus', 'walproto'), hdr + msg)
        write(os.path.join(HERE, 'corpus', 'decode_capture'), data[:cut])
    write(os.path.join(HERE, 'corpus', 'walproto'), b'k' + struct.pack('>Qq', 0x69383D8, 0) + b'\x01')


if __name__ == '__main__':
    sys.exit(main())
