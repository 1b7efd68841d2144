"""Real-time chunking: the exported guidance graph (the VJP traced by make_fx) against PyTorch autograd, the mask
and weight formulas, and the guided sampler's pull toward the previous chunk."""

from __future__ import annotations

import math
import os
from typing import Any, Dict, List, Tuple

import numpy as np
import pytest
import torch

from openpi_edge_export.export_onnx import export_model
from openpi_edge_export.fp16 import convert_file_to_fp16
from openpi_edge_export.model import Pi0Model
from openpi_edge_export.rtc_export import (
    guidance_term,
    guidance_weight,
    inpaint_sample_reference,
    prefix_weights,
    rtc_sample_reference,
)

from helpers import random_inputs, tiny_model

ATOL = 1e-4


@pytest.fixture(scope="module", params=[False, True], ids=["pi0", "pi05"])
def exported(request: Any, tmp_path_factory: Any) -> Tuple[Pi0Model, str, Dict[str, Any]]:
    m = tiny_model(request.param)
    d = str(tmp_path_factory.mktemp("rtc-pi05" if request.param else "rtc-pi0"))
    graphs = export_model(m, d, log=lambda s: None)
    return m, d, graphs


def _session(path: str) -> Any:
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = 2
    return ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])


def _case(m: Pi0Model, seed: int) -> Tuple[List[torch.Tensor], Dict[str, np.ndarray]]:
    """Batch-1 guidance inputs from a real prefix: (x_t, time, [state], kv_keys, kv_values, prefix_mask, Y, W)."""
    cfg = m.cfg
    imgs, im, tok, tm, st, noise = random_inputs(cfg, batch=1, seed=seed)
    with torch.no_grad():
        kk, vv, pm = m.prefix_kv(imgs, im, tok, tm)
    g = torch.Generator().manual_seed(seed + 100)
    prev = torch.randn(1, cfg.action_horizon, cfg.action_dim, generator=g)
    w = torch.zeros(1, cfg.action_horizon, cfg.action_dim)
    w[0, :, :14] = torch.from_numpy(prefix_weights(3, cfg.action_horizon - 2, cfg.action_horizon).astype(np.float32))[:, None]
    time = torch.tensor([0.3 + 0.1 * seed])
    args = [noise, time] + ([] if cfg.pi05 else [st]) + [kk, vv, pm, prev, w]
    names = ["x_t", "time"] + ([] if cfg.pi05 else ["state"]) + ["kv_keys", "kv_values", "prefix_mask", "prev_chunk", "guide_weights"]
    return args, {n: a.numpy() for n, a in zip(names, args)}


def _ref(m: Pi0Model, args: List[torch.Tensor]) -> Tuple[torch.Tensor, torch.Tensor]:
    if m.cfg.pi05:
        x, t, kk, vv, pm, prev, w = args
        return guidance_term(m, x, t, None, kk, vv, pm, prev, w)
    x, t, st, kk, vv, pm, prev, w = args
    return guidance_term(m, x, t, st, kk, vv, pm, prev, w)


def test_manifest_entry_is_batch_one_with_both_outputs(exported: Tuple[Pi0Model, str, Dict[str, Any]]) -> None:
    m, d, graphs = exported
    g = graphs["guidance"]
    assert g["file"] == "guidance.onnx" and os.path.exists(os.path.join(d, g["file"]))
    names = [i["name"] for i in g["inputs"]]
    assert names[-2:] == ["prev_chunk", "guide_weights"]
    assert [o["name"] for o in g["outputs"]] == ["v_t", "guidance"]
    for spec in g["inputs"] + g["outputs"]:
        assert "batch" not in spec["shape"]
    assert g["inputs"][0]["shape"] == [1, m.cfg.action_horizon, m.cfg.action_dim]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_onnx_guidance_matches_autograd(exported: Tuple[Pi0Model, str, Dict[str, Any]], seed: int) -> None:
    m, d, _ = exported
    args, feeds = _case(m, seed)
    v_ref, g_ref = _ref(m, args)
    v, g = _session(os.path.join(d, "guidance.onnx")).run(["v_t", "guidance"], feeds)
    assert np.max(np.abs(v - v_ref.numpy())) <= ATOL
    assert np.max(np.abs(g - g_ref.numpy())) <= ATOL
    assert np.max(np.abs(g_ref.numpy())) > 0.01  # a real signal, not zeros
    # the plain velocity is the denoise graph's
    den = _session(os.path.join(d, "denoise.onnx"))
    dn = {k: feeds[k] for k in [i.name for i in den.get_inputs()]}
    assert np.max(np.abs(den.run(["v_t"], dn)[0] - v)) <= 1e-5


