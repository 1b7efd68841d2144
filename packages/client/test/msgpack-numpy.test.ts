/**
 * Unit tests of the msgpack-numpy codec: the number rule, zero-copy decoding, and precise errors for every kind
 * of bad input (byte vectors built with small helpers, one comment per field). Python parity lives in
 * fixtures-corpus.test.ts.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isOpenpiEdgeError, OpenpiEdgeError } from '../src/errors.js';
import { packNumpy, unpackNumpy } from '../src/msgpack-numpy.js';
import { type NDArray, ndarray, npScalar, type Value, zeros } from '../src/ndarray.js';

const hex = (b: Uint8Array): string => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');
const bytes = (...parts: (number[] | Uint8Array | string)[]): Uint8Array =>
  new Uint8Array(parts.flatMap((p) => (typeof p === 'string' ? [...Buffer.from(p, 'utf8')] : Array.from(p))));
const u32be = (n: number): number[] => [(n >>> 24) & 0xff, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff];
/** msgpack bin8 of an ASCII key, the way openpi writes its marker keys. */
const binKey = (k: string): number[] => [0xc4, k.length, ...Buffer.from(k, 'latin1')];
/** msgpack fixstr / str8. */
const str = (s: string): number[] => {
  const b = [...Buffer.from(s, 'utf8')];
  return b.length < 32 ? [0xa0 | b.length, ...b] : [0xd9, b.length, ...b];
};

/** An openpi ndarray map with the given raw fields. */
function ndarrayMsg(data: number[], dtype: string, shape: number[]): Uint8Array {
  return bytes(
    [0x84], // fixmap, 4 entries
    binKey('__ndarray__'),
    [0xc3], // true
    binKey('data'),
    [0xc4, data.length, ...data], // bin8
    binKey('dtype'),
    str(dtype),
    binKey('shape'),
    [0x90 | shape.length, ...shape], // fixarray of positive fixints
  );
}

function errorOf(fn: () => unknown): OpenpiEdgeError {
  try {
    fn();
  } catch (e) {
    if (e instanceof OpenpiEdgeError) return e;
    throw new Error(`expected an OpenpiEdgeError, got ${String(e)}`);
  }
  throw new Error('expected an error');
}

describe('packNumpy: JS numbers and Python ints/floats', () => {
  it('writes safe integers as ints in the smallest format, like Python', () => {
    expect(hex(packNumpy(1))).toBe('01');
    expect(hex(packNumpy(200))).toBe('ccc8');
    expect(hex(packNumpy(-33))).toBe('d0df');
    expect(hex(packNumpy(2 ** 40))).toBe('cf0000010000000000');
    expect(hex(packNumpy(-(2 ** 40)))).toBe('d3ffffff0000000000');
    expect(hex(packNumpy(2n ** 64n - 1n))).toBe('cfffffffffffffffff');
    expect(hex(packNumpy(5n))).toBe('05');
  });

  it('writes everything else as float64, and npScalar float64 forces a float', () => {
    expect(hex(packNumpy(1.5))).toBe('cb3ff8000000000000');
    expect(hex(packNumpy(-0))).toBe('cb8000000000000000');
    expect(hex(packNumpy(2 ** 53))).toBe('cb4340000000000000');
    expect(hex(packNumpy(Number.NaN))).toBe('cb7ff8000000000000');
    expect(hex(packNumpy(npScalar('float64', 1)))).toBe('cb3ff0000000000000');
    expect(unpackNumpy(packNumpy(npScalar('float64', 1)))).toBe(1);
    expect(unpackNumpy(packNumpy(npScalar('float64', 1)), { keepFloatType: true })).toEqual(
      npScalar('float64', 1),
    );
  });

  it('refuses bigints outside 64 bits', () => {
    const e = errorOf(() => packNumpy({ big: [2n ** 64n] }));
    expect(e.code).toBe('ENCODE_FAILED');
    expect(e.context.path).toBe('big[0]');
  });
});

