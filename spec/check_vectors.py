#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""Check tacet's golden vectors against Debian's python3-msgpack.

For every spec/vectors/NAME.bin: the frame's length field must match the
payload; msgpack.unpackb must decode the payload (bin as bytes, str as
str); msgpack.packb(obj, use_bin_type=True) must give back exactly the
same bytes, which shows the Go encoding is canonical; and the decoded
value must equal NAME.json's "value", maps in the same key order.

Run as /usr/bin/python3 spec/check_vectors.py [DIR], or import and call
check_dir(path). Needs only python3-msgpack (apt-get install python3-msgpack).
"""

import json
import os
import struct
import sys

import msgpack

VECTOR_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "vectors")


class VectorError(Exception):
    """A vector that does not check out; the message says which and why."""


def tagged(obj):
    """Return obj as a tree of (type, value) pairs that keeps map order
    and tells bool from int and bytes from str."""
    if isinstance(obj, bool):
        return ("bool", obj)
    if isinstance(obj, int):
        return ("int", obj)
    if isinstance(obj, float):
        return ("float", obj)
    if isinstance(obj, bytes):
        return ("bin", obj.hex())
    if isinstance(obj, str):
        return ("str", obj)
    if obj is None:
        return ("nil", None)
    if isinstance(obj, (list, tuple)):
        return ("array", [tagged(v) for v in obj])
    if isinstance(obj, dict):
        return ("map", [(k, tagged(v)) for k, v in obj.items()])
    raise VectorError("type %s is not used by protocol v1" % type(obj).__name__)


def tagged_json(obj):
    """Like tagged, for a value parsed from NAME.json, where a bin is
    written {"bin": "<hex>"}. No message has a map with the single key
    "bin", so the form is not ambiguous."""
    if isinstance(obj, JSONMap):
        if len(obj.pairs) == 1 and obj.pairs[0][0] == "bin" and isinstance(obj.pairs[0][1], str):
            return ("bin", obj.pairs[0][1])
        return ("map", [(k, tagged_json(v)) for k, v in obj.pairs])
    if isinstance(obj, list):
        return ("array", [tagged_json(v) for v in obj])
    return tagged(obj)


class JSONMap:
    """A JSON object with its keys in file order."""

    def __init__(self, pairs):
        self.pairs = pairs


def check_vector(bin_path):
    """Check one vector; return its name, or raise VectorError."""
    name = os.path.basename(bin_path)[: -len(".bin")]
    with open(bin_path, "rb") as f:
        frame = f.read()
    if len(frame) < 5:
        raise VectorError("%s: frame of %d bytes is too short" % (name, len(frame)))
    (length,) = struct.unpack(">I", frame[:4])
    payload = frame[4:]
    if length != len(payload) or frame[0] != 0:
        raise VectorError("%s: length field %d, payload is %d bytes" % (name, length, len(payload)))

    obj = msgpack.unpackb(payload, raw=False, strict_map_key=False)
    again = msgpack.packb(obj, use_bin_type=True)
    if again != payload:
        raise VectorError(
            "%s: Python re-encodes differently; first difference at byte %d\n go: %s\n py: %s"
            % (name, first_diff(payload, again), payload.hex(), again.hex())
        )
    if not isinstance(obj, list) or len(obj) < 3:
        raise VectorError("%s: payload is not an envelope [kind, id, body]" % name)

    with open(bin_path[: -len(".bin")] + ".json", encoding="utf-8") as f:
        desc = json.load(f, object_pairs_hook=JSONMap)
    fields = dict(desc.pairs)
    want = {"kind": obj[0], "id": obj[1], "length": length, "name": name}
    for key, value in want.items():
        if fields.get(key) != value:
            raise VectorError("%s: json %s is %r, frame has %r" % (name, key, fields.get(key), value))
    if tagged_json(fields["value"]) != tagged(obj):
        raise VectorError("%s: json value differs from the decoded frame" % name)
    return name


def first_diff(a, b):
    for i, (x, y) in enumerate(zip(a, b)):
        if x != y:
            return i
    return min(len(a), len(b))


def check_dir(path=VECTOR_DIR):
    """Check every vector in path; return their number or raise VectorError."""
    names = sorted(n for n in os.listdir(path) if n.endswith(".bin"))
    if not names:
        raise VectorError("no vectors in %s" % path)
    for n in names:
        check_vector(os.path.join(path, n))
    return len(names)


def main(argv):
    path = argv[1] if len(argv) > 1 else VECTOR_DIR
    try:
        n = check_dir(path)
    except (VectorError, OSError, ValueError, msgpack.UnpackException) as e:
        print("check_vectors: %s" % e, file=sys.stderr)
        return 1
    print("%d vectors ok" % n)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
