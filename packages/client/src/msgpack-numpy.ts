/**
 * openpi's msgpack-numpy encoding (openpi_client/msgpack_numpy.py), byte for byte.
 *
 * Wire form (see docs/protocol.md "## Codec"):
 * - ndarray  -> map of 4 entries with **bin** keys, in this order: `__ndarray__`: true, `data`: bin (C-order
 *   element bytes, native byte order), `dtype`: str (numpy `dtype.str`, e.g. `<f4`), `shape`: array of ints.
 * - numpy scalar -> map of 3 bin-keyed entries: `__npgeneric__`: true, `data`: the value as a plain msgpack value,
 *   `dtype`: str. Like Python, `float64` scalars are written as plain float64 and `unicode` scalars as plain str
 *   (np.float64 and np.str_ subclass float and str, so msgpack never calls openpi's hook for them).
 * - everything else as Python's msgpack (use_bin_type=True) writes it: str -> str, Uint8Array -> bin, lists ->
 *   array, plain objects -> map with str keys in insertion order, null -> nil, booleans, ints in the smallest
 *   format (unsigned formats for non-negative values), floats as float64.
 *
 * JS numbers: a safe integer (|n| <= 2^53 - 1, not -0) encodes as a msgpack int, like a Python int; anything else
 * (fractions, -0, NaN, +-Infinity, integral values beyond 2^53) as float64, like a Python float. A Python float
 * with an integral value (1.0) therefore needs `npScalar('float64', 1)` to travel as a float; decoding with
 * `keepFloatType: true` produces exactly that, so decode -> encode reproduces Python's bytes.
 *
 * The encoder (msgpack-encode.ts) and decoder (msgpack-decode.ts, sharing msgpack-wire.ts) are our own rather
 * than delegated to msgpackr: msgpackr writes integers beyond 32 bits as float64 (Python would read a float, not
 * an int) and bigints always as 8 bytes, and it cannot report which key path of a malformed message is wrong.
 *
 * Speed (bench/codec.bench.ts): the cost that matters is copying array bytes, so both directions touch them at
 * most once. packNumpy walks the value once, validating it and recording a flat list of write operations with the
 * exact message length; then it allocates once (or uses the caller's `into` buffer) and runs the list, array
 * bytes going out with one `set()` each. unpackNumpy recognises openpi's fixed ndarray layout in place (no
 * intermediate key/value objects) and returns array data as views of the message where alignment allows.
 */

export { type UnpackOptions, unpackNumpy } from './msgpack-decode.js';
export { type PackOptions, packNumpy } from './msgpack-encode.js';