describe('packNumpy: refusals name the key path', () => {
  const cases: [string, () => unknown, string, string][] = [
    ['undefined', () => packNumpy({ a: { b: undefined } } as unknown as Value), 'ENCODE_FAILED', 'a.b'],
    ['a function', () => packNumpy({ f: (() => 1) as unknown as Value }), 'ENCODE_FAILED', 'f'],
    [
      'a bare Float32Array',
      () => packNumpy({ x: new Float32Array(2) as unknown as Value }),
      'ENCODE_FAILED',
      'x',
    ],
    ['a Map', () => packNumpy([new Map() as unknown as Value]), 'ENCODE_FAILED', '[0]'],
    ['a Date', () => packNumpy({ t: new Date() as unknown as Value }), 'ENCODE_FAILED', 't'],
    ['a lone surrogate', () => packNumpy({ s: 'a\ud800b' }), 'ENCODE_FAILED', 's'],
    [
      'data shorter than the shape',
      () => packNumpy({ img: { dtype: 'uint8', shape: [2, 2], data: new Uint8Array(3) } }),
      'BAD_SHAPE',
      'img',
    ],
    [
      'a typed array of the wrong class',
      () => packNumpy({ s: { dtype: 'float32', shape: [2], data: new Float64Array(2) } as unknown as Value }),
      'ENCODE_FAILED',
      's',
    ],
    [
      'an unknown dtype',
      () =>
        packNumpy({ s: { dtype: 'complex64', shape: [1], data: new Float32Array(2) } as unknown as Value }),
      'ENCODE_FAILED',
      's',
    ],
    [
      'a negative dimension',
      () => packNumpy({ s: { dtype: 'float32', shape: [-1], data: new Float32Array(0) } }),
      'BAD_SHAPE',
      's',
    ],
    [
      'unicode wider than itemChars',
      () => packNumpy({ u: ndarray('unicode', [1], ['abcde'], 4) }),
      'ENCODE_FAILED',
      'u',
    ],
    ['an int8 scalar out of range', () => packNumpy([npScalar('int8', 200)]), 'ENCODE_FAILED', '[0].data'],
    ['a fractional int scalar', () => packNumpy([npScalar('int32', 1.5)]), 'ENCODE_FAILED', '[0].data'],
  ];
  for (const [what, fn, code, path] of cases) {
    it(`refuses ${what}`, () => {
      const e = errorOf(fn);
      expect(e.code).toBe(code);
      expect(e.context.path).toBe(path);
      expect(e.message).toContain(path);
    });
  }

  it('refuses a cycle by depth', () => {
    const a: Value[] = [];
    a.push(a);
    expect(errorOf(() => packNumpy(a)).code).toBe('ENCODE_FAILED');
  });

  it('names dtype and shape when the data does not match', () => {
    const e = errorOf(() => packNumpy({ img: { dtype: 'uint8', shape: [2, 2], data: new Uint8Array(3) } }));
    expect(e.context).toMatchObject({ dtype: 'uint8', shape: [2, 2], elements: 3 });
  });
});

describe('packNumpy: arrays', () => {
  it('writes bool arrays as 0/1 bytes whatever the caller stored', () => {
    const v = unpackNumpy(packNumpy(ndarray('bool', [3], new Uint8Array([0, 7, 1])))) as NDArray<'bool'>;
    expect([...v.data]).toEqual([0, 1, 1]);
  });

  it('writes an array view of a larger buffer with only its own bytes', () => {
    const big = new Float32Array([9, 1, 2, 9]);
    const v = unpackNumpy(packNumpy(ndarray('float32', [2], big.subarray(1, 3)))) as NDArray<'float32'>;
    expect([...v.data]).toEqual([1, 2]);
  });
});

