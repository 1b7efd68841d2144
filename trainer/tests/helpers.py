"""Shared helpers: tiny models, ORT host loop."""

import os

import numpy as np
import torch

from openpi_edge_export.config import IMAGE_SLOTS, tiny_config
from openpi_edge_export.model import Pi0Model, init_random

PREFIX_INPUTS = list(IMAGE_SLOTS) + ["image_mask", "tokenized_prompt", "tokenized_prompt_mask"]


def tiny_model(pi05: bool, seed: int = 7, vocab: int = 300, horizon: int = 10) -> Pi0Model:
    m = Pi0Model(tiny_config(pi05=pi05, vocab_size=vocab, action_horizon=horizon)).eval()
    init_random(m, seed)
    return m


def random_inputs(cfg, batch: int = 2, seed: int = 3):
    g = torch.Generator().manual_seed(seed)
    imgs = [torch.randint(0, 256, (batch, 224, 224, 3), generator=g, dtype=torch.uint8) for _ in IMAGE_SLOTS]
    im = torch.ones(batch, 3, dtype=torch.bool)
    im[0, 2] = False
    if batch > 1:
        im[1, 1] = False
    lengths = torch.tensor([5 + 7 * i for i in range(batch)])
    tm = torch.arange(cfg.max_token_len)[None, :] < lengths[:, None]
    tok = torch.randint(0, cfg.vocab_size, (batch, cfg.max_token_len), generator=g).to(torch.int32) * tm
    state = torch.randn(batch, cfg.action_dim, generator=g)
    noise = torch.randn(batch, cfg.action_horizon, cfg.action_dim, generator=g)
    return imgs, im, tok, tm, state, noise


def ort_sample(bundle_dir: str, feeds: dict, state, noise: np.ndarray, num_steps: int, pi05: bool) -> np.ndarray:
    """The host loop of docs/bundle-format.md over the two exported graphs."""
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = 2
    pre = ort.InferenceSession(os.path.join(bundle_dir, "prefix.onnx"), so, providers=["CPUExecutionProvider"])
    den = ort.InferenceSession(os.path.join(bundle_dir, "denoise.onnx"), so, providers=["CPUExecutionProvider"])
    kk, vv, pm = pre.run(["kv_keys", "kv_values", "prefix_mask"], feeds)
    dt = np.float32(-1.0 / num_steps)
    t = np.float32(1.0)
    x = noise.astype(np.float32)
    while t >= -dt / 2:
        f = {"x_t": x, "time": np.full((x.shape[0],), t, np.float32), "kv_keys": kk, "kv_values": vv, "prefix_mask": pm}
        if not pi05:
            f["state"] = state
        (v,) = den.run(["v_t"], f)
        x = (x + dt * v).astype(np.float32)
        t = np.float32(t + dt)
    return x
