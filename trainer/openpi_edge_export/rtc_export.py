"""Real-time chunking (RTC, Black et al. 2025) guidance as an ONNX graph, and its PyTorch autograd reference.

RTC generates the next chunk while the current one executes, as inpainting: the rows that will execute during the
inference are frozen to the previous chunk Y, a decaying soft mask W covers the rest of the overlap, and each flow
step's velocity is corrected by ΠGDM guidance. In openpi's time convention (t = 1 noise -> t = 0 clean, Euler steps
x <- x + dt * v with dt = -1/num_steps), with the clean estimate x̂ = x_t - t * v(x_t, t):

    g = (∂x̂/∂x_t)ᵀ [W ⊙ (Y - x̂)]                          (a vector-Jacobian product)
    v' = v - min(β, (t² + (1-t)²) / (t (1-t))) * g          (β = max guidance weight; t(1-t) = 0 gives β)

(the paper's t runs the other way, t_paper = 1 - t, which turns its `v + w g` into `v - w g` here; the weight is
symmetric in t). ONNX Runtime has no autograd, so the exporter traces the VJP itself: `make_fx` records the forward
and backward aten ops of one denoise step plus the formula above, the backward ops are decomposed into primitive
ones, and the resulting graph is exported like the others. This is exact (the same derivative autograd computes),
not a finite-difference estimate, and costs one backward pass per step (about two forward passes).

Graph `guidance.onnx` (batch 1: make_fx records concrete shapes): the denoise graph's inputs plus
`prev_chunk` float32 [1, H, A] (Y in normalized model space, zero where unknown) and `guide_weights` float32
[1, H, A] (W, zero on unknown rows and padded dims); outputs `v_t` (the plain velocity, as the denoise graph) and
`guidance` (g). The host applies the weight and β, so the schedule and β are runtime choices.
"""

from __future__ import annotations

import math
import os
import warnings
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch

from .config import ModelConfig
from .model import Pi0Model

GUIDANCE_GRAPH = "guidance"
SCHEDULES = ("exp", "linear", "ones", "zeros")


def guidance_io_spec(cfg: ModelConfig) -> Dict[str, List[Dict[str, Any]]]:
    """The guidance graph's inputs and outputs (fixed batch 1), as recorded in manifest.json."""
    from .export_onnx import io_spec

    den = io_spec(cfg)["denoise"]

    def fix(spec: Sequence[Dict[str, Any]]) -> List[Dict[str, Any]]:
        return [{**s, "shape": [1 if d == "batch" else d for d in s["shape"]]} for s in spec]

    H, A = cfg.action_horizon, cfg.action_dim
    inputs = fix(den["inputs"]) + [
        {"name": "prev_chunk", "dtype": "float32", "shape": [1, H, A]},
        {"name": "guide_weights", "dtype": "float32", "shape": [1, H, A]},
    ]
    outputs = fix(den["outputs"]) + [{"name": "guidance", "dtype": "float32", "shape": [1, H, A]}]
    return {"inputs": inputs, "outputs": outputs}


def guidance_term(
    model: Pi0Model,
    x_t: torch.Tensor,
    time: torch.Tensor,
    state: Optional[torch.Tensor],
    kv_keys: torch.Tensor,
    kv_values: torch.Tensor,
    prefix_mask: torch.Tensor,
    prev_chunk: torch.Tensor,
    guide_weights: torch.Tensor,
) -> Tuple[torch.Tensor, torch.Tensor]:
    """(v, g) by PyTorch autograd: the reference the exported graph must match, and what make_fx traces."""
    with torch.enable_grad():
        x = x_t.detach().requires_grad_(True)
        v = model.denoise_step(x, time, state, kv_keys, kv_values, prefix_mask)
        x_hat = x - time[:, None, None] * v
        err = guide_weights * (prev_chunk - x_hat)
        (g,) = torch.autograd.grad(x_hat, x, err)
    return v.detach(), g.detach()


def guidance_weight(t: float, max_guidance: float) -> float:
    """min(β, (t² + (1-t)²) / (t (1-t))) at openpi time t (1 = noise); β where t(1-t) is 0."""
    den = t * (1.0 - t)
    if den <= 0.0:
        return max_guidance
    return min(max_guidance, (t * t + (1.0 - t) ** 2) / den)