describe('unpackNumpy: zero-copy', () => {
  it('views aligned array data in place, copies on request', () => {
    const msg = packNumpy(ndarray('float32', [1], new Float32Array([1.5])));
    const at = Buffer.from(msg).indexOf(Buffer.from([0x00, 0x00, 0xc0, 0x3f])); // f32 1.5, little-endian
    const shift = (4 - (at % 4)) % 4; // place the element bytes on a 4-byte boundary
    const buf = new Uint8Array(msg.length + 8);
    buf.set(msg, shift);
    const view = buf.subarray(shift, shift + msg.length);
    const a = unpackNumpy(view) as NDArray<'float32'>;
    expect(a.data[0]).toBe(1.5);
    expect(a.data.buffer).toBe(buf.buffer);
    buf[shift + at + 3] = 0x40; // mutate the message: the view sees it
    expect(a.data[0]).toBe(6); // 0x40c00000
    const c = unpackNumpy(view, { copy: true }) as NDArray<'float32'>;
    expect(c.data.buffer).not.toBe(buf.buffer);
    expect(c.data[0]).toBe(6);
  });

  it('copies unaligned array data', () => {
    const msg = packNumpy(ndarray('float64', [2], new Float64Array([1.25, -3])));
    for (let shift = 0; shift < 8; shift++) {
      const buf = new Uint8Array(msg.length + 8);
      buf.set(msg, shift);
      const a = unpackNumpy(buf.subarray(shift, shift + msg.length)) as NDArray<'float64'>;
      expect([...a.data]).toEqual([1.25, -3]);
    }
  });
});

