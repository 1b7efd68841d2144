"""Our PyTorch checkpoint layout against openpi's own conventions, with HF transformers 4.53.2 (the version openpi's
PyTorch port pins; its PaliGemma, SigLIP and Gemma modules are what openpi's `PaliGemmaWithExpertModel` wraps) as the
independent peer, run in .venv-lerobot by tests/hf_reference.py:

- every weight name and shape HF's modules have, under openpi's prefixes, is what our model loads (the LM heads
  aside: present in openpi's checkpoints, unused, ignored by name); what only we have is exactly openpi's own
  top-level projections (and, for pi05, the patched adaRMS norms' `dense` layers, which stock HF lacks);
- a checkpoint made of HF's weights loads through our loader (`weights.load_state`), and our SigLIP tower then
  computes what HF's `SiglipVisionModel` computes on the same images.

Not verifiable here: the adaRMS norm names/shapes of pi05 (openpi patches transformers for them: checked only
against the names openpi's JAX-to-PyTorch converter writes, `…_layernorm.dense.{weight,bias}` and
`model.norm.dense.{weight,bias}`, a Linear(width -> 3·width)) and the Gemma stacks' numerics (openpi replaces HF's attention forward with its own
joint-attention code, so HF's GemmaModel forward is not openpi's).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from typing import Dict, Tuple

import numpy as np
import pytest
import torch

from openpi_edge_export import weights as W
from openpi_edge_export.config import tiny_config

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
PY = os.path.join(REPO, ".venv-lerobot", "bin", "python")


def _hf_reference(tmp_path, cfg) -> str:  # type: ignore[no-untyped-def]
    # idempotent: instant when the venv is there (CI builds it before the trainer tests)
    subprocess.run(["bash", os.path.join(REPO, "scripts", "lerobot-env.sh")], check=True, timeout=1200)
    g = lambda c: {"width": c.width, "mlp_dim": c.mlp_dim, "depth": c.depth, "num_heads": c.num_heads, "num_kv_heads": c.num_kv_heads, "head_dim": c.head_dim}  # noqa: E731
    dims = {
        "seed": 0,
        "vocab_size": cfg.vocab_size,
        "vision": {"width": cfg.vision.width, "mlp_dim": cfg.vision.mlp_dim, "depth": cfg.vision.depth, "num_heads": cfg.vision.num_heads},
        "llm": g(cfg.llm),
        "expert": g(cfg.expert),
    }
    out = str(tmp_path / "hf")
    with open(tmp_path / "dims.json", "w") as f:
        json.dump(dims, f)
    subprocess.run([PY, os.path.join(REPO, "trainer", "tests", "hf_reference.py"), str(tmp_path / "dims.json"), out], check=True, timeout=600)
    return out


def _shapes(sd: Dict[str, "torch.Tensor | np.ndarray"]) -> Dict[str, Tuple[int, ...]]:
    return {k: tuple(v.shape) for k, v in sd.items()}


OPENPI_TOP_LEVEL = {
    False: {"action_in_proj", "action_out_proj", "state_proj", "action_time_mlp_in", "action_time_mlp_out"},
    True: {"action_in_proj", "action_out_proj", "time_mlp_in", "time_mlp_out"},
}


@pytest.mark.parametrize("pi05", [False, True])
def test_layout_matches_hf_modules_under_openpi_prefixes(tmp_path, pi05: bool) -> None:
    from openpi_edge_export.model import Pi0Model

    cfg = tiny_config(pi05=pi05, vocab_size=300)
    hf = W.read_safetensors(os.path.join(_hf_reference(tmp_path, cfg), "hf.safetensors"))
    ours = _shapes(Pi0Model(cfg).state_dict())
    theirs = _shapes(hf)
    lm_heads = {k for k in theirs if k.endswith("lm_head.weight")}
    assert lm_heads == {"paligemma_with_expert.paligemma.lm_head.weight", "paligemma_with_expert.gemma_expert.lm_head.weight"}
    hf_only = sorted(set(theirs) - set(ours) - lm_heads)
    ours_only = sorted(set(ours) - set(theirs))
    if pi05:
        # adaRMS (openpi's patched GemmaRMSNorm(dim, cond_dim)): the expert's norms are a `dense` Linear(cond -> 3 dim)
        # instead of a scale; stock HF has the scale.
        expert_norm = re.compile(r"paligemma_with_expert\.gemma_expert\.model\.(layers\.\d+\.(input|post_attention)_layernorm|norm)\.")
        assert hf_only and all(expert_norm.match(k) and k.endswith(".weight") for k in hf_only), hf_only
        dense = [k for k in ours_only if expert_norm.match(k)]
        assert dense and all(k.endswith((".dense.weight", ".dense.bias")) for k in dense)
        for k in dense:
            if k.endswith(".dense.weight"):
                assert ours[k] == (3 * cfg.expert.width, cfg.expert.width)
        ours_only = [k for k in ours_only if k not in dense]
    else:
        assert hf_only == []
    assert {k.split(".")[0] for k in ours_only} == OPENPI_TOP_LEVEL[pi05], ours_only
    for k in set(ours) & set(theirs):
        assert ours[k] == theirs[k], f"{k}: ours {ours[k]} vs HF {theirs[k]}"


def test_hf_weights_load_and_our_siglip_computes_hf_siglip(tmp_path) -> None:
    from openpi_edge_export.model import Pi0Model, init_random

    cfg = tiny_config(pi05=False, vocab_size=300)
    ref = _hf_reference(tmp_path, cfg)
    model = Pi0Model(cfg).eval()
    init_random(model, 3)
    hf = W.read_safetensors(os.path.join(ref, "hf.safetensors"))
    own = model.state_dict()
    # openpi's own projections are not HF's: keep ours; everything else comes from HF's modules
    tensors = {k: v for k, v in hf.items()}
    for k, v in own.items():
        if k.split(".")[0] in OPENPI_TOP_LEVEL[False]:
            tensors[k] = v.numpy()
    ignored = W.load_state(model, tensors, "hf.safetensors")
    assert ignored == ["paligemma_with_expert.gemma_expert.lm_head.weight", "paligemma_with_expert.paligemma.lm_head.weight"]
    pixels = torch.from_numpy(np.load(os.path.join(ref, "pixels.npy")))
    with torch.no_grad():
        feats = model.paligemma_with_expert.paligemma.model.vision_tower.vision_model(pixels).numpy()
    want = np.load(os.path.join(ref, "siglip.npy"))
    assert feats.shape == want.shape == (2, 256, cfg.vision.width)
    err = float(np.max(np.abs(feats - want)))
    print(f"SigLIP ours vs HF 4.53.2: max abs {err:.2e} (|x| max {float(np.max(np.abs(want))):.2f})")
    assert err < 1e-4
