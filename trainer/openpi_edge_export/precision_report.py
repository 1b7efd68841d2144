"""How far the `--fp16` graphs and openpi's bf16 serving are from float32, at openpi's head_dim and depth.

    python -m openpi_edge_export.precision_report [--model-type pi0|pi05] [--depth 18] [--head-dim 256] [--json out]

One random-weight model (`model.init_random`) with openpi's attention geometry (head_dim 256, 18 layers, one KV head,
3 images x 256 patches + the prompt, so RoPE positions reach ~800) and small widths, so it runs on a CPU. Variants:

- `fp16`: the bundle's fp16 graphs (`fp16.convert_model_to_fp16`, float32 islands kept) in onnxruntime;
- `fp16_no_islands`: the same graphs with every float op in fp16 (the pass before the islands);
- `bf16`: openpi's bf16 emulated in torch: weights and activations bfloat16, RoPE, time embedding, RMSNorm and the
  attention softmax in float32 (model.py's islands, openpi's `gemma.py` rules).

Each is compared with float32 (onnxruntime for the graphs, torch for bf16): relative L2 error
(||x - x32|| / ||x32||) of the prefix KV cache, of the first velocity v(x_1, t=1) and of the actions after the host
loop (10 Euler steps), plus the actions' max abs error. onnxruntime's CPU provider runs the fp16 graphs with fp16
tensors between ops but upcasts inside ops that lack fp16 kernels (MatMul on x86, among others), so the figures
measure fp16 storage and rounding between ops with float32 accumulation: what TensorRT's fp16 kernels (float32
accumulators) do, not fp16 accumulation.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import shutil
import tempfile
import time
from typing import Any, Callable, Dict, List, Optional, Sequence

import numpy as np
import torch

from .config import IMAGE_SLOTS, GemmaConfig, ModelConfig, VisionConfig
from .export_onnx import export_model
from .fp16 import convert_file_to_fp16
from .model import Pi0Model, init_random

PREFIX_INPUTS = list(IMAGE_SLOTS) + ["image_mask", "tokenized_prompt", "tokenized_prompt_mask"]
VARIANTS = ("fp16", "fp16_no_islands", "bf16")
METRICS = ("kv_keys", "kv_values", "v_t", "actions", "actions_max_abs")


def report_config(
    *, pi05: bool, depth: int = 18, head_dim: int = 256, num_heads: int = 2, llm_width: int = 64, expert_width: int = 32, action_horizon: int = 10
) -> ModelConfig:
    """openpi's attention geometry (head_dim, depth, 1 KV head, 3 x 256 image tokens + 48/200 prompt tokens) with
    small widths (real: 8 heads, widths 2048/1024, SigLIP So400m)."""
    return ModelConfig(
        pi05=pi05,
        action_dim=32,
        action_horizon=action_horizon,
        max_token_len=200 if pi05 else 48,
        discrete_state_input=pi05,
        vocab_size=512,
        llm=GemmaConfig(width=llm_width, depth=depth, mlp_dim=2 * llm_width, num_heads=num_heads, num_kv_heads=1, head_dim=head_dim),
        expert=GemmaConfig(width=expert_width, depth=depth, mlp_dim=2 * expert_width, num_heads=num_heads, num_kv_heads=1, head_dim=head_dim),
        vision=VisionConfig(width=32, depth=2, mlp_dim=64, num_heads=2),
    )


def make_inputs(cfg: ModelConfig, seed: int, batch: int = 1) -> Dict[str, np.ndarray]:
    """Random images, a prompt of 60% of max_token_len (the rest padding), state and noise."""
    rng = np.random.default_rng(seed)
    s = cfg.vision.image_size
    feeds: Dict[str, np.ndarray] = {k: rng.integers(0, 256, (batch, s, s, 3), dtype=np.uint8) for k in IMAGE_SLOTS}
    feeds["image_mask"] = np.ones((batch, len(IMAGE_SLOTS)), dtype=bool)
    n = int(0.6 * cfg.max_token_len)
    mask = np.zeros((batch, cfg.max_token_len), dtype=bool)
    mask[:, :n] = True
    feeds["tokenized_prompt_mask"] = mask
    feeds["tokenized_prompt"] = (rng.integers(0, cfg.vocab_size, (batch, cfg.max_token_len)) * mask).astype(np.int32)
    feeds["state"] = rng.standard_normal((batch, cfg.action_dim)).astype(np.float32)
    feeds["noise"] = rng.standard_normal((batch, cfg.action_horizon, cfg.action_dim)).astype(np.float32)
    return feeds


def _euler(velocity: Callable[[np.ndarray, np.float32], np.ndarray], noise: np.ndarray, num_steps: int) -> np.ndarray:
    """The host loop of docs/bundle-format.md (openpi's sample_actions), in float32."""
    dt = np.float32(-1.0 / num_steps)
    t = np.float32(1.0)
    x = noise.astype(np.float32)
    while t >= -dt / 2:
        x = (x + dt * velocity(x, t)).astype(np.float32)
        t = np.float32(t + dt)
    return x


def run_onnx(bundle_dir: str, feeds: Dict[str, np.ndarray], pi05: bool, num_steps: int, threads: int) -> Dict[str, np.ndarray]:
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.log_severity_level = 3
    pre = ort.InferenceSession(os.path.join(bundle_dir, "prefix.onnx"), so, providers=["CPUExecutionProvider"])
    den = ort.InferenceSession(os.path.join(bundle_dir, "denoise.onnx"), so, providers=["CPUExecutionProvider"])
    kk, vv, pm = pre.run(["kv_keys", "kv_values", "prefix_mask"], {k: feeds[k] for k in PREFIX_INPUTS})

    def velocity(x: np.ndarray, t: np.float32) -> np.ndarray:
        f = {"x_t": x, "time": np.full((x.shape[0],), t, np.float32), "kv_keys": kk, "kv_values": vv, "prefix_mask": pm}
        if not pi05:
            f["state"] = feeds["state"]
        return den.run(["v_t"], f)[0]

    v0 = velocity(feeds["noise"], np.float32(1.0))
    return {"kv_keys": kk, "kv_values": vv, "v_t": v0, "actions": _euler(velocity, feeds["noise"], num_steps)}


@torch.no_grad()
def run_torch(model: Pi0Model, feeds: Dict[str, np.ndarray], num_steps: int) -> Dict[str, np.ndarray]:
    """model's own precision (float32, or bfloat16 after `model.to(torch.bfloat16)`); float32 across the boundary
    (KV cache and velocities widened to float32, as the bundle's graphs hand them over)."""
    imgs = [torch.from_numpy(feeds[k]) for k in IMAGE_SLOTS]
    kk, vv, pm = model.prefix_kv(imgs, torch.from_numpy(feeds["image_mask"]), torch.from_numpy(feeds["tokenized_prompt"]), torch.from_numpy(feeds["tokenized_prompt_mask"]))
    kk, vv = kk.float(), vv.float()
    state = None if model.cfg.pi05 else torch.from_numpy(feeds["state"])

    def velocity(x: np.ndarray, t: np.float32) -> np.ndarray:
        tt = torch.full((x.shape[0],), float(t), dtype=torch.float32)
        return model.denoise_step(torch.from_numpy(x), tt, state, kk, vv, pm).float().numpy()

    v0 = velocity(feeds["noise"], np.float32(1.0))
    return {"kv_keys": kk.numpy(), "kv_values": vv.numpy(), "v_t": v0, "actions": _euler(velocity, feeds["noise"], num_steps)}


def errors(got: Dict[str, np.ndarray], ref: Dict[str, np.ndarray]) -> Dict[str, float]:
    out = {}
    for k in ("kv_keys", "kv_values", "v_t", "actions"):
        a, b = got[k].astype(np.float64), ref[k].astype(np.float64)
        out[k] = float(np.linalg.norm(a - b) / np.linalg.norm(b))
    out["actions_max_abs"] = float(np.max(np.abs(got["actions"].astype(np.float64) - ref["actions"])))
    return out


def rope_angle_error(head_dim: int, max_position: int) -> Dict[str, float]:
    """Largest error of the RoPE angles position/timescale over positions 0..max_position when they are computed in
    fp16 (the pass without islands) and in bf16 (an all-bf16 port), against float64."""
    d = head_dim
    timescale = 10_000.0 ** ((2.0 / d) * np.arange(d // 2, dtype=np.float64))
    pos = np.arange(max_position + 1, dtype=np.float64)[:, None]
    exact = pos / timescale
    fp16 = (pos.astype(np.float16) / timescale.astype(np.float16)).astype(np.float64)
    bf16 = (torch.from_numpy(pos).bfloat16() / torch.from_numpy(timescale).bfloat16()).double().numpy()
    return {"fp16_rad": float(np.max(np.abs(fp16 - exact))), "bf16_rad": float(np.max(np.abs(bf16 - exact)))}


def measure(
    cfg: ModelConfig,
    *,
    seed: int = 0,
    num_steps: int = 10,
    threads: int = 2,
    variants: Sequence[str] = VARIANTS,
    work_dir: Optional[str] = None,
    log: Callable[[str], None] = print,
) -> Dict[str, Any]:
    """Errors of each variant against float32 (see the module docstring), plus sizes, RoPE angle errors and times."""
    for v in variants:
        if v not in VARIANTS:
            raise ValueError(f"unknown variant {v!r}; expected some of {VARIANTS}")
    own_dir = work_dir is None
    root = tempfile.mkdtemp(prefix="openpi-edge-precision-") if own_dir else work_dir
    os.makedirs(root, exist_ok=True)
    times: Dict[str, float] = {}
    try:
        torch.manual_seed(seed)
        model = Pi0Model(cfg).eval()
        init_random(model, seed)
        feeds = make_inputs(cfg, seed + 1)
        t0 = time.perf_counter()
        d32 = os.path.join(root, "fp32")
        os.makedirs(d32, exist_ok=True)
        export_model(model, d32, rtc_guidance=False, log=lambda s: None)
        times["export_s"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        ref_onnx = run_onnx(d32, feeds, cfg.pi05, num_steps, threads)
        times["fp32_onnx_s"] = time.perf_counter() - t0
        result: Dict[str, Any] = {}
        for v in variants:
            t0 = time.perf_counter()
            if v == "bf16":
                ref_torch = run_torch(model, feeds, num_steps)
                result["fp32_onnx_vs_torch"] = errors(ref_onnx, ref_torch)
                got = run_torch(copy.deepcopy(model).to(torch.bfloat16), feeds, num_steps)
                result[v] = errors(got, ref_torch)
            else:
                d16 = os.path.join(root, v)
                os.makedirs(d16, exist_ok=True)
                for f in ("prefix.onnx", "denoise.onnx"):
                    shutil.copyfile(os.path.join(d32, f), os.path.join(d16, f))
                    convert_file_to_fp16(os.path.join(d16, f), fp32_islands=v == "fp16")
                result[v] = errors(run_onnx(d16, feeds, cfg.pi05, num_steps, threads), ref_onnx)
            times[f"{v}_s"] = time.perf_counter() - t0
            log(f"{v}: " + ", ".join(f"{k} {result[v][k]:.2e}" for k in METRICS))
        return {
            "model_type": cfg.model_type,
            "head_dim": cfg.llm.head_dim,
            "depth": cfg.llm.depth,
            "num_heads": cfg.llm.num_heads,
            "widths": [cfg.llm.width, cfg.expert.width],
            "prefix_len": cfg.prefix_len,
            "num_steps": num_steps,
            "seed": seed,
            "errors": result,
            "rope_angle_error": rope_angle_error(cfg.llm.head_dim, cfg.prefix_len + cfg.action_horizon + 1),
            "times_s": times,
        }
    finally:
        if own_dir:
            shutil.rmtree(root, ignore_errors=True)


def format_table(rep: Dict[str, Any]) -> str:
    rows = [f"{rep['model_type']}, head_dim {rep['head_dim']}, depth {rep['depth']}, {rep['num_heads']} heads, widths "
            f"{rep['widths']}, prefix {rep['prefix_len']} tokens, {rep['num_steps']} steps (relative L2 error vs float32)",
            f"{'variant':<18}" + "".join(f"{m:>17}" for m in METRICS)]
    for v, e in rep["errors"].items():
        rows.append(f"{v:<18}" + "".join(f"{e[m]:>17.2e}" for m in METRICS))
    a = rep["rope_angle_error"]
    rows.append(f"RoPE angle error at positions <= {rep['prefix_len'] + 11}: fp16 {a['fp16_rad']:.3f} rad, bf16 {a['bf16_rad']:.3f} rad "
                "(the fp16 graphs compute angles in float32)")
    return "\n".join(rows)


def main(argv: Optional[List[str]] = None) -> int:
    p = argparse.ArgumentParser(prog="python -m openpi_edge_export.precision_report", description=__doc__.split("\n\n")[0])
    p.add_argument("--model-type", choices=["pi0", "pi05", "both"], default="both")
    p.add_argument("--depth", type=int, default=18)
    p.add_argument("--head-dim", type=int, default=256)
    p.add_argument("--num-heads", type=int, default=2)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--variants", default=",".join(VARIANTS), help=f"comma-separated subset of {','.join(VARIANTS)}")
    p.add_argument("--json", default=None, help="also write the figures to this file")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    reports = []
    for mt in (["pi0", "pi05"] if args.model_type == "both" else [args.model_type]):
        cfg = report_config(pi05=mt == "pi05", depth=args.depth, head_dim=args.head_dim, num_heads=args.num_heads)
        rep = measure(cfg, seed=args.seed, threads=args.threads, variants=args.variants.split(","), log=lambda s: print("  " + s, flush=True))
        print(format_table(rep), flush=True)
        reports.append(rep)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(reports, f, indent=2)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