describe('unpackNumpy: bad messages', () => {
  const cases: [string, Uint8Array, string, Record<string, unknown>][] = [
    ['an empty message', bytes([]), 'BAD_MESSAGE', { path: '<root>' }],
    ['trailing bytes', bytes([0x01, 0x02]), 'BAD_MESSAGE', { trailingBytes: 1 }],
    ['the unused byte 0xc1', bytes([0x91, 0xc1]), 'BAD_MESSAGE', { path: '[0]', byte: 0xc1 }],
    ['an extension type', bytes([0xd4, 0x01, 0x00]), 'BAD_MESSAGE', { byte: 0xd4 }],
    ['a timestamp extension', bytes([0xd6, 0xff, 0, 0, 0, 0]), 'BAD_MESSAGE', { byte: 0xd6 }],
    ['a truncated str', bytes([0xa5, 0x61]), 'BAD_MESSAGE', { declaredBytes: 5, presentBytes: 1 }],
    [
      'a truncated bin32',
      bytes([0xc6, ...u32be(1000), 1, 2]),
      'BAD_MESSAGE',
      { declaredBytes: 1000, presentBytes: 2 },
    ],
    [
      'a huge array count',
      bytes([0xdd, ...u32be(0xffffffff)]),
      'BAD_MESSAGE',
      { declaredEntries: 0xffffffff },
    ],
    ['invalid UTF-8', bytes([0xa2, 0xc3, 0x28]), 'BAD_MESSAGE', { declaredBytes: 2 }],
    ['an int map key', bytes([0x81, 0x01, 0x02]), 'BAD_MESSAGE', { path: '<root>' }],
    ['a plain dict with a bytes key', bytes([0x81], binKey('k'), [0x01]), 'BAD_MESSAGE', { key: 'k' }],
    [
      'an ndarray map without data',
      bytes([0x83], binKey('__ndarray__'), [0xc3], binKey('dtype'), str('<f4'), binKey('shape'), [0x90]),
      'BAD_MESSAGE',
      { missing: 'data' },
    ],
    [
      'data shorter than the shape',
      bytes([0x81], str('state'), ndarrayMsg([0, 0, 0, 0], '<f4', [2])),
      'BAD_SHAPE',
      { path: 'state', dtype: '<f4', shape: [2], declaredBytes: 8, presentBytes: 4 },
    ],
    ['an object dtype', ndarrayMsg([0, 0, 0, 0, 0, 0, 0, 0], '|O', [1]), 'BAD_DTYPE', { dtype: '|O' }],
    ['a complex dtype', ndarrayMsg([0, 0, 0, 0, 0, 0, 0, 0], '<c8', [1]), 'BAD_DTYPE', { dtype: '<c8' }],
    ['a void dtype', ndarrayMsg([0, 0], '|V2', [1]), 'BAD_DTYPE', { dtype: '|V2' }],
    ['an unknown dtype', ndarrayMsg([0], 'float32', [1]), 'BAD_DTYPE', { dtype: 'float32' }],
    [
      'a dtype that is not a str',
      bytes(
        [0x84],
        binKey('__ndarray__'),
        [0xc3],
        binKey('data'),
        [0xc4, 0],
        binKey('dtype'),
        [0x01],
        binKey('shape'),
        [0x90],
      ),
      'BAD_MESSAGE',
      {},
    ],
    [
      'a negative dimension',
      bytes(
        [0x84],
        binKey('__ndarray__'),
        [0xc3],
        binKey('data'),
        [0xc4, 0],
        binKey('dtype'),
        str('|u1'),
        binKey('shape'),
        [0x91, 0xff],
      ),
      'BAD_SHAPE',
      { dtype: '|u1' },
    ],
    [
      'a scalar out of its dtype range',
      bytes(
        [0x83],
        binKey('__npgeneric__'),
        [0xc3],
        binKey('data'),
        [0xcd, 0x01, 0x00],
        binKey('dtype'),
        str('|u1'),
      ),
      'BAD_MESSAGE',
      { dtype: '|u1' },
    ],
    [
      'a unicode code point beyond U+10FFFF',
      ndarrayMsg([0, 0, 0x11, 0], '<U1', [1]),
      'BAD_MESSAGE',
      { element: 0 },
    ],
  ];
  for (const [what, msg, code, context] of cases) {
    it(`refuses ${what}`, () => {
      const e = errorOf(() => unpackNumpy(msg));
      expect(e.code).toBe(code);
      expect(e.context).toMatchObject(context);
    });
  }

  it('names the nested key path', () => {
    const msg = packNumpy({ images: { cam_high: zeros('uint8', [3, 2, 2]) } });
    const broken = msg.slice(0, msg.length - 1); // cut the last shape entry
    const e = errorOf(() => unpackNumpy(broken));
    expect(e.code).toBe('BAD_MESSAGE');
    expect(e.context).toMatchObject({ path: 'images.cam_high.shape', declaredEntries: 3, presentBytes: 2 });
    const msg2 = packNumpy({ images: { cam_high: 'x'.repeat(40) } });
    const e2 = errorOf(() => unpackNumpy(msg2.slice(0, msg2.length - 3)));
    expect(e2.context).toMatchObject({ path: 'images.cam_high', declaredBytes: 40, presentBytes: 37 });
  });

  it('refuses nesting deeper than maxDepth', () => {
    const deep = bytes(new Array(20).fill(0x91), [0x01]);
    expect(unpackNumpy(deep)).toBeDefined();
    expect(errorOf(() => unpackNumpy(deep, { maxDepth: 10 })).code).toBe('BAD_MESSAGE');
  });

  it('keeps a "__proto__" key as data, never as a prototype', () => {
    const v = unpackNumpy(bytes([0x81], str('__proto__'), [0x81], str('polluted'), [0xc3])) as Record<
      string,
      Value
    >;
    expect(Object.getPrototypeOf(v)).toBe(Object.prototype);
    expect(Object.keys(v)).toEqual(['__proto__']);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(hex(packNumpy(v))).toBe('81a95f5f70726f746f5f5f81a8706f6c6c75746564c3');
  });

  it('decodes byte-swapped arrays into native order', () => {
    const a = unpackNumpy(ndarrayMsg([0x3f, 0xc0, 0, 0], '>f4', [1])) as NDArray<'float32'>;
    expect(a.dtype).toBe('float32');
    expect(a.data[0]).toBe(1.5);
  });

  it('turns every malformed input into an OpenpiEdgeError (fuzz)', () => {
    const seed = packNumpy({
      state: ndarray('float32', [3], new Float32Array([1, 2, 3])),
      s: npScalar('int16', -4),
      prompt: 'p',
      l: [1, 1.5, null, true, new Uint8Array([1])],
    });
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: seed.length - 1 }),
        fc.integer({ min: 0, max: 255 }),
        fc.nat({ max: seed.length }),
        (at, byte, cut) => {
          const msg = seed.slice(0, Math.max(1, cut));
          if (at < msg.length) msg[at] = byte;
          try {
            unpackNumpy(msg);
          } catch (e) {
            expect(isOpenpiEdgeError(e)).toBe(true);
          }
        },
      ),
      { numRuns: 3000 },
    );
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), (msg) => {
        try {
          unpackNumpy(msg);
        } catch (e) {
          expect(isOpenpiEdgeError(e)).toBe(true);
        }
      }),
      { numRuns: 3000 },
    );
  });
});

