"""Runs in .venv-lerobot (PyPI torch 2.7 + transformers 4.53.2, the version openpi's PyTorch port pins; see
scripts/requirements-lerobot.txt), not in the trainer venv: builds HF's PaliGemma and Gemma modules at the sizes
given, seeded, and writes what openpi's PyTorch checkpoints are made of, for test_openpi_pytorch_layout.py:

  hf.safetensors  HF's own state dicts under openpi's prefixes (`paligemma_with_expert.paligemma.` +
                  PaliGemmaForConditionalGeneration, `paligemma_with_expert.gemma_expert.` + GemmaForCausalLM
                  without the expert's token embedding, which openpi sets to None)
  pixels.npy      a seeded [2, 3, 224, 224] image batch in [-1, 1]
  siglip.npy      HF SiglipVisionModel's last_hidden_state for it (post-layernorm; PaliGemma's tower, no head)

usage: hf_reference.py DIMS_JSON OUT_DIR
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any, Dict

import numpy as np
import torch
from safetensors.torch import save_file
from transformers import GemmaConfig, GemmaForCausalLM, PaliGemmaConfig, PaliGemmaForConditionalGeneration


def main() -> int:
    dims: Dict[str, Any] = json.load(open(sys.argv[1]))
    out = sys.argv[2]
    os.makedirs(out, exist_ok=True)
    torch.manual_seed(int(dims.get("seed", 0)))
    v, llm, ex = dims["vision"], dims["llm"], dims["expert"]
    vision_config = dict(
        hidden_size=v["width"],
        intermediate_size=v["mlp_dim"],
        num_hidden_layers=v["depth"],
        num_attention_heads=v["num_heads"],
        patch_size=14,
        image_size=224,
        vision_use_head=False,
        projection_dim=llm["width"],
    )
    text_config = dict(
        hidden_size=llm["width"],
        intermediate_size=llm["mlp_dim"],
        num_hidden_layers=llm["depth"],
        num_attention_heads=llm["num_heads"],
        num_key_value_heads=llm["num_kv_heads"],
        head_dim=llm["head_dim"],
        vocab_size=dims["vocab_size"],
    )
    pg = PaliGemmaForConditionalGeneration(
        PaliGemmaConfig(vision_config=vision_config, text_config=text_config, projection_dim=llm["width"], vocab_size=dims["vocab_size"])
    ).eval()
    expert = GemmaForCausalLM(
        GemmaConfig(
            hidden_size=ex["width"],
            intermediate_size=ex["mlp_dim"],
            num_hidden_layers=ex["depth"],
            num_attention_heads=ex["num_heads"],
            num_key_value_heads=ex["num_kv_heads"],
            head_dim=ex["head_dim"],
            vocab_size=dims["vocab_size"],
        )
    ).eval()
    tensors: Dict[str, torch.Tensor] = {}
    for k, t in pg.state_dict().items():
        tensors["paligemma_with_expert.paligemma." + k] = t.detach().clone().contiguous()
    for k, t in expert.state_dict().items():
        if k == "model.embed_tokens.weight":
            continue
        tensors["paligemma_with_expert.gemma_expert." + k] = t.detach().clone().contiguous()
    # HF ties lm_head to the token embedding; a saved checkpoint holds both names
    save_file(tensors, os.path.join(out, "hf.safetensors"))
    g = torch.Generator().manual_seed(5)
    pixels = torch.rand(2, 3, 224, 224, generator=g) * 2 - 1
    with torch.no_grad():
        feats = pg.model.vision_tower(pixel_values=pixels).last_hidden_state
    np.save(os.path.join(out, "pixels.npy"), pixels.numpy())
    np.save(os.path.join(out, "siglip.npy"), feats.numpy())
    return 0


if __name__ == "__main__":
    sys.exit(main())