def prefix_weights(delay: int, overlap: int, horizon: int, schedule: str = "exp") -> np.ndarray:
    """Per-row soft mask W [horizon]: 1 for rows < delay (they execute during the inference), a decay from 1 to 0
    over rows delay..overlap-1 (`exp`: c (e^c - 1)/(e - 1), `linear`: c, with c = (overlap - i)/(overlap - delay + 1);
    `ones`: 1; `zeros`: 0), 0 from row `overlap` on (the previous chunk has no such rows)."""
    if schedule not in SCHEDULES:
        raise ValueError(f"unknown RTC schedule {schedule!r} (expected one of {', '.join(SCHEDULES)})")
    overlap = max(0, min(overlap, horizon))
    delay = max(0, min(delay, overlap))
    w = np.zeros(horizon, dtype=np.float64)
    w[:delay] = 1.0
    for i in range(delay, overlap):
        c = (overlap - i) / (overlap - delay + 1)
        if schedule == "exp":
            w[i] = c * math.expm1(c) / math.expm1(1.0)
        elif schedule == "linear":
            w[i] = c
        elif schedule == "ones":
            w[i] = 1.0
    return w


def _rewrite_for_onnx(gm: torch.fx.GraphModule) -> None:
    """Maps the aten ops make_fx leaves that the TorchScript ONNX exporter cannot export onto equivalent torch calls
    it can (casts, views, slice_scatter as a concatenation, boolean and as logical and). In place."""
    aten = torch.ops.aten

    def to_copy(x: torch.Tensor, **kw: Any) -> torch.Tensor:
        dtype = kw.get("dtype")
        return x.to(dtype) if dtype is not None else x.clone()

    def scalar_tensor(v: Any, **kw: Any) -> torch.Tensor:
        return torch.tensor(v, dtype=kw.get("dtype") or torch.float32)

    def new_zeros(x: torch.Tensor, size: Sequence[int], **kw: Any) -> torch.Tensor:
        return torch.zeros(list(size), dtype=kw.get("dtype") or x.dtype)

    def slice_scatter(
        inp: torch.Tensor, src: torch.Tensor, dim: int = 0, start: Optional[int] = None, end: Optional[int] = None, step: int = 1
    ) -> torch.Tensor:
        if step != 1:
            raise NotImplementedError(f"slice_scatter with step {step}")
        n = inp.shape[dim]
        lo = 0 if start is None else (start + n if start < 0 else start)
        hi = n if end is None or end > n else (end + n if end < 0 else end)
        parts = []
        if lo > 0:
            parts.append(inp.narrow(dim, 0, lo))
        parts.append(src)
        if hi < n:
            parts.append(inp.narrow(dim, hi, n - hi))
        return torch.cat(parts, dim) if len(parts) > 1 else src

    def and_(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        if a.dtype != torch.bool or b.dtype != torch.bool:
            raise NotImplementedError(f"bitwise_and on {a.dtype}/{b.dtype}")
        return torch.logical_and(a, b)

    table: Dict[Any, Callable[..., Any]] = {
        aten._to_copy.default: to_copy,
        aten._unsafe_view.default: torch.reshape,
        aten.view.default: torch.reshape,
        aten.lift_fresh_copy.default: torch.clone,
        aten.scalar_tensor.default: scalar_tensor,
        aten.new_zeros.default: new_zeros,
        aten.slice_scatter.default: slice_scatter,
        aten.bitwise_and.Tensor: and_,
    }
    for node in list(gm.graph.nodes):
        if node.op != "call_function":
            continue
        if node.target == aten.is_same_size.default:  # autograd's shape assertion: no users, nothing to compute
            if node.users:
                raise RuntimeError("is_same_size has users in the traced guidance graph")
            gm.graph.erase_node(node)
        elif node.target in table:
            node.target = table[node.target]
    gm.graph.lint()
    gm.recompile()


def trace_guidance(model: Pi0Model, example: Sequence[torch.Tensor]) -> torch.fx.GraphModule:
    """make_fx of {@link guidance_term} on batch-1 example inputs (the denoise graph's, then prev_chunk,
    guide_weights), backward ops decomposed into primitive ones and rewritten for the ONNX exporter."""
    from torch._decomp import get_decompositions
    from torch.fx.experimental.proxy_tensor import make_fx

    aten = torch.ops.aten
    pi05 = model.cfg.pi05
    decompositions = get_decompositions(
        [
            aten._softmax_backward_data,
            aten._softmax,
            aten.tanh_backward,
            aten.slice_backward,
            aten.silu_backward,
            aten.silu,
            aten.sigmoid_backward,
            aten._reshape_alias,
            aten.addmm,
        ]
    )

    def fn(*args: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        if pi05:
            x_t, time, kk, vv, pm, prev, w = args
            state = None
        else:
            x_t, time, state, kk, vv, pm, prev, w = args
        return guidance_term(model, x_t, time, state, kk, vv, pm, prev, w)

    params = list(model.parameters())
    flags = [p.requires_grad for p in params]
    for p in params:
        p.requires_grad_(False)  # the VJP is with respect to x_t only: no weight gradients in the graph
    try:
        gm = make_fx(fn, decomposition_table=decompositions)(*example)
    finally:
        for p, f in zip(params, flags):
            p.requires_grad_(f)
    _rewrite_for_onnx(gm)
    return gm


def guidance_example(cfg: ModelConfig, seed: int = 0) -> List[torch.Tensor]:
    """Batch-1 example inputs for tracing (values only steer the trace, not the graph)."""
    from .export_onnx import example_inputs

    spec = guidance_io_spec(cfg)["inputs"]
    ex = example_inputs(cfg, spec, batch=1, seed=seed)
    # time must be inside (0, 1) and the weights in [0, 1], like real calls (no branch depends on them, but keep the
    # trace's intermediate values ordinary).
    names = [s["name"] for s in spec]
    ex[names.index("time")] = torch.full((1,), 0.5)
    ex[names.index("guide_weights")] = torch.rand(ex[names.index("guide_weights")].shape, generator=torch.Generator().manual_seed(seed))
    return ex


def export_guidance(model: Pi0Model, out_dir: str, *, log: Callable[[str], None] = print) -> Dict[str, Any]:
    """Writes guidance.onnx into out_dir; returns its manifest `graphs` entry."""
    from .export_onnx import OPSET, export_graph

    cfg = model.cfg
    spec = guidance_io_spec(cfg)
    model.eval()
    log("exporting guidance graph (RTC vector-Jacobian product) ...")
    example = guidance_example(cfg)
    gm = trace_guidance(model, example)
    path = os.path.join(out_dir, f"{GUIDANCE_GRAPH}.onnx")
    # The rewritten slice_scatter branches on concrete sizes (fixed by the trace): the tracer's warnings about it
    # say nothing new.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", category=torch.jit.TracerWarning)
        ext = export_graph(gm, cfg, spec, path, inputs=example)
    size = os.path.getsize(path) + (os.path.getsize(os.path.join(out_dir, ext)) if ext else 0)
    log(f"  {GUIDANCE_GRAPH}.onnx: {size / 1e6:.1f} MB{' (external data ' + ext + ')' if ext else ''}")
    return {
        "file": f"{GUIDANCE_GRAPH}.onnx",
        "external_data": ext,
        "opset": OPSET,
        "precision": "float32",
        "inputs": spec["inputs"],
        "outputs": spec["outputs"],
    }


def flow_times(num_steps: int) -> List[Tuple[float, float]]:
    """(t, dt) of each Euler step, t accumulated in float32 as the agent's sampler does: t = 1, 0.9, ..., 0.1."""
    dt = np.float32(-1.0 / num_steps)
    t = np.float32(1.0)
    out: List[Tuple[float, float]] = []
    while t >= -dt / 2:
        out.append((float(t), float(dt)))
        t = np.float32(t + dt)
    return out


def rtc_sample_reference(
    model: Pi0Model,
    kv: Tuple[torch.Tensor, torch.Tensor, torch.Tensor],
    state: Optional[torch.Tensor],
    noise: torch.Tensor,
    prev_chunk: torch.Tensor,
    weights: torch.Tensor,
    *,
    max_guidance: float,
    num_steps: int,
) -> torch.Tensor:
    """openpi's Euler sampler with RTC guidance on every step, by autograd, in float32 like the agent's sampler
    (t and dt rounded to float32 the same way). Batch 1."""
    x = noise.clone()
    kk, vv, pm = kv
    for t, dt in flow_times(num_steps):
        v, g = guidance_term(model, x, torch.tensor([t], dtype=torch.float32), state, kk, vv, pm, prev_chunk, weights)
        w = float(np.float32(guidance_weight(t, max_guidance)))
        x = x + dt * (v - w * g)
    return x


def inpaint_sample_reference(
    model: Pi0Model,
    kv: Tuple[torch.Tensor, torch.Tensor, torch.Tensor],
    state: Optional[torch.Tensor],
    noise: torch.Tensor,
    prev_chunk: torch.Tensor,
    weights: torch.Tensor,
    *,
    num_steps: int,
) -> torch.Tensor:
    """The training-free fallback (no VJP): before every step the known rows are replaced by the previous chunk
    noised to the current time with the chunk's own initial noise, x <- x + W ⊙ (t z + (1-t) Y - x), and after the
    last step by Y itself, x <- x + W ⊙ (Y - x). Float32 like the agent's sampler. Batch 1."""
    x = noise.clone()
    kk, vv, pm = kv
    with torch.no_grad():
        for t, dt in flow_times(num_steps):
            target = t * noise + float(np.float32(1.0 - t)) * prev_chunk
            x = x + weights * (target - x)
            x = x + dt * model.denoise_step(x, torch.tensor([t], dtype=torch.float32), state, kk, vv, pm)
        x = x + weights * (prev_chunk - x)
    return x


def rtc_golden(
    model: Pi0Model,
    kv: Tuple[torch.Tensor, torch.Tensor, torch.Tensor],
    state: Optional[torch.Tensor],
    noise: torch.Tensor,
    *,
    valid_dims: int,
    seed: int,
    num_steps: int,
    shift: int = 5,
    delay: int = 4,
    schedule: str = "exp",
    max_guidance: float = 5.0,
) -> Dict[str, Any]:
    """The golden file's `rtc` section: a previous chunk (the model's chunk for other noise, advanced by `shift`
    rows as if `shift` rows had executed), its soft mask, and the autograd reference of the first step's guidance
    and of the whole guided and inpainted chunks, for the agent's parity test."""
    from .bundle import encode_array

    cfg = model.cfg
    H, A = cfg.action_horizon, cfg.action_dim
    g = torch.Generator().manual_seed(seed + 2)
    other = torch.randn(1, H, A, generator=g)
    kk, vv, pm = kv
    with torch.no_grad():
        x = other
        for t, dt in flow_times(num_steps):
            x = x + dt * model.denoise_step(x, torch.tensor([t]), state, kk, vv, pm)
    prev = torch.zeros(1, H, A)
    prev[0, : H - shift] = x[0, shift:]
    rows = prefix_weights(delay, H - shift, H, schedule)
    w = torch.zeros(1, H, A)
    w[0, :, :valid_dims] = torch.from_numpy(rows.astype(np.float32))[:, None]
    _, g_first = guidance_term(model, noise, torch.ones(1), state, kk, vv, pm, prev, w)
    guided = rtc_sample_reference(model, kv, state, noise, prev, w, max_guidance=max_guidance, num_steps=num_steps)
    inpainted = inpaint_sample_reference(model, kv, state, noise, prev, w, num_steps=num_steps)
    return {
        "delay": delay,
        "overlap": H - shift,
        "schedule": schedule,
        "max_guidance": max_guidance,
        "valid_dims": valid_dims,
        "prev_chunk": encode_array(prev.numpy()),
        "guide_weights": encode_array(w.numpy()),
        "guidance_first": encode_array(g_first.numpy()),
        "guided_model_actions": encode_array(guided.numpy()),
        "inpainted_model_actions": encode_array(inpainted.numpy()),
    }
