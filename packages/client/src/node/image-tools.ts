/**
 * openpi's `openpi_client.image_tools` for Node: `resizeWithPad` (bit-exact with openpi's PIL-based
 * `resize_with_pad`), `convertToUint8`, and HWC/CHW layout helpers. See docs/image-tools.md.
 */
import { OpenpiEdgeError } from '../errors.js';
import { fromHalfBits, roundToHalf } from '../float16.js';
import type { DataOf, DType, NDArray, TypedArray } from '../ndarray.js';
import { sizeOf } from '../ndarray.js';
import { type PassOrder, resizeRgb8 } from './pillow-resample.js';

export interface ResizeWithPadOptions {
  /**
   * Resampling used. Only `'pillow-bilinear'` (default): Pillow's antialiased BILINEAR, bit-exact with openpi.
   * (An approximate sharp-based variant is {@link resizeWithPadSharp}, which is asynchronous.)
   */
  method?: 'pillow-bilinear';
  /**
   * Pass order of Pillow's two-pass resize, which decides the last bit. Default `'pillow13'` (Pillow >= 13, the
   * version openpi-client installs today); `'horizontal-first'` reproduces Pillow <= 12. Landscape camera frames
   * (height < 2 x width) resize identically under both.
   */
  passOrder?: PassOrder;
}

/** The resized size openpi computes before padding: `ratio = max(w/W, h/H)`, sizes truncated (IEEE double). */
export function resizedSize(
  curHeight: number,
  curWidth: number,
  height: number,
  width: number,
): { height: number; width: number; padTop: number; padLeft: number } {
  const ratio = Math.max(curWidth / width, curHeight / height);
  const rh = Math.trunc(curHeight / ratio);
  const rw = Math.trunc(curWidth / ratio);
  return {
    height: rh,
    width: rw,
    padTop: Math.max(0, Math.trunc((height - rh) / 2)),
    padLeft: Math.max(0, Math.trunc((width - rw) / 2)),
  };
}

function checkTarget(height: number, width: number): void {
  for (const [name, v] of [
    ['height', height],
    ['width', width],
  ] as const) {
    if (!Number.isInteger(v) || v <= 0) {
      throw new OpenpiEdgeError(
        'BAD_ARGUMENT',
        `resizeWithPad: target ${name} must be a positive integer, got ${v}`,
        {
          [name]: v,
        },
      );
    }
  }
}

/** Validates an image batch [..., H, W, 3] uint8 and returns (batch, H, W). */
function checkHwc3Uint8(images: NDArray, where: string): { batch: number; h: number; w: number } {
  const shape = images.shape;
  const rank = shape.length;
  if (rank < 3) {
    throw new OpenpiEdgeError(
      'BAD_SHAPE',
      `${where}: expected images shaped [..., H, W, 3] (HWC), got shape [${shape.join(', ')}]`,
      { shape, dtype: images.dtype },
    );
  }
  if (images.dtype !== 'uint8') {
    throw new OpenpiEdgeError(
      'BAD_DTYPE',
      `${where}: images must be uint8 (openpi passes them to PIL.Image.fromarray), got ${images.dtype}; ` +
        'use convertToUint8 first for float images',
      { dtype: images.dtype, shape },
    );
  }
  const c = shape[rank - 1] as number;
  if (c !== 3) {
    const chwHint = shape[rank - 3] === 3 ? '; this looks like CHW, use chwToHwc first' : '';
    throw new OpenpiEdgeError(
      'BAD_SHAPE',
      `${where}: images must have 3 channels last ([..., H, W, 3]), got shape [${shape.join(', ')}]${chwHint}`,
      { shape, dtype: images.dtype },
    );
  }
  const h = shape[rank - 3] as number;
  const w = shape[rank - 2] as number;
  const batch = sizeOf(shape.slice(0, rank - 3));
  if (images.data.length !== batch * h * w * 3) {
    throw new OpenpiEdgeError(
      'BAD_SHAPE',
      `${where}: data has ${images.data.length} elements but shape [${shape.join(', ')}] needs ${batch * h * w * 3}`,
      { shape, elements: images.data.length },
    );
  }
  return { batch, h, w };
}