describe('round trip', () => {
  const leaf: fc.Arbitrary<Value> = fc.oneof(
    fc.integer(),
    fc.double(),
    fc.string({ unit: 'grapheme' }),
    fc.boolean(),
    fc.constant(null),
    fc.bigInt({ min: -(2n ** 63n), max: 2n ** 64n - 1n }),
    fc.uint8Array({ maxLength: 8 }),
    fc.float32Array({ maxLength: 6 }).map((d) => ndarray('float32', [d.length], d)),
    fc.int16Array({ maxLength: 6 }).map((d) => ndarray('int16', [d.length], d)),
  );
  const tree = fc.letrec<{ v: Value }>((tie) => ({
    v: fc.oneof(
      { depthSize: 'small', withCrossShrink: true },
      leaf,
      fc.array(tie('v'), { maxLength: 4 }),
      fc.dictionary(fc.string(), tie('v'), { maxKeys: 4 }),
    ),
  })).v;

  it('decode(encode(x)) re-encodes to the same bytes', () => {
    fc.assert(
      fc.property(tree, (v) => {
        const once = packNumpy(v);
        expect(hex(packNumpy(unpackNumpy(once, { keepFloatType: true })))).toBe(hex(once));
      }),
      { numRuns: 500 },
    );
  });
});

describe('unpackNumpy on Node Buffers', () => {
  // Buffer.prototype.slice is a view, unlike Uint8Array's: the decoder must not rely on it copying.
  const values = [1.5, -2.25, 3];
  const le = new Uint8Array(Float32Array.from(values).buffer);
  const be = new Uint8Array(le.length);
  for (let i = 0; i < le.length; i += 4) for (let k = 0; k < 4; k++) be[i + k] = le[i + 3 - k]!;
  const indexOf = (hay: Uint8Array, needle: Uint8Array): number =>
    Buffer.from(hay).indexOf(Buffer.from(needle));

  function message(bigEndian: boolean): Uint8Array {
    const packed = packNumpy(ndarray('float32', [3], Float32Array.from(values))).slice();
    if (!bigEndian) return packed;
    const at = indexOf(packed, le);
    packed.set(be, at);
    packed[indexOf(packed, new TextEncoder().encode('<f4'))] = '>'.charCodeAt(0);
    return packed;
  }

  for (const bigEndian of [false, true]) {
    it(`decodes ${bigEndian ? 'big' : 'little'}-endian float32 at every byte offset and leaves the input as it was`, () => {
      const msg = message(bigEndian);
      for (let off = 0; off < 4; off++) {
        const backing = Buffer.alloc(msg.length + off);
        backing.set(msg, off);
        const input = backing.subarray(off);
        const before = Buffer.from(input);
        const out = unpackNumpy(input) as NDArray<'float32'>;
        expect(Array.from(out.data), `offset ${off}`).toEqual(values);
        expect(Buffer.compare(input, before), `input unchanged at offset ${off}`).toBe(0);
      }
    });
  }
});

