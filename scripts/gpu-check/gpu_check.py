"""Per-stage latency of a π0-sized model on a GPU: vision, prefix (vision + PaliGemma over the prefix -> KV cache), one
denoise step, and a full chunk (prefix + `--steps` denoise steps), per compute dtype, in PyTorch eager and replayed as
CUDA graphs. The model is the trainer's (trainer/openpi_edge_export/model.py) with random weights made on the device.

  python3 scripts/gpu-check/gpu_check.py [--model pi0|pi05] [--dtypes fp32,bf16,fp16] [--out report.json]
  python3 scripts/gpu-check/gpu_check.py --tiny --device cpu     # the test configuration: tiny widths, CPU, seconds

Run through scripts/gpu-check.sh (sets PYTHONPATH=trainer and an overall timeout). Writes a JSON report (`--out`)
and prints a table. Latencies are in milliseconds: the median over `--iters` runs after `--warmup` runs, timed with
CUDA events on a GPU (perf_counter on CPU), batch 1. A stage that cannot run (e.g. fp16 matmul on an old CPU torch)
is reported with its error instead of a number; the whole check stops starting new work after `--budget-s` seconds.
Works with torch 1.13 (Debian's, CPU: the tiny test) and torch 2.x (CUDA).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import time
from typing import Any, Callable, Dict, List, Optional, Tuple

import numpy as np
import torch

from openpi_edge_export import model as model_mod
from openpi_edge_export.config import ModelConfig, full_config, tiny_config

DTYPES = {"fp32": torch.float32, "tf32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}


class _DeviceConstants:
    """Stands in for `torch` inside model.py: the constants model.py builds on every call from numpy arrays and
    Python lists (RoPE timescales, sin-cos periods, the suffix's autoregressive mask) become device tensors made
    once. A host-to-device copy cannot be captured into a CUDA graph, and in eager mode it is a synchronizing copy per
    call; everything else is torch itself. Same values: the cache key is the array's bytes / the call's arguments."""

    def __init__(self, device: torch.device):
        self._device = device
        self._cache: Dict[Any, torch.Tensor] = {}

    def __getattr__(self, name: str) -> Any:
        return getattr(torch, name)

    def from_numpy(self, a: np.ndarray) -> torch.Tensor:
        key = ("np", a.dtype.str, a.shape, a.tobytes())
        if key not in self._cache:
            self._cache[key] = torch.from_numpy(a).to(self._device)
        return self._cache[key]

    def tensor(self, data: Any, *args: Any, **kwargs: Any) -> torch.Tensor:
        kwargs.setdefault("device", self._device)
        key = ("tensor", repr(data), repr(args), repr(sorted(kwargs.items())))
        if key not in self._cache:
            self._cache[key] = torch.tensor(data, *args, **kwargs)
        return self._cache[key]


def device_context(device: torch.device) -> contextlib.AbstractContextManager:
    """Factory functions without a device (torch.zeros in make_attn_mask's callers, ...) allocate on `device`
    (torch >= 2.0; on CPU, and with torch 1.13, the default is already right)."""
    if device.type == "cpu" or not hasattr(torch.device, "__enter__"):
        return contextlib.nullcontext()
    return device


@torch.no_grad()
def init_on_device(m: torch.nn.Module, seed: int, device: torch.device) -> None:
    """Random weights drawn on the device (a 3.3B-parameter model in seconds), scaled like the trainer's
    init_random: normal / sqrt(fan_in) for matrices, small biases, norm scales near their identity."""
    g = torch.Generator(device=device)
    g.manual_seed(seed)
    for name, p in m.named_parameters():
        r = torch.randn(p.shape, generator=g, device=device, dtype=torch.float32)
        if "layer_norm" in name or "post_layernorm" in name:
            p.copy_((1.0 if name.endswith("weight") else 0.0) + 0.05 * r)
        elif name.endswith("norm.weight") or name.endswith("layernorm.weight"):
            p.copy_(0.1 * r)  # Gemma RMSNorm scales are (1 + w)
        elif name.endswith("bias"):
            p.copy_(0.02 * r)
        elif name.endswith("embed_tokens.weight"):
            p.copy_(0.2 * r / math.sqrt(p.shape[1]))
        elif name.endswith("position_embedding.weight"):
            p.copy_(0.02 * r)
        else:
            fan_in = p[0].numel() if p.dim() > 1 else p.shape[0]
            p.copy_(r / math.sqrt(fan_in))


class Timer:
    """Median wall time of `fn` in ms: CUDA events on a GPU, perf_counter on CPU."""

    def __init__(self, device: torch.device, warmup: int, iters: int):
        self.device, self.warmup, self.iters = device, warmup, iters

    def __call__(self, fn: Callable[[], Any]) -> Dict[str, float]:
        cuda = self.device.type == "cuda"
        for _ in range(self.warmup):
            fn()
        if cuda:
            torch.cuda.synchronize(self.device)
        times: List[float] = []
        for _ in range(self.iters):
            if cuda:
                a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
                a.record()
                fn()
                b.record()
                b.synchronize()
                times.append(a.elapsed_time(b))
            else:
                t0 = time.perf_counter()
                fn()
                times.append((time.perf_counter() - t0) * 1e3)
        return {"median_ms": statistics.median(times), "min_ms": min(times), "runs": len(times)}


class Stages:
    """The stages on fixed (static) input tensors, so each can also be captured into a CUDA graph."""

    def __init__(self, m: model_mod.Pi0Model, cfg: ModelConfig, device: torch.device, steps: int, seed: int):
        self.m, self.cfg, self.steps = m, cfg, steps
        # Inputs drawn on the CPU (explicit device: a device context would otherwise move the factories to the GPU,
        # away from the CPU generator), then copied once.
        g = torch.Generator(device="cpu").manual_seed(seed + 1)
        cpu = torch.device("cpu")
        s = cfg.vision.image_size
        self.images = [
            torch.randint(0, 256, (1, s, s, 3), generator=g, dtype=torch.uint8, device=cpu).to(device)
            for _ in range(cfg.num_images)
        ]
        self.image_mask = torch.ones(1, cfg.num_images, dtype=torch.bool, device=device)
        self.tokens = torch.randint(
            0, cfg.vocab_size, (1, cfg.max_token_len), generator=g, dtype=torch.int32, device=cpu
        ).to(device)
        token_mask = torch.zeros(1, cfg.max_token_len, dtype=torch.bool, device=cpu)
        token_mask[:, : max(1, cfg.max_token_len // 3)] = True
        self.token_mask = token_mask.to(device)
        self.state = None if cfg.pi05 else torch.randn(1, cfg.action_dim, generator=g, device=cpu).to(device)
        self.noise = torch.randn(1, cfg.action_horizon, cfg.action_dim, generator=g, device=cpu).to(device)
        # Flow-matching times 1, 1-1/n, ..., 1/n (openpi's sample_actions), as device tensors made once.
        self.times = [torch.full((1,), 1.0 - i / steps, dtype=torch.float32, device=device) for i in range(steps)]
        with torch.no_grad():
            self.kv = m.prefix_kv(self.images, self.image_mask, self.tokens, self.token_mask)

    @torch.no_grad()
    def vision(self) -> torch.Tensor:
        return torch.cat([self.m.embed_images(img) for img in self.images], dim=1)

    @torch.no_grad()
    def prefix(self) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        return self.m.prefix_kv(self.images, self.image_mask, self.tokens, self.token_mask)

    @torch.no_grad()
    def step(self) -> torch.Tensor:
        k, v, pm = self.kv
        return self.m.denoise_step(self.noise, self.times[0], self.state, k, v, pm)

    @torch.no_grad()
    def chunk(self) -> torch.Tensor:
        k, v, pm = self.prefix()
        x, dt = self.noise, -1.0 / self.steps
        for t in self.times:
            x = x + dt * self.m.denoise_step(x, t, self.state, k, v, pm)
        return x


def cuda_graph(fn: Callable[[], Any], device: torch.device) -> Callable[[], Any]:
    """Captures `fn` (after warm-up runs on a side stream, as PyTorch requires) and returns its replay."""
    s = torch.cuda.Stream(device)
    s.wait_stream(torch.cuda.current_stream(device))
    with torch.cuda.stream(s):
        for _ in range(3):
            fn()
    torch.cuda.current_stream(device).wait_stream(s)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        fn()
    return graph.replay


def nvidia_smi() -> Optional[str]:
    try:
        out = subprocess.run(
            ["nvidia-smi", "--query-gpu=name,driver_version,memory.total", "--format=csv,noheader"],
            capture_output=True,
            text=True,
            timeout=20,
        )
        return out.stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None


def main(argv: Optional[List[str]] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", choices=["pi0", "pi05"], default="pi0")
    ap.add_argument("--tiny", action="store_true", help="tiny widths (trainer's tiny_config): the CPU test")
    ap.add_argument("--device", default=None, help="cuda (default when available) or cpu")
    ap.add_argument("--dtypes", default="fp32,bf16,fp16", help=f"comma list of {','.join(DTYPES)}")
    ap.add_argument("--steps", type=int, default=10, help="denoise steps per chunk (openpi: 10)")
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--iters", type=int, default=10)
    ap.add_argument("--no-cuda-graphs", action="store_true")
    ap.add_argument(
        "--device-constants",
        action="store_true",
        help="use the cached device constants on CPU too (always on for CUDA; lets the CPU test cover them)",
    )
    ap.add_argument("--budget-s", type=float, default=400.0, help="start no new stage after this many seconds")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=None, help="JSON report path")
    a = ap.parse_args(argv)
    t_start = time.perf_counter()

    device = torch.device(a.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    if device.type == "cuda" and not torch.cuda.is_available():
        print("gpu-check: --device cuda but torch sees no CUDA device", file=sys.stderr)
        return 2
    pi05 = a.model == "pi05"
    cfg = tiny_config(pi05=pi05, vocab_size=1024) if a.tiny else full_config(pi05=pi05)
    dtypes = [d.strip() for d in a.dtypes.split(",") if d.strip()]
    for d in dtypes:
        if d not in DTYPES:
            ap.error(f"unknown dtype {d!r}; known: {', '.join(DTYPES)}")

    report: Dict[str, Any] = {
        "config": {
            "model": cfg.model_type,
            "tiny": a.tiny,
            "prefix_len": cfg.prefix_len,
            "action_horizon": cfg.action_horizon,
            "steps": a.steps,
            "batch": 1,
            "llm": cfg.llm.__dict__,
            "expert": cfg.expert.__dict__,
            "vision": {"width": cfg.vision.width, "depth": cfg.vision.depth},
        },
        "env": {
            "python": platform.python_version(),
            "torch": torch.__version__,
            "cuda": torch.version.cuda,
            "device": torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor() or "cpu",
            "nvidia_smi": nvidia_smi() if device.type == "cuda" else None,
        },
        "timing": {"warmup": a.warmup, "iters": a.iters, "statistic": "median ms (CUDA events on GPU)"},
        "results": [],
    }
    if device.type == "cuda" or a.device_constants:
        # model.py's numpy/list constants as cached device tensors (capturable; see _DeviceConstants).
        model_mod.torch = _DeviceConstants(device)  # type: ignore[assignment]

    timer = Timer(device, a.warmup, a.iters)
    t0 = time.perf_counter()
    with device_context(device):
        m = model_mod.Pi0Model(cfg)
    m = m.to(device).eval()
    init_on_device(m, a.seed, device)
    report["build_s"] = round(time.perf_counter() - t0, 2)
    report["params"] = sum(p.numel() for p in m.parameters())
    print(
        f"gpu-check: {cfg.model_type}{' (tiny)' if a.tiny else ''}, {report['params'] / 1e6:.1f} M parameters on "
        f"{report['env']['device']} (torch {torch.__version__}); built in {report['build_s']} s",
        flush=True,
    )

    reference: Optional[torch.Tensor] = None
    with device_context(device):
        for name in dtypes:
            row: Dict[str, Any] = {"dtype": name}
            report["results"].append(row)
            if time.perf_counter() - t_start > a.budget_s:
                row["skipped"] = f"time budget of {a.budget_s:.0f} s spent"
                continue
            try:
                if device.type == "cuda":
                    torch.backends.cuda.matmul.allow_tf32 = name == "tf32"
                    torch.backends.cudnn.allow_tf32 = name == "tf32"
                    torch.cuda.reset_peak_memory_stats(device)
                m = m.to(DTYPES[name])
                st = Stages(m, cfg, device, a.steps, a.seed)
                fns = {"vision": st.vision, "prefix": st.prefix, "denoise_step": st.step, "chunk": st.chunk}
                row["eager"] = {k: timer(f) for k, f in fns.items()}
                out = st.chunk().float()
                row["chunk_finite"] = bool(torch.isfinite(out).all().item())
                row["chunk_mean_abs"] = float(out.abs().mean().item())  # same seed, same number: a cross-check
                if reference is None and name in ("fp32", "tf32"):
                    reference = out
                elif reference is not None:
                    row["chunk_max_abs_diff_vs_fp32"] = float((out - reference).abs().max().item())
                if device.type == "cuda" and not a.no_cuda_graphs:
                    graphs: Dict[str, Any] = {}
                    for k, f in fns.items():
                        if time.perf_counter() - t_start > a.budget_s:
                            graphs[k] = {"skipped": "time budget spent"}
                            continue
                        try:
                            graphs[k] = timer(cuda_graph(f, device))
                        except Exception as e:  # one stage that cannot be captured does not hide the others
                            graphs[k] = {"error": f"{type(e).__name__}: {e}"[:500]}
                    row["cuda_graph"] = graphs
                if device.type == "cuda":
                    row["peak_mem_gib"] = round(torch.cuda.max_memory_allocated(device) / 2**30, 2)
            except Exception as e:
                row["error"] = f"{type(e).__name__}: {e}"[:500]
            print_row(row)
    report["total_s"] = round(time.perf_counter() - t_start, 1)
    if a.out:
        os.makedirs(os.path.dirname(os.path.abspath(a.out)), exist_ok=True)
        with open(a.out, "w") as f:
            json.dump(report, f, indent=1)
    print(f"gpu-check: done in {report['total_s']} s{f'; report {a.out}' if a.out else ''}", flush=True)
    return 0 if any("eager" in r for r in report["results"]) else 1


def print_row(row: Dict[str, Any]) -> None:
    if "eager" not in row:
        print(f"  {row['dtype']:>5}: {row.get('error') or row.get('skipped')}", flush=True)
        return
    for mode in ("eager", "cuda_graph"):
        if mode not in row:
            continue
        cells = []
        for k in ("vision", "prefix", "denoise_step", "chunk"):
            v = row[mode].get(k, {})
            cells.append(f"{k} {v['median_ms']:8.2f}" if "median_ms" in v else f"{k} {'n/a':>8}")
        print(f"  {row['dtype']:>5} {mode:>10} ms: " + "  ".join(cells), flush=True)
    for k, v in row.get("cuda_graph", {}).items():
        if "error" in v:
            print(f"  {row['dtype']:>5} cuda_graph {k}: {v['error']}", flush=True)


if __name__ == "__main__":
    sys.exit(main())
