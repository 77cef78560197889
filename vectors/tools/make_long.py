#!/usr/bin/env python3
"""Writes the generated vectors: the long-line ones and the many-event ones.

Each input here is built from a small pattern, and its expected output is written from the same
pattern by hand-derived rule (never by parsing the input), so the expectations stay independent
of any parser:

  long-data-line-100k    one `data:` line of ~100 KB mixing ASCII, 3-byte and 4-byte UTF-8
                         -> one message event whose data is the whole value
  long-id-64k            a 64 KiB `id:` value, then two data blocks
                         -> two events, both carrying the 64 KiB id (the id persists)
  long-comment-128k      a 128 KiB comment line, then one data block
                         -> one event; the comment emits nothing
  ld-basic-many-messages 100 blocks `data: message N` (LaunchDarkly "many messages in rapid
                         succession") -> 100 events in order
  stream-100-numbered-events  100 blocks with `id: N`, alternating `event: even/odd`, `data: N`
                         -> 100 events in order
  data-200-lines         one event of 200 `data:` lines -> data joined with LF, no trailing LF

Run from anywhere: python3 vectors/tools/make_long.py
"""
import os

HERE = os.path.dirname(os.path.abspath(__file__))
VECTORS = os.path.dirname(HERE)


def js(s):
    """JSON string the way serde_json writes it (compact, only `"`, `\\` and < U+0020 escaped)."""
    out = ['"']
    for ch in s:
        o = ord(ch)
        if ch == '"':
            out.append('\\"')
        elif ch == "\\":
            out.append("\\\\")
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\r":
            out.append("\\r")
        elif ch == "\t":
            out.append("\\t")
        elif ch == "\b":
            out.append("\\b")
        elif ch == "\f":
            out.append("\\f")
        elif o < 0x20:
            out.append("\\u%04x" % o)
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def event(data, ev="message", id_=""):
    return '{"event":%s,"data":%s,"id":%s}\n' % (js(ev), js(data), js(id_))


def write(name, raw, expected_lines):
    with open(os.path.join(VECTORS, name + ".sse"), "wb") as f:
        f.write(raw)
    with open(os.path.join(VECTORS, "expected", name + ".jsonl"), "wb") as f:
        f.write("".join(expected_lines).encode("utf-8"))


def main():
    # ~100 KB data value; 23 bytes per unit so chunk boundaries land inside multi-byte chars.
    value = "0123456789abcdef\u20ac\U0001F600" * 4452
    write("long-data-line-100k", b"data: " + value.encode("utf-8") + b"\n\n", [event(value)])

    long_id = "i" * 65536
    write(
        "long-id-64k",
        b"id: " + long_id.encode("ascii") + b"\ndata: a\n\ndata: b\n\n",
        [event("a", id_=long_id), event("b", id_=long_id)],
    )

    write(
        "long-comment-128k",
        b":" + b"c" * 131072 + b"\ndata: after\n\n",
        [event("after")],
    )

    msgs = ["message %d" % i for i in range(100)]
    write(
        "ld-basic-many-messages",
        b"".join(b"data: " + m.encode("ascii") + b"\n\n" for m in msgs),
        [event(m) for m in msgs],
    )

    raw, exp = [], []
    for i in range(100):
        ev = "even" if i % 2 == 0 else "odd"
        raw.append(b"id: %d\nevent: %s\ndata: %d\n\n" % (i, ev.encode("ascii"), i))
        exp.append(event(str(i), ev, str(i)))
    write("stream-100-numbered-events", b"".join(raw), exp)

    lines = ["line %03d" % i for i in range(200)]
    write(
        "data-200-lines",
        b"".join(b"data: " + l.encode("ascii") + b"\n" for l in lines) + b"\n",
        [event("\n".join(lines))],
    )


if __name__ == "__main__":
    main()