describe('packNumpy: output buffer', () => {
  const obs = {
    state: ndarray('float32', [3], new Float32Array([0.5, -1, 2])),
    images: { cam_high: zeros('uint8', [3, 4, 4]) },
    prompt: 'fold the towel',
  };

  it('allocates exactly the message length', () => {
    const msg = packNumpy(obs);
    expect(msg.byteOffset).toBe(0);
    expect(msg.buffer.byteLength).toBe(msg.length);
  });

  it('writes into a caller buffer that fits, at its offset, with the same bytes', () => {
    const fresh = packNumpy(obs);
    const backing = new Uint8Array(fresh.length + 16).fill(0xee);
    const into = backing.subarray(5);
    const out = packNumpy(obs, { into });
    expect(out.buffer).toBe(backing.buffer);
    expect(out.byteOffset).toBe(5);
    expect(hex(out)).toBe(hex(fresh));
    expect(backing[4]).toBe(0xee); // nothing before `into`
    expect(backing[5 + fresh.length]).toBe(0xee); // nothing after the message
    const again = packNumpy({ a: 1 }, { into }); // the next message reuses the same bytes
    expect(again.buffer).toBe(backing.buffer);
    expect(hex(again)).toBe('81a16101');
  });

  it('allocates a fresh buffer when the caller buffer is too small, leaving it untouched', () => {
    const fresh = packNumpy(obs);
    const into = new Uint8Array(fresh.length - 1).fill(7);
    const out = packNumpy(obs, { into });
    expect(out.buffer).not.toBe(into.buffer);
    expect(hex(out)).toBe(hex(fresh));
    expect(into.every((b) => b === 7)).toBe(true);
  });

  it('refuses an `into` that is not a Uint8Array', () => {
    const e = errorOf(() => packNumpy(1, { into: new Float32Array(4) as unknown as Uint8Array }));
    expect(e.code).toBe('BAD_ARGUMENT');
  });

  it('encodes correctly when re-entered from a getter and after a failed call', () => {
    const inner = { x: [1, 2, 3] };
    const value = {
      get nested(): Value {
        return hex(packNumpy(inner)); // packNumpy inside packNumpy
      },
      after: 'z',
    } as unknown as Value;
    expect(unpackNumpy(packNumpy(value))).toEqual({ nested: '81a17893010203', after: 'z' });
    expect(errorOf(() => packNumpy({ bad: undefined } as unknown as Value)).code).toBe('ENCODE_FAILED');
    expect(hex(packNumpy({ ok: [true, null] }))).toBe('81a26f6b92c3c0');
  });
});

