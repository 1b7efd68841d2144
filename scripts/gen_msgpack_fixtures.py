"""Writes the msgpack-numpy fixture corpus with openpi's own codec (openpi_client.msgpack_numpy).

Usage:
  .venv/bin/python scripts/gen_msgpack_fixtures.py [OUT_DIR]      # default: fixtures/msgpack-numpy
  .venv/bin/python scripts/gen_msgpack_fixtures.py --describe     # stdin: JSON list of hex payloads,
                                                                  # stdout: JSON list of their descriptions

Each fixture is one JSON file: name, description, hex (the exact bytes openpi's packb writes), expected (a JSON
description of the decoded value, see `describe`), and roundtrip: "exact" when re-encoding the decoded value must
give the same bytes, or "native-order" with reencoded_hex for big-endian arrays, which decode to native order.
The output is deterministic: CI regenerates the corpus and compares it byte for byte with the committed files.
"""

import json
import math
import os
import sys

import numpy as np
from openpi_client import msgpack_numpy

_LARGE = 4096  # arrays with more elements are described by a digest instead of their values


def _float(x):
    if math.isnan(x):
        return "nan"
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    return x


def _element(x):
    if isinstance(x, bool):
        return x
    if isinstance(x, int):
        return str(x) if abs(x) > 2**53 - 1 else x
    if isinstance(x, float):
        return _float(x)
    return x  # str


def describe(v):
    """The decoded value as tagged JSON; the TypeScript tests build the same description from their decoding."""
    if v is None or isinstance(v, bool):
        return v
    if isinstance(v, np.ndarray):
        import hashlib

        if v.dtype.byteorder == ">":
            v = v.astype(v.dtype.newbyteorder("="))  # decoders hand out native-order arrays
        d = {"dtype": v.dtype.str, "shape": list(v.shape)}
        flat = v.ravel()
        raw = v.tobytes()
        if flat.size > _LARGE:
            d["sha256"] = hashlib.sha256(raw).hexdigest()
            d["head"] = [_element(x) for x in flat[:16].tolist()]
        else:
            d["data"] = raw.hex()
            d["values"] = [_element(x) for x in flat.tolist()]
        return {"ndarray": d}
    if isinstance(v, np.generic) and not isinstance(v, (float, str, bytes)):
        return {"scalar": {"dtype": v.dtype.str, "value": _element(v.item())}}
    if isinstance(v, int):
        return {"int": str(v)}
    if isinstance(v, float):
        return {"float": _float(v)}
    if isinstance(v, str):
        return {"str": str(v)}
    if isinstance(v, bytes):
        return {"bytes": v.hex()}
    if isinstance(v, (list, tuple)):
        return {"list": [describe(x) for x in v]}
    if isinstance(v, dict):
        return {"dict": [[k if isinstance(k, str) else {"bytes": k.hex()}, describe(x)] for k, x in v.items()]}
    raise TypeError(f"cannot describe {type(v)}")


def _pattern(shape, dtype, mul=31, add=7):
    n = int(np.prod(shape))
    return ((np.arange(n, dtype=np.int64) * mul + add) % 256).astype(dtype).reshape(shape)