/**
 * openpi's `image_tools.resize_with_pad`: resizes `[..., H, W, 3]` uint8 images to fit `height x width` keeping the
 * aspect ratio (Pillow BILINEAR, antialiased; bit-exact), then pads with black, centred, the odd pixel going to the
 * bottom/right. Returns `images` itself (same object, any dtype) when H, W already equal the target, as openpi does.
 *
 * Throws BAD_ARGUMENT for a non-positive target, BAD_DTYPE for non-uint8 input, BAD_SHAPE for a rank < 3 array,
 * a channel count other than 3 (e.g. CHW input) or an image whose resized side would be 0 pixels (Pillow refuses).
 * An empty batch gives an empty result (openpi's np.stack would raise instead).
 */
export function resizeWithPad<D extends DType>(
  images: NDArray<D>,
  height: number,
  width: number,
  options: ResizeWithPadOptions = {},
): NDArray<D> | NDArray<'uint8'> {
  checkTarget(height, width);
  const method = options.method ?? 'pillow-bilinear';
  if (method !== 'pillow-bilinear') {
    throw new OpenpiEdgeError('BAD_ARGUMENT', `resizeWithPad: unknown method ${String(method)}`, { method });
  }
  const passOrder = options.passOrder ?? 'pillow13';
  if (passOrder !== 'pillow13' && passOrder !== 'horizontal-first') {
    throw new OpenpiEdgeError('BAD_ARGUMENT', `resizeWithPad: unknown passOrder ${String(passOrder)}`, {
      passOrder,
    });
  }
  const shape = images.shape;
  const rank = shape.length;
  if (rank >= 3 && shape[rank - 3] === height && shape[rank - 2] === width) return images;
  const { batch, h, w } = checkHwc3Uint8(images, 'resizeWithPad');
  const src = images.data as Uint8Array;
  const outShape = [...shape.slice(0, rank - 3), height, width, 3];
  const out = new Uint8Array(batch * height * width * 3);
  if (batch === 0) return { dtype: 'uint8', shape: outShape, data: out };
  const r = resizedSize(h, w, height, width);
  if (r.height <= 0 || r.width <= 0) {
    throw new OpenpiEdgeError(
      'BAD_SHAPE',
      `resizeWithPad: a ${h}x${w} image fit into ${height}x${width} becomes ${r.height}x${r.width}, ` +
        'which PIL refuses (height and width must be > 0)',
      { shape, height, width, resized: [r.height, r.width] },
    );
  }
  const inBytes = h * w * 3;
  const outBytes = height * width * 3;
  const outStride = width * 3;
  for (let b = 0; b < batch; b++) {
    resizeRgb8(
      { data: src, offset: b * inBytes, stride: w * 3 },
      w,
      h,
      { data: out, offset: b * outBytes + r.padTop * outStride + r.padLeft * 3, stride: outStride },
      r.width,
      r.height,
      passOrder,
    );
  }
  return { dtype: 'uint8', shape: outShape, data: out };
}

/** What {@link convertToUint8} does with `255 * x` outside [0, 256) and with NaN. */
export type OutOfRangePolicy = 'clamp' | 'numpy-x86';

export interface ConvertToUint8Options {
  /**
   * Values of `255 * x` outside [0, 256) (numpy leaves that cast platform-defined). Default `'clamp'`: below 0 and
   * NaN -> 0, 256 and above (and +inf) -> 255. `'numpy-x86'`: what numpy 1.26 gives on x86-64, i.e. truncate to
   * int32 and keep the low 8 bits (-1 -> 255, 257 -> 1), with NaN, +-inf and |v| >= 2^31 -> 0.
   */
  outOfRange?: OutOfRangePolicy;
}

function castToUint8(v: number, policy: OutOfRangePolicy): number {
  if (policy === 'clamp') {
    if (!(v > 0)) return 0; // negatives, -0, NaN
    return v >= 255 ? 255 : Math.trunc(v);
  }
  const t = Math.trunc(v);
  if (!(t > -2147483648 && t < 2147483648)) return 0;
  return t & 255;
}

/**
 * openpi's `image_tools.convert_to_uint8`: a float array becomes `(255 * x).astype(uint8)` — the product computed in
 * the array's own precision (float16 / float32 / float64, as numpy does), then truncated toward zero, no rounding.
 * Any other dtype is returned unchanged (same object). Values of 255*x outside [0, 256) follow `outOfRange`.
 */
