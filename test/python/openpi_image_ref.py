"""Reference outputs of openpi's image tools, for the TypeScript parity tests and the image benchmark.

Usage (with the repo's .venv python, which has openpi-client, numpy 1.26 and Pillow):
  openpi_image_ref.py cases OUTDIR   write camera-like frames (fixed seed) and openpi's outputs as raw bytes,
                                     described by OUTDIR/manifest.json
  openpi_image_ref.py frames FILE     write the benchmark's four 480x640 frames (uint8 [4, 480, 640, 3]) to FILE
  openpi_image_ref.py bench N        time openpi's resize_with_pad on four 480x640 frames -> 224x224, N times;
                                     prints {"samples_ms": [...]} as one JSON line

All arrays are written C-order, native (little-endian) byte order, with their dtype and shape in the manifest.
"""

import io
import json
import os
import sys
import time

import numpy as np
import PIL
from openpi_client import image_tools
from PIL import Image

SEED = 20240601


def camera_frame(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """Smooth gradients + sensor-like noise + sharp edges (rectangles, thin lines, a checkerboard patch)."""
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    img = np.empty((h, w, 3), np.float64)
    for c in range(3):
        fx, fy = rng.uniform(0.5, 3.0, 2)
        phase = rng.uniform(0, 2 * np.pi)
        img[..., c] = 128 + 90 * np.sin(2 * np.pi * (fx * xx / max(w, 1) + fy * yy / max(h, 1)) + phase)
    img += rng.normal(0, 6, img.shape)
    for _ in range(6):
        y0, x0 = rng.integers(0, max(h, 1)), rng.integers(0, max(w, 1))
        y1, x1 = y0 + rng.integers(1, max(h // 3, 2)), x0 + rng.integers(1, max(w // 3, 2))
        img[y0:y1, x0:x1] = rng.integers(0, 256, 3)
    for _ in range(4):
        if rng.random() < 0.5:
            img[rng.integers(0, h), :] = rng.choice([0, 255])
        else:
            img[:, rng.integers(0, w)] = rng.choice([0, 255])
    ch, cw = max(1, h // 4), max(1, w // 4)
    checker = ((np.arange(ch)[:, None] // 3 + np.arange(cw)[None, :] // 3) % 2) * 255
    img[:ch, -cw:] = checker[..., None]
    return np.clip(np.rint(img), 0, 255).astype(np.uint8)


# (name, input shape [..., H, W, 3], target height, target width, kind)
RESIZE_CASES = [
    ("cam480x640", (480, 640, 3), 224, 224, "camera"),
    ("cam720x1280", (720, 1280, 3), 224, 224, "camera"),
    ("cam376x672", (376, 672, 3), 224, 224, "camera"),
    ("cam256x256", (256, 256, 3), 224, 224, "camera"),
    ("cam1080x1920", (1080, 1920, 3), 224, 224, "camera"),
    ("cam360x640", (360, 640, 3), 224, 224, "camera"),
    ("up100x300to448", (100, 300, 3), 448, 448, "camera"),
    ("up100x150", (100, 150, 3), 224, 224, "camera"),
    ("up60x80", (60, 80, 3), 224, 224, "camera"),
    ("up1x3", (1, 3, 3), 224, 224, "noise"),
    ("down100x300", (100, 300, 3), 224, 224, "camera"),
    ("noise480x640", (480, 640, 3), 224, 224, "noise"),
    ("cam480x640to240x320", (480, 640, 3), 240, 320, "camera"),
    ("cam480x640to96x128", (480, 640, 3), 96, 128, "camera"),
    ("cam480x640to480x480", (480, 640, 3), 480, 480, "camera"),
    ("cam720x1280to256x256", (720, 1280, 3), 256, 256, "camera"),
    ("cam500x500to224x300", (500, 500, 3), 224, 300, "camera"),
    ("padonly224x100", (224, 100, 3), 224, 224, "camera"),
    ("padonly300x224", (300, 224, 3), 448, 224, "camera"),
    ("cam224x225", (224, 225, 3), 224, 224, "camera"),
    ("cam225x224", (225, 224, 3), 224, 224, "camera"),
    ("thin10x1000", (10, 1000, 3), 224, 224, "camera"),
    ("thin1000x10", (1000, 10, 3), 224, 224, "camera"),
    ("tall720x300", (720, 300, 3), 224, 224, "camera"),
    ("tall1280x480", (1280, 480, 3), 224, 224, "camera"),
    ("tall500x240to100x100", (500, 240, 3), 100, 100, "noise"),
    ("tall481x240", (481, 240, 3), 224, 224, "noise"),
    ("odd333x517", (333, 517, 3), 97, 131, "noise"),
    ("batch4x480x640", (4, 480, 640, 3), 224, 224, "camera"),
    ("batch2x2x120x160", (2, 2, 120, 160, 3), 224, 224, "camera"),
    ("solid255x480x640", (480, 640, 3), 224, 224, "white"),
]
# Random geometries (noise images): covers both pass orders, up/down scales and odd paddings.
def _random_cases(n: int) -> list:
    geo = np.random.default_rng(SEED + 1)
    out = []
    while len(out) < n:
        h, w, th, tw = (int(v) for v in (*geo.integers(1, 400, 2), *geo.integers(8, 300, 2)))
        ratio = max(w / tw, h / th)
        if int(h / ratio) > 0 and int(w / ratio) > 0:  # PIL refuses a 0-pixel side (see ERROR_CASES)
            out.append((f"rand{len(out)}", (h, w, 3), th, tw, "noise"))
    return out


RESIZE_CASES += _random_cases(60)

# Geometries where openpi's resize_with_pad raises (a resized side of 0 pixels).
ERROR_CASES = [("sliver1x399", (1, 399, 3), 224, 224), ("sliver500x2", (500, 2, 3), 224, 224)]


def make_images(rng: np.random.Generator, shape: tuple, kind: str) -> np.ndarray:
    h, w = shape[-3], shape[-2]
    lead = int(np.prod(shape[:-3], dtype=np.int64)) if len(shape) > 3 else 1
    if kind == "noise":
        return rng.integers(0, 256, shape, dtype=np.uint8)
    if kind == "white":
        return np.full(shape, 255, np.uint8)
    frames = [camera_frame(rng, h, w) for _ in range(lead)]
    return np.stack(frames).reshape(shape)


def horizontal_first_resize_with_pad(image: np.ndarray, height: int, width: int) -> np.ndarray:
    """openpi's resize_with_pad geometry with Pillow's pre-13 pass order (horizontal, then vertical)."""
    cur_h, cur_w = image.shape[:2]
    ratio = max(cur_w / width, cur_h / height)
    rh, rw = int(cur_h / ratio), int(cur_w / ratio)
    im = Image.fromarray(image)
    if rw != cur_w:
        im = im.resize((rw, cur_h), resample=Image.BILINEAR)
    if rh != cur_h:
        im = im.resize((rw, rh), resample=Image.BILINEAR)
    out = Image.new("RGB", (width, height), 0)
    out.paste(im, (max(0, int((width - rw) / 2)), max(0, int((height - rh) / 2))))
    return np.asarray(out)


def write_array(outdir: str, name: str, arr: np.ndarray) -> dict:
    arr = np.ascontiguousarray(arr)
    with open(os.path.join(outdir, name), "wb") as f:
        f.write(arr.tobytes())
    return {"file": name, "dtype": str(arr.dtype), "shape": list(arr.shape)}


def cases(outdir: str) -> None:
    os.makedirs(outdir, exist_ok=True)
    rng = np.random.default_rng(SEED)
    manifest: dict = {"pillow": PIL.__version__, "numpy": np.__version__, "resize": [], "resize_hfirst": [], "errors": [], "uint8": [], "jpeg": []}

    for name, shape, th, tw, kind in RESIZE_CASES:
        images = make_images(rng, shape, kind)
        expected = image_tools.resize_with_pad(images, th, tw)
        manifest["resize"].append(
            {
                "name": name,
                "height": th,
                "width": tw,
                "input": write_array(outdir, f"{name}.in.bin", images),
                "expected": write_array(outdir, f"{name}.out.bin", expected),
            }
        )

    for name, shape, th, tw in ERROR_CASES:
        try:
            image_tools.resize_with_pad(np.zeros(shape, np.uint8), th, tw)
            raised = ""
        except Exception as e:  # noqa: BLE001 - the test only records what openpi does
            raised = f"{type(e).__name__}: {e}"
        manifest["errors"].append({"name": name, "shape": list(shape), "height": th, "width": tw, "raised": raised})

    # Pillow <= 12 always ran the horizontal pass first; Pillow 13 goes vertical first for tall reductions. This
    # composes two single-axis resizes (each a single pass in every Pillow version) to get the old order's bytes.
    for name, shape, th, tw, kind in RESIZE_CASES:
        if len(shape) != 3 or kind == "white" or (shape[0], shape[1]) == (th, tw):
            continue
        images = np.fromfile(os.path.join(outdir, f"{name}.in.bin"), np.uint8).reshape(shape)
        manifest["resize_hfirst"].append(
            {
                "name": name,
                "height": th,
                "width": tw,
                "input": {"file": f"{name}.in.bin", "dtype": "uint8", "shape": list(shape)},
                "expected": write_array(outdir, f"{name}.hfirst.bin", horizontal_first_resize_with_pad(images, th, tw)),
            }
        )

    # convert_to_uint8: in-range values (incl. ones whose 255*x lands near integers) for each float dtype.
    edge = np.array([0.0, 1.0, 0.5, 1 / 255, 2 / 255, 254 / 255, 0.999999, 0.00392156862745098, 0.1, 0.2, 0.3])
    for dt in ("float16", "float32", "float64"):
        x = np.concatenate([edge, rng.random(4998), np.arange(256) / 255.0]).astype(dt).reshape(-1, 1, 3)
        manifest["uint8"].append(
            {
                "name": f"inrange-{dt}",
                "input": write_array(outdir, f"u8-{dt}.in.bin", x),
                "expected": write_array(outdir, f"u8-{dt}.out.bin", image_tools.convert_to_uint8(x)),
            }
        )
        # Out of range, NaN and inf: numpy's x86-64 result (platform-defined in C), for the 'numpy-x86' policy.
        with np.errstate(all="ignore"):
            big = np.array(
                [-1.0, -0.5, -0.001, 1.001, 1.01, 2.0, 100.0, -100.0, 1e6, -1e6, 1e10, np.nan, np.inf, -np.inf],
                dtype=dt,
            )
            manifest["uint8"].append(
                {
                    "name": f"outofrange-{dt}",
                    "input": write_array(outdir, f"u8o-{dt}.in.bin", big),
                    "expected": write_array(outdir, f"u8o-{dt}.out.bin", image_tools.convert_to_uint8(big)),
                }
            )

    # JPEG: Pillow-encoded camera frames, and Pillow's decode of the same bytes.
    frame = camera_frame(rng, 480, 640)
    jpeg_variants = [
        ("q90-420", {"quality": 90, "subsampling": 2}),
        ("q75-444", {"quality": 75, "subsampling": 0}),
        ("q95-422", {"quality": 95, "subsampling": 1}),
        ("q85-progressive", {"quality": 85, "progressive": True}),
    ]
    for name, kw in jpeg_variants:
        buf = io.BytesIO()
        Image.fromarray(frame).save(buf, format="JPEG", **kw)
        manifest["jpeg"].append(jpeg_entry(outdir, f"jpeg-{name}", buf.getvalue()))
    buf = io.BytesIO()
    Image.fromarray(frame[:, :, 1]).save(buf, format="JPEG", quality=90)
    manifest["jpeg"].append(jpeg_entry(outdir, "jpeg-gray", buf.getvalue()))
    odd = camera_frame(rng, 37, 53)
    buf = io.BytesIO()
    Image.fromarray(odd).save(buf, format="JPEG", quality=90)
    manifest["jpeg"].append(jpeg_entry(outdir, "jpeg-37x53", buf.getvalue()))

    with open(os.path.join(outdir, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1)


def jpeg_entry(outdir: str, name: str, data: bytes) -> dict:
    with open(os.path.join(outdir, f"{name}.jpg"), "wb") as f:
        f.write(data)
    decoded = np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))
    return {"name": name, "jpeg": f"{name}.jpg", "pillow": write_array(outdir, f"{name}.pil.bin", decoded)}


def decode_files(paths: list) -> None:
    """Pillow's RGB decode of each JPEG file, written next to it as <file>.pil.bin; prints shapes as JSON."""
    shapes = []
    for p in paths:
        with open(p, "rb") as f:
            decoded = np.asarray(Image.open(io.BytesIO(f.read())).convert("RGB"))
        with open(p + ".pil.bin", "wb") as f:
            f.write(np.ascontiguousarray(decoded).tobytes())
        shapes.append(list(decoded.shape))
    print(json.dumps({"shapes": shapes}))


def bench_frames() -> np.ndarray:
    """The four 480x640 camera-like frames both sides of bench/image.bench.ts time."""
    rng = np.random.default_rng(SEED)
    return np.stack([camera_frame(rng, 480, 640) for _ in range(4)])


def bench(n: int) -> None:
    frames = bench_frames()
    for _ in range(5):
        image_tools.resize_with_pad(frames, 224, 224)
    samples = []
    for _ in range(n):
        t0 = time.perf_counter()
        image_tools.resize_with_pad(frames, 224, 224)
        samples.append((time.perf_counter() - t0) * 1000)
    print(json.dumps({"samples_ms": samples, "pillow": PIL.__version__}))


if __name__ == "__main__":
    if len(sys.argv) >= 3 and sys.argv[1] == "cases":
        cases(sys.argv[2])
    elif len(sys.argv) >= 3 and sys.argv[1] == "bench":
        bench(int(sys.argv[2]))
    elif len(sys.argv) >= 3 and sys.argv[1] == "frames":
        with open(sys.argv[2], "wb") as f:
            f.write(bench_frames().tobytes())
    elif len(sys.argv) >= 3 and sys.argv[1] == "decode":
        decode_files(sys.argv[2:])
    else:
        sys.exit(__doc__)