def cases():
    out = []

    def add(name, description, value):
        out.append((name, description, value))

    # openpi's own msgpack_numpy_test.py matrix, in its order
    add("openpi_int", "msgpack_numpy_test: int", 1)
    add("openpi_float", "msgpack_numpy_test: float 1.0 (an integral float: float64 on the wire)", 1.0)
    add("openpi_str", "msgpack_numpy_test: str", "hello")
    add("openpi_bool_scalar", "msgpack_numpy_test: np.bool_(True)", np.bool_(True))
    add("openpi_int_scalar", "msgpack_numpy_test: np.array([1, 2, 3])[0] (an int64 scalar)", np.array([1, 2, 3])[0])
    add("openpi_str_scalar", "msgpack_numpy_test: np.str_ (packed natively as str)", np.str_("asdf"))
    add("openpi_list", "msgpack_numpy_test: list", [1, 2, 3])
    add("openpi_dict", "msgpack_numpy_test: dict", {"key": "value"})
    add("openpi_nested_dict", "msgpack_numpy_test: nested dict", {"key": [1, 2, 3]})
    add("openpi_0d_array", "msgpack_numpy_test: np.array(1.0), a 0-d float64 array", np.array(1.0))
    add("openpi_int32_array", "msgpack_numpy_test: int32 array", np.array([1, 2, 3], dtype=np.int32))
    add("openpi_str_array", "msgpack_numpy_test: string array <U4", np.array(["asdf", "qwer"]))
    add("openpi_bool_array", "msgpack_numpy_test: bool array", np.array([True, False]))
    add("openpi_float32_2d", "msgpack_numpy_test: 2-D float32", np.array([[1.0, 2.0], [3.0, 4.0]], dtype=np.float32))
    add("openpi_int16_3d", "msgpack_numpy_test: 3-D int16", np.array([[[1, 2], [3, 4]], [[5, 6], [7, 8]]], dtype=np.int16))
    add("openpi_special_floats", "msgpack_numpy_test: NaN, inf, -inf", np.array([np.nan, np.inf, -np.inf]))
    add(
        "openpi_nested_arrays",
        "msgpack_numpy_test: nested dict with arrays",
        {"arr": np.array([1, 2, 3]), "nested": {"arr": np.array([4, 5, 6])}},
    )
    add("openpi_list_of_arrays", "msgpack_numpy_test: list of arrays", [np.array([1, 2]), np.array([3, 4])])
    add("openpi_zeros_3d", "msgpack_numpy_test: float32 zeros (3, 4, 5)", np.zeros((3, 4, 5), dtype=np.float32))
    add("openpi_ones_2d", "msgpack_numpy_test: float64 ones (2, 3)", np.ones((2, 3), dtype=np.float64))

    # plain msgpack values: every int format boundary, floats, strings, bins, containers
    ints = [0, 127, 128, 255, 256, 65535, 65536, 2**32 - 1, 2**32, 2**53 - 1, 2**53 + 1, 2**63, 2**64 - 1]
    ints += [-1, -32, -33, -128, -129, -32768, -32769, -(2**31), -(2**31) - 1, -(2**53) + 1, -(2**63)]
    add("int_boundaries", "ints at every msgpack int format boundary (Python picks the smallest)", ints)
    add(
        "floats",
        "Python floats: fractions, integral values, -0.0, extremes, NaN and infinities (all float64)",
        [1.5, -2.25, 0.0, -0.0, 3.0, 1e300, 5e-324, -1.7976931348623157e308, float("nan"), float("inf"), float("-inf")],
    )
    add(
        "strings",
        "str formats: empty, fixstr/str8/str16/str32 boundaries, non-ASCII and astral characters",
        ["", "a" * 31, "b" * 32, "c" * 255, "d" * 256, "e" * 65536, "h\u00e9llo \u2713 \U0001f916"],
    )
    add("bytes", "bin formats: empty, small, bin16, bin32", [b"", b"\x00\xff\x10", bytes(range(256)) * 2, b"\x07" * 65536])
    add("none_and_bools", "nil, true, false", [None, True, False])
    add("array16_map16", "16-element list and 16-key dict (array16 / map16 headers)", {
        "list": list(range(16)),
        "dict": {f"k{i:02d}": i for i in range(16)},
    })
    add("empty_containers", "empty list and dict (the server's empty metadata is 0x80)", {"l": [], "d": {}})
    add("metadata_empty", "openpi server metadata for most configs: {}", {})
    add("metadata_aloha", "openpi server metadata for ALOHA configs", {"reset_pose": [0, -1.5, 1.5, 0, 0, 0]})
    add("deep_nesting", "nested dicts and lists", {"a": {"b": {"c": [[1, [2, [3, {"d": None}]]]]}}})
    add("unicode_keys", "dict with non-ASCII keys in insertion order", {"z\u00fcrich": 1, "a": 2, "\u65e5\u672c": 3})

    # numpy scalars of every supported dtype
    add("scalars", "numpy scalars of every dtype (np.float64 and np.str_ travel natively)", [
        np.bool_(False),
        np.int8(-5),
        np.uint8(200),
        np.int16(-30000),
        np.uint16(60000),
        np.int32(-(2**31)),
        np.uint32(2**32 - 1),
        np.int64(2**62),
        np.int64(-(2**63)),
        np.uint64(2**64 - 1),
        np.float16(0.1),
        np.float32(0.1),
        np.float32(np.nan),
        np.float32(-np.inf),
        np.float64(0.1),
        np.float64(2.0),
        np.str_("x"),
    ])

    # arrays of every supported dtype
    add("array_dtypes", "1-D arrays of every supported dtype", {
        "bool": np.array([True, False, True]),
        "int8": np.array([-128, 0, 127], dtype=np.int8),
        "uint8": np.array([0, 128, 255], dtype=np.uint8),
        "int16": np.array([-32768, 1, 32767], dtype=np.int16),
        "uint16": np.array([0, 1, 65535], dtype=np.uint16),
        "int32": np.array([-(2**31), 1, 2**31 - 1], dtype=np.int32),
        "uint32": np.array([0, 1, 2**32 - 1], dtype=np.uint32),
        "int64": np.array([-(2**63), 1, 2**63 - 1], dtype=np.int64),
        "uint64": np.array([0, 2**53 + 1, 2**64 - 1], dtype=np.uint64),
        "float16": np.array([0.1, -2.5, 65504, np.inf], dtype=np.float16),
        "float32": np.array([0.1, -0.0, 3.4028235e38, np.nan], dtype=np.float32),
        "float64": np.array([0.1, -0.0, 1e-310, np.nan], dtype=np.float64),
        "unicode": np.array(["a", "\u00e9t\u00e9", "\U0001f916!"]),
    })
    add("zero_d_arrays", "0-d arrays (shape []) of several dtypes", [
        np.array(7, dtype=np.uint8),
        np.array(-3, dtype=np.int64),
        np.array(True),
        np.array(np.float32(0.5)),
        np.array("hi"),
    ])
    add("empty_arrays", "arrays with a zero dimension", [
        np.zeros((0,), dtype=np.float32),
        np.zeros((2, 0, 3), dtype=np.int16),
        np.array([], dtype="<U4"),
    ])
    add("fortran_order", "a transposed (non C-contiguous) array: numpy writes C-order bytes", np.arange(6, dtype=np.int32).reshape(2, 3).T)
    add("big_endian", "big-endian arrays (dtype >f4, >i8, >U3, >u2): decoded into native order", [
        np.array([1.5, -2.0, np.inf], dtype=">f4"),
        np.array([1, -2, 2**40], dtype=">i8"),
        np.array(["ab", "xyz"], dtype=">U3"),
        np.array([1, 258], dtype=">u2"),
    ])

    # the two payloads of a real session
    rng = np.random.default_rng(0)
    add("aloha_observation", "ALOHA observation: 4 uint8 CHW 224x224 images, 14-dim float32 state, prompt", {
        "state": rng.standard_normal(14).astype(np.float32),
        "images": {
            cam: _pattern((3, 224, 224), np.uint8, mul=31 + 2 * i, add=7 * i)
            for i, cam in enumerate(["cam_high", "cam_low", "cam_left_wrist", "cam_right_wrist"])
        },
        "prompt": "fold the towel",
    })
    add("actions_response", "policy server response: action chunk [50, 14] float32 plus timings", {
        "actions": rng.standard_normal((50, 14)).astype(np.float32),
        "policy_timing": {"infer_ms": 73.125},
        "server_timing": {"infer_ms": 80.5, "prev_total_ms": 120.0},
    })
    return out