export function convertToUint8<D extends DType>(
  img: NDArray<D>,
  options: ConvertToUint8Options = {},
): NDArray<D> | NDArray<'uint8'> {
  const policy = options.outOfRange ?? 'clamp';
  if (policy !== 'clamp' && policy !== 'numpy-x86') {
    throw new OpenpiEdgeError('BAD_ARGUMENT', `convertToUint8: unknown outOfRange policy ${String(policy)}`, {
      outOfRange: policy,
    });
  }
  const dtype: DType = img.dtype;
  if (dtype !== 'float16' && dtype !== 'float32' && dtype !== 'float64') return img;
  const n = img.data.length;
  const out = new Uint8Array(n);
  if (dtype === 'float64') {
    const d = img.data as Float64Array;
    for (let i = 0; i < n; i++) out[i] = castToUint8(255 * (d[i] as number), policy);
  } else if (dtype === 'float32') {
    const d = img.data as Float32Array;
    for (let i = 0; i < n; i++) out[i] = castToUint8(Math.fround(255 * (d[i] as number)), policy);
  } else {
    const d = img.data as Uint16Array;
    for (let i = 0; i < n; i++) out[i] = castToUint8(roundToHalf(255 * fromHalfBits(d[i] as number)), policy);
  }
  return { dtype: 'uint8', shape: [...img.shape], data: out };
}

function newLike<D extends DType>(arr: NDArray<D>, n: number): DataOf[D] {
  if (Array.isArray(arr.data)) return new Array<string>(n).fill('') as DataOf[D];
  const Ctor = (arr.data as TypedArray).constructor as new (n: number) => TypedArray;
  return new Ctor(n) as DataOf[D];
}

/** Swaps the last-three-axes layout: [..., a, b, c] -> [..., b, c, a] (toHwc) or [..., c, a, b] (toChw). */
function permuteLast3<D extends DType>(arr: NDArray<D>, toHwc: boolean, where: string): NDArray<D> {
  const shape = arr.shape;
  const rank = shape.length;
  if (rank < 3) {
    throw new OpenpiEdgeError('BAD_SHAPE', `${where}: expected rank >= 3, got shape [${shape.join(', ')}]`, {
      shape,
      dtype: arr.dtype,
    });
  }
  const a = shape[rank - 3] as number;
  const b = shape[rank - 2] as number;
  const c = shape[rank - 1] as number;
  const plane = a * b * c;
  const batch = sizeOf(shape.slice(0, rank - 3));
  if (arr.data.length !== batch * plane) {
    throw new OpenpiEdgeError(
      'BAD_SHAPE',
      `${where}: data has ${arr.data.length} elements but shape [${shape.join(', ')}] needs ${batch * plane}`,
      { shape, elements: arr.data.length },
    );
  }
  const src = arr.data as ArrayLike<unknown>;
  const dst = newLike(arr, batch * plane) as unknown as { [i: number]: unknown };
  for (let n = 0; n < batch; n++) {
    const base = n * plane;
    if (toHwc) {
      // src [C=a, H=b, W=c] -> dst [H, W, C]
      for (let ch = 0; ch < a; ch++) {
        let s = base + ch * b * c;
        for (let p = 0; p < b * c; p++) dst[base + p * a + ch] = src[s++];
      }
    } else {
      // src [H=a, W=b, C=c] -> dst [C, H, W]
      const hw = a * b;
      let s = base;
      for (let p = 0; p < hw; p++) for (let ch = 0; ch < c; ch++) dst[base + ch * hw + p] = src[s++];
    }
  }
  const outShape = toHwc ? [...shape.slice(0, rank - 3), b, c, a] : [...shape.slice(0, rank - 3), c, a, b];
  return arr.itemChars === undefined
    ? { dtype: arr.dtype, shape: outShape, data: dst as unknown as DataOf[D] }
    : { dtype: arr.dtype, shape: outShape, data: dst as unknown as DataOf[D], itemChars: arr.itemChars };
}

/** `[..., C, H, W]` -> `[..., H, W, C]` (a copy; any dtype). BAD_SHAPE for rank < 3. */
export function chwToHwc<D extends DType>(arr: NDArray<D>): NDArray<D> {
  return permuteLast3(arr, true, 'chwToHwc');
}

/** `[..., H, W, C]` -> `[..., C, H, W]` (a copy; any dtype). BAD_SHAPE for rank < 3. */
export function hwcToChw<D extends DType>(arr: NDArray<D>): NDArray<D> {
  return permuteLast3(arr, false, 'hwcToChw');
}
