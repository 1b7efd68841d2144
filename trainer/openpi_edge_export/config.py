"""Architecture sizes for π0 / π0.5 (openpi `pi0_config.py`, `gemma.get_config`, SigLIP So400m/14).

One config type builds the full-size model and the tiny demo/test models.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Dict, Optional

PALIGEMMA_VOCAB_SIZE = 257_152


@dataclasses.dataclass(frozen=True)
class GemmaConfig:
    width: int
    depth: int
    mlp_dim: int
    num_heads: int
    num_kv_heads: int
    head_dim: int


@dataclasses.dataclass(frozen=True)
class VisionConfig:
    width: int
    depth: int
    mlp_dim: int
    num_heads: int
    patch_size: int = 14
    image_size: int = 224

    @property
    def num_patches(self) -> int:
        return (self.image_size // self.patch_size) ** 2


GEMMA_VARIANTS: Dict[str, GemmaConfig] = {
    "gemma_2b": GemmaConfig(width=2048, depth=18, mlp_dim=16_384, num_heads=8, num_kv_heads=1, head_dim=256),
    "gemma_300m": GemmaConfig(width=1024, depth=18, mlp_dim=4096, num_heads=8, num_kv_heads=1, head_dim=256),
    "dummy": GemmaConfig(width=64, depth=4, mlp_dim=128, num_heads=8, num_kv_heads=1, head_dim=16),
}
# openpi's LoRA variants have the same base shapes; their lora_a / lora_b leaves are merged at export (lora.py).
GEMMA_VARIANTS["gemma_2b_lora"] = GEMMA_VARIANTS["gemma_2b"]
GEMMA_VARIANTS["gemma_300m_lora"] = GEMMA_VARIANTS["gemma_300m"]

SIGLIP_SO400M_14 = VisionConfig(width=1152, depth=27, mlp_dim=4304, num_heads=16)

IMAGE_SLOTS = ("base_0_rgb", "left_wrist_0_rgb", "right_wrist_0_rgb")


@dataclasses.dataclass(frozen=True)
class ModelConfig:
    """Everything the PyTorch model and the exporter need to know about sizes."""

    pi05: bool = False
    action_dim: int = 32
    action_horizon: int = 50
    max_token_len: int = 48
    discrete_state_input: bool = False
    vocab_size: int = PALIGEMMA_VOCAB_SIZE
    llm: GemmaConfig = GEMMA_VARIANTS["gemma_2b"]
    expert: GemmaConfig = GEMMA_VARIANTS["gemma_300m"]
    vision: VisionConfig = SIGLIP_SO400M_14
    num_images: int = len(IMAGE_SLOTS)

    def __post_init__(self) -> None:
        a, b = self.llm, self.expert
        if (a.depth, a.num_heads, a.num_kv_heads, a.head_dim) != (b.depth, b.num_heads, b.num_kv_heads, b.head_dim):
            raise ValueError(
                "llm and expert must share depth/num_heads/num_kv_heads/head_dim, got "
                f"{(a.depth, a.num_heads, a.num_kv_heads, a.head_dim)} vs {(b.depth, b.num_heads, b.num_kv_heads, b.head_dim)}"
            )
        if a.num_heads % a.num_kv_heads:
            raise ValueError(f"num_heads {a.num_heads} not a multiple of num_kv_heads {a.num_kv_heads}")
        if a.head_dim % 2:
            raise ValueError(f"head_dim {a.head_dim} must be even for RoPE")

    @property
    def model_type(self) -> str:
        return "pi05" if self.pi05 else "pi0"

    @property
    def prefix_len(self) -> int:
        return self.num_images * self.vision.num_patches + self.max_token_len

    @property
    def state_input(self) -> str:
        if not self.pi05:
            return "token"
        return "prompt" if self.discrete_state_input else "none"

    def to_json(self) -> Dict[str, Any]:
        return dataclasses.asdict(self)

    @staticmethod
    def from_json(d: Dict[str, Any]) -> "ModelConfig":
        d = dict(d)
        d["llm"] = GemmaConfig(**d["llm"])
        d["expert"] = GemmaConfig(**d["expert"])
        d["vision"] = VisionConfig(**d["vision"])
        return ModelConfig(**d)


def full_config(
    *,
    pi05: bool,
    action_dim: int = 32,
    action_horizon: int = 50,
    max_token_len: Optional[int] = None,
    discrete_state_input: Optional[bool] = None,
    paligemma_variant: str = "gemma_2b",
    action_expert_variant: str = "gemma_300m",
) -> ModelConfig:
    """openpi's Pi0Config defaults: max_token_len 48 (pi0) / 200 (pi05); discrete_state_input = pi05."""
    for v in (paligemma_variant, action_expert_variant):
        if v not in GEMMA_VARIANTS:
            raise ValueError(f"unknown gemma variant {v!r}; known: {sorted(GEMMA_VARIANTS)}")
    return ModelConfig(
        pi05=pi05,
        action_dim=action_dim,
        action_horizon=action_horizon,
        max_token_len=max_token_len if max_token_len is not None else (200 if pi05 else 48),
        discrete_state_input=pi05 if discrete_state_input is None else discrete_state_input,
        llm=GEMMA_VARIANTS[paligemma_variant],
        expert=GEMMA_VARIANTS[action_expert_variant],
    )


def tiny_config(*, pi05: bool, vocab_size: int, action_horizon: int = 50, max_token_len: Optional[int] = None) -> ModelConfig:
    """The demo/test model: same topology (3 images x 256 patches, MQA, two experts), tiny widths."""
    return ModelConfig(
        pi05=pi05,
        action_dim=32,
        action_horizon=action_horizon,
        max_token_len=max_token_len if max_token_len is not None else (200 if pi05 else 48),
        discrete_state_input=pi05,
        vocab_size=vocab_size,
        llm=GemmaConfig(width=64, depth=2, mlp_dim=128, num_heads=4, num_kv_heads=1, head_dim=16),
        expert=GemmaConfig(width=32, depth=2, mlp_dim=64, num_heads=4, num_kv_heads=1, head_dim=16),
        vision=VisionConfig(width=32, depth=2, mlp_dim=64, num_heads=2),
    )