describe('unpackNumpy: arrays read in place and by the general path', () => {
  /** ndarray map with the four entries in a caller-chosen order. */
  function reordered(
    order: ('nd' | 'data' | 'dtype' | 'shape')[],
    data: number[],
    dtype: string,
    shape: number[],
  ) {
    const parts: Record<string, (number[] | string)[]> = {
      nd: [binKey('__ndarray__'), [0xc3]],
      data: [binKey('data'), [0xc4, data.length, ...data]],
      dtype: [binKey('dtype'), str(dtype)],
      shape: [binKey('shape'), [0x90 | shape.length, ...shape]],
    };
    return bytes([0x84], ...order.flatMap((k) => parts[k] ?? []));
  }

  it('decodes openpi order and any other order of the ndarray entries alike', () => {
    const data = [0, 0, 0xc0, 0x3f, 0, 0, 0x20, 0xc0]; // float32 1.5, -2.5
    const canonical = unpackNumpy(ndarrayMsg(data, '<f4', [2])) as NDArray<'float32'>;
    expect([...canonical.data]).toEqual([1.5, -2.5]);
    const other = unpackNumpy(reordered(['shape', 'dtype', 'data', 'nd'], data, '<f4', [2]));
    expect(other).toEqual(canonical);
    // Python tests the presence of b"__ndarray__", not its value
    const falseMarker = ndarrayMsg(data, '<f4', [2]);
    falseMarker[falseMarker.indexOf(0xc3)] = 0xc2;
    expect(unpackNumpy(falseMarker)).toEqual(canonical);
  });

  it('reads every int format of a shape dimension', () => {
    const n = 70000; // uint32 dimension
    const msg = packNumpy({ a: zeros('uint8', [n, 0]), b: zeros('uint8', [0, 300, 200, 5]) });
    const v = unpackNumpy(msg) as Record<string, NDArray>;
    expect(v.a?.shape).toEqual([n, 0]);
    expect(v.b?.shape).toEqual([0, 300, 200, 5]);
  });

  it('views uint8 images of a Buffer in place, as plain Uint8Arrays', () => {
    const img = zeros('uint8', [3, 8, 8]);
    img.data.forEach((_, i) => {
      img.data[i] = i & 0xff;
    });
    const input = Buffer.from(packNumpy({ images: { cam_high: img } }));
    const out = (unpackNumpy(input) as { images: { cam_high: NDArray<'uint8'> } }).images.cam_high;
    expect(out.data.constructor).toBe(Uint8Array);
    expect(out.data.buffer).toBe(input.buffer);
    expect([...out.data]).toEqual([...img.data]);
  });

  for (const count of [14, 3000]) {
    // 56 bytes go through the decoder's small aligned stage, 12000 bytes get their own buffer
    it(`copies ${count} unaligned or big-endian float32 at every offset into native order, input unchanged`, () => {
      const values = Float32Array.from({ length: count }, (_, i) => Math.cos(i) * 100);
      const le = packNumpy(ndarray('float32', [count], values));
      const be = le.slice();
      const at = Buffer.from(be).indexOf(Buffer.from('<f4'));
      be[at] = '>'.charCodeAt(0);
      const dataAt = Buffer.from(le).indexOf(Buffer.from(values.buffer, 0, 8));
      for (let i = dataAt; i < dataAt + 4 * count; i += 4) be.set(le.slice(i, i + 4).reverse(), i);
      for (const [name, msg] of [
        ['little', le],
        ['big', be],
      ] as const) {
        for (let off = 0; off < 8; off++) {
          const backing = Buffer.alloc(msg.length + off);
          backing.set(msg, off);
          const input = backing.subarray(off);
          const before = Buffer.from(input);
          for (const copy of [false, true]) {
            const out = unpackNumpy(input, { copy }) as NDArray<'float32'>;
            expect(out.data.constructor).toBe(Float32Array);
            expect(out.data.length).toBe(count);
            expect(
              Buffer.compare(
                Buffer.from(out.data.buffer, out.data.byteOffset, 4 * count),
                Buffer.from(values.buffer),
              ),
              `${name} endian, offset ${off}`,
            ).toBe(0);
            const aligned = (input.byteOffset + dataAt) % 4 === 0;
            if (copy || name === 'big' || !aligned) expect(out.data.buffer).not.toBe(input.buffer);
            else expect(out.data.buffer).toBe(input.buffer);
          }
          expect(Buffer.compare(input, before), `${name} endian input unchanged at offset ${off}`).toBe(0);
        }
      }
    });
  }

  it('decodes many distinct and similar keys (the key cache never mixes them up)', () => {
    const obj: Record<string, Value> = {};
    for (let i = 0; i < 2000; i++) obj[`k${i}`] = i;
    obj[''] = 'empty';
    obj.k = 'k';
    obj.é = 'non-ascii';
    obj['x'.repeat(31)] = 'long';
    obj['x'.repeat(30)] = 'shorter';
    for (let round = 0; round < 2; round++) {
      const back = unpackNumpy(packNumpy(obj)) as Record<string, Value>;
      expect(back).toEqual(obj);
      expect(Object.keys(back)).toEqual(Object.keys(obj));
    }
  });
});