def test_autograd_vjp_matches_finite_differences(exported: Tuple[Pi0Model, str, Dict[str, Any]]) -> None:
    """The reference itself: g = -∇ₓ ½ Σ W (Y - x̂)² (W does not depend on x), so <g, u> = -d/dε of that loss
    along u, checked by central differences in float64. The model keeps its attention logits in float32 (an
    island, model.py), which limits the agreement to about 1e-5 relative."""
    m, _, _ = exported
    args, _ = _case(m, 0)
    x = args[0].double()
    m64 = m.double()
    try:
        args64 = [a.double() if a.dtype == torch.float32 else a for a in args]

        def loss(xx: torch.Tensor) -> float:
            a = [xx] + args64[1:]
            with torch.no_grad():
                state = None if m.cfg.pi05 else a[2]
                kk, vv, pm, prev, w = a[-5:]
                v = m64.denoise_step(xx, a[1], state, kk, vv, pm)
                xh = xx - a[1][:, None, None] * v
                return float(0.5 * torch.sum(w * (prev - xh) ** 2))

        _, g = _ref(m64, args64)
        u = torch.randn(x.shape, generator=torch.Generator().manual_seed(5), dtype=torch.float64)
        eps = 1e-3
        fd = (loss(x + eps * u) - loss(x - eps * u)) / (2 * eps)
        assert abs(float(torch.sum(-g * u)) - fd) <= 1e-4 * max(1.0, abs(fd))
    finally:
        m.float()


def test_fp16_pass_refuses_the_guidance_graph_so_bundles_keep_it_float32(
    exported: Tuple[Pi0Model, str, Dict[str, Any]], tmp_path: Any
) -> None:
    """make_fx drops the float32 trace's no-op island casts, so the island-keeping fp16 pass cannot place the VJP
    graph's values; it says so instead of silently computing islands in fp16, and write_bundle keeps the guidance
    graph float32 in fp16 bundles."""
    import shutil

    _, d, _ = exported
    p = str(tmp_path / "guidance.onnx")
    shutil.copyfile(os.path.join(d, "guidance.onnx"), p)
    with pytest.raises(ValueError, match="mixes float32-island inputs"):
        convert_file_to_fp16(p)


def test_prefix_weights_schedules() -> None:
    w = prefix_weights(4, 45, 50, "exp")
    assert list(w[:4]) == [1.0] * 4
    assert all(0 < w[i] < 1 for i in range(4, 45)) and list(w[45:]) == [0.0] * 5
    assert all(w[i] > w[i + 1] for i in range(4, 44))
    c = (45 - 4) / (45 - 4 + 1)
    assert math.isclose(w[4], c * math.expm1(c) / math.expm1(1.0))
    lin = prefix_weights(2, 6, 8, "linear")
    assert np.allclose(lin, [1, 1, 4 / 5, 3 / 5, 2 / 5, 1 / 5, 0, 0])
    assert list(prefix_weights(2, 6, 8, "ones")) == [1, 1, 1, 1, 1, 1, 0, 0]
    assert list(prefix_weights(2, 6, 8, "zeros")) == [1, 1, 0, 0, 0, 0, 0, 0]
    assert list(prefix_weights(9, 6, 8, "exp")) == [1, 1, 1, 1, 1, 1, 0, 0]  # delay clamped to the overlap
    with pytest.raises(ValueError, match="unknown RTC schedule"):
        prefix_weights(1, 2, 3, "cosine")


def test_guidance_weight() -> None:
    assert guidance_weight(1.0, 5.0) == 5.0 and guidance_weight(0.0, 5.0) == 5.0
    assert math.isclose(guidance_weight(0.5, 5.0), 2.0)
    assert guidance_weight(0.9, 5.0) == 5.0  # (0.81 + 0.01) / 0.09 = 9.1 > β
    assert math.isclose(guidance_weight(0.3, 100.0), (0.09 + 0.49) / 0.21)


def test_guided_and_inpainted_chunks_follow_the_previous_chunk() -> None:
    m = tiny_model(False)
    cfg = m.cfg
    imgs, im, tok, tm, st, noise = random_inputs(cfg, batch=1, seed=4)
    with torch.no_grad():
        kv = m.prefix_kv(imgs, im, tok, tm)
        free = m.sample_actions(imgs, im, tok, tm, st, noise, num_steps=10)
    prev = free + 0.5  # a previous chunk the free chunk does not follow
    w = torch.zeros_like(prev)
    delay = 3
    w[0] = torch.from_numpy(prefix_weights(delay, cfg.action_horizon, cfg.action_horizon).astype(np.float32))[:, None]
    guided = rtc_sample_reference(m, kv, st, noise, prev, w, max_guidance=5.0, num_steps=10)
    inpainted = inpaint_sample_reference(m, kv, st, noise, prev, w, num_steps=10)
    for out in (guided, inpainted):
        err_free = torch.mean(torch.abs(free[0, :delay] - prev[0, :delay])).item()
        err = torch.mean(torch.abs(out[0, :delay] - prev[0, :delay])).item()
        assert err < 0.25 * err_free
    assert torch.allclose(inpainted[0, :delay], prev[0, :delay], atol=1e-6)