def _native(v):
    if isinstance(v, np.ndarray) and v.dtype.byteorder == ">":
        return v.astype(v.dtype.newbyteorder("="))
    if isinstance(v, list):
        return [_native(x) for x in v]
    if isinstance(v, dict):
        return {k: _native(x) for k, x in v.items()}
    return v


def fixture(name, description, value):
    packed = msgpack_numpy.packb(value)
    decoded = msgpack_numpy.unpackb(packed)
    native = msgpack_numpy.packb(_native(decoded))
    d = {
        "name": name,
        "description": description,
        "hex": packed.hex(),
        "expected": describe(decoded),
        "roundtrip": "exact" if native == packed else "native-order",
    }
    if native != packed:
        d["reencoded_hex"] = native.hex()
    return d


def generate(out_dir):
    os.makedirs(out_dir, exist_ok=True)
    for f in os.listdir(out_dir):
        if f.endswith(".json"):
            os.remove(os.path.join(out_dir, f))
    for name, description, value in cases():
        with open(os.path.join(out_dir, f"{name}.json"), "w", encoding="utf-8", newline="\n") as fh:
            json.dump(fixture(name, description, value), fh, indent=1, ensure_ascii=True, allow_nan=False)
            fh.write("\n")


def describe_stdin():
    payloads = json.load(sys.stdin)
    out = []
    for h in payloads:
        try:
            out.append({"ok": describe(msgpack_numpy.unpackb(bytes.fromhex(h)))})
        except Exception as e:  # noqa: BLE001 -- reported back to the test as data
            out.append({"error": f"{type(e).__name__}: {e}"})
    json.dump(out, sys.stdout, allow_nan=False)


if __name__ == "__main__":
    if sys.argv[1:] == ["--describe"]:
        describe_stdin()
    else:
        root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        generate(sys.argv[1] if len(sys.argv) > 1 else os.path.join(root, "fixtures", "msgpack-numpy"))
