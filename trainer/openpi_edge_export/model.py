"""π0 / π0.5 inference in plain PyTorch, written for ONNX export (torch 1.13 and 2.x).

Math follows openpi's JAX model (`pi0.py`, `gemma.py`, `siglip.py`); module attribute names reproduce the key names
of openpi's PyTorch checkpoints (`model.safetensors`), so `state_dict()` keys are those keys.
Everything runs in float32. Export rules kept throughout: no boolean CumSum (masks are cast to int64 first), no
complex numbers (rotate-half RoPE with sin/cos), a finite mask value, no SDPA, no nn.RMSNorm.

Precision islands (openpi `gemma.py` / `pi0.py`): RoPE (angles, sin/cos and the rotation), the time embedding,
RMSNorm (variance, normalisation, scale/shift) and the attention logits' mask + softmax are computed in float32 and
cast back, whatever the compute dtype (the parameters' dtype). In a float32 model the casts are no-ops (bit-identical
results; they appear as float->float Cast nodes in the graph), in a bfloat16 model they are openpi's mixed precision
(`precision_report.py`), and `fp16.py` reads them back from the float32 graph: `to_fp32(x)` of a compute-dtype tensor
enters an island, `to_compute(x, dtype)` of an island tensor leaves it. So: never write a cast that would be a no-op
in a reduced-precision model (no `to_fp32` of an island value, no `to_compute` of a compute value), and take graph
float inputs (float32 at the graph boundary) into the compute dtype explicitly, or use them as island inputs (`time`).
"""

from __future__ import annotations

import math
from typing import List, Optional, Tuple

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from .config import GemmaConfig, ModelConfig, VisionConfig

# openpi gemma.py masks logits with this finite value (fp32); the fp16 pass clips it to -65504.
MASK_VALUE = -2.3819763e38
RMS_EPS = 1e-6
LN_EPS = 1e-6


def to_fp32(x: torch.Tensor) -> torch.Tensor:
    """Enters a float32 island. copy=True: the tracer then records a Cast whose output only the island uses (a
    same-dtype `.float()` returns x itself, and every later use of x would read the Cast's output)."""
    return x.to(torch.float32, copy=True)


def to_compute(x: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """Leaves a float32 island (or takes a float32 graph input) into the compute dtype; copy=True as in to_fp32."""
    return x.to(dtype, copy=True)


def gelu_tanh(x: torch.Tensor) -> torch.Tensor:
    # Written out (not F.gelu(approximate=...)) so torch 1.13 and every exporter produce the same ops.
    return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x * x * x)))


def posemb_sincos(t: torch.Tensor, dim: int, min_period: float = 4e-3, max_period: float = 4.0) -> torch.Tensor:
    """openpi `posemb_sincos`: [B] -> [B, dim] = [sin(t*2pi/period), cos(t*2pi/period)], period geometric in
    [min_period, max_period] over linspace(0, 1, dim/2)."""
    if dim % 2:
        raise ValueError(f"posemb_sincos dim {dim} must be even")
    # A numpy constant (no Range op in the graph); float64 like openpi's PyTorch port, then cast.
    fraction = np.linspace(0.0, 1.0, dim // 2, dtype=np.float64)
    period = min_period * (max_period / min_period) ** fraction
    scale = torch.from_numpy((1.0 / period * 2.0 * math.pi).astype(np.float32)).to(t.device)
    if t.dtype != torch.float32:  # Python-level: a float32 `t` is used as it is (an island input, no Cast node)
        t = t.to(torch.float32)
    x = t[:, None] * scale[None, :]
    return torch.cat([torch.sin(x), torch.cos(x)], dim=-1)  # float32; callers cast to their compute dtype


def make_attn_mask(input_mask: torch.Tensor, ar_mask: torch.Tensor) -> torch.Tensor:
    """openpi `make_attn_mask`: i may attend j iff cumsum(ar)[j] <= cumsum(ar)[i] and both valid.
    input_mask bool [B, N]; ar_mask int/bool [N] or [B, N]. Returns bool [B, N, N]."""
    ar = ar_mask.to(torch.int64)
    if ar.dim() == 1:
        ar = ar[None, :].expand(input_mask.shape[0], -1)
    cum = torch.cumsum(ar, dim=1)
    att = cum[:, None, :] <= cum[:, :, None]
    valid = input_mask[:, None, :] & input_mask[:, :, None]
    return att & valid


def positions_from_mask(input_mask: torch.Tensor) -> torch.Tensor:
    """cumsum(valid) - 1, with the bool mask cast to int64 before CumSum (ORT/TRT have no bool CumSum)."""
    return torch.cumsum(input_mask.to(torch.int64), dim=1) - 1


def apply_rope(x: torch.Tensor, positions: torch.Tensor, max_wavelength: float = 10_000.0) -> torch.Tensor:
    """Rotate-half RoPE. x [B, T, H, D], positions int [B, T]. Angles, sin/cos and the rotation in float32 (an island,
    like openpi's `_apply_rope`: positions up to ~1000 times frequencies need float32), the result in x's dtype."""
    dtype = x.dtype
    d = int(x.shape[-1])  # a Python int, so the frequency table is a constant (no Range op)
    freq_exponents = (2.0 / d) * np.arange(d // 2, dtype=np.float32)
    timescale = torch.from_numpy((max_wavelength**freq_exponents).astype(np.float32)).to(x.device)
    radians = positions.to(torch.float32)[..., None] / timescale  # [B, T, D/2]
    radians = radians[:, :, None, :]
    sin, cos = torch.sin(radians), torch.cos(radians)
    x = to_fp32(x)
    x1, x2 = x[..., : d // 2], x[..., d // 2 :]
    return to_compute(torch.cat([x1 * cos - x2 * sin, x2 * cos + x1 * sin], dim=-1), dtype)


def rms_normalize(x: torch.Tensor) -> torch.Tensor:
    """x * rsqrt(mean(x^2) + eps) for a float32 x (callers enter the island: x*x overflows fp16 above 256)."""
    var = torch.mean(x * x, dim=-1, keepdim=True)
    return x * torch.rsqrt(var + RMS_EPS)


class RMSNorm(nn.Module):
    """Gemma RMSNorm, `normed * (1 + weight)`; with cond_dim (pi05 adaRMS) a Dense(cond) gives scale/shift/gate."""

    def __init__(self, dim: int, cond_dim: Optional[int] = None):
        super().__init__()
        self.cond_dim = cond_dim
        if cond_dim is None:
            self.weight = nn.Parameter(torch.zeros(dim))
        else:
            self.dense = nn.Linear(cond_dim, 3 * dim)

    def forward(self, x: torch.Tensor, cond: Optional[torch.Tensor] = None) -> Tuple[torch.Tensor, Optional[torch.Tensor]]:
        # An island (openpi's RMSNorm): variance, normalisation and scale/shift in float32, the result in x's dtype.
        dtype = x.dtype
        normed = rms_normalize(to_fp32(x))
        if self.cond_dim is None:
            return to_compute(normed * (1.0 + to_fp32(self.weight)), dtype), None
        if cond is None:
            raise ValueError("adaRMS norm needs a condition")
        mod = self.dense(cond)[:, None, :]  # [B, 1, 3*dim], compute dtype
        scale, shift, gate = torch.chunk(mod, 3, dim=-1)
        return to_compute(normed * (1.0 + to_fp32(scale)) + to_fp32(shift), dtype), gate


def gated_residual(x: torch.Tensor, y: torch.Tensor, gate: Optional[torch.Tensor]) -> torch.Tensor:
    return x + y if gate is None else x + y * gate


# ---------------------------------------------------------------- SigLIP


class SiglipAttention(nn.Module):
    def __init__(self, cfg: VisionConfig):
        super().__init__()
        self.num_heads = cfg.num_heads
        self.q_proj = nn.Linear(cfg.width, cfg.width)
        self.k_proj = nn.Linear(cfg.width, cfg.width)
        self.v_proj = nn.Linear(cfg.width, cfg.width)
        self.out_proj = nn.Linear(cfg.width, cfg.width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t, w = x.shape
        h = self.num_heads
        hd = w // h
        q = self.q_proj(x).reshape(b, t, h, hd).permute(0, 2, 1, 3)
        k = self.k_proj(x).reshape(b, t, h, hd).permute(0, 2, 3, 1)
        v = self.v_proj(x).reshape(b, t, h, hd).permute(0, 2, 1, 3)
        att = torch.softmax(torch.matmul(q * (hd**-0.5), k), dim=-1)
        out = torch.matmul(att, v).permute(0, 2, 1, 3).reshape(b, t, w)
        return self.out_proj(out)


class SiglipMlp(nn.Module):
    def __init__(self, cfg: VisionConfig):
        super().__init__()
        self.fc1 = nn.Linear(cfg.width, cfg.mlp_dim)
        self.fc2 = nn.Linear(cfg.mlp_dim, cfg.width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(gelu_tanh(self.fc1(x)))


class SiglipLayer(nn.Module):
    def __init__(self, cfg: VisionConfig):
        super().__init__()
        self.layer_norm1 = nn.LayerNorm(cfg.width, eps=LN_EPS)
        self.self_attn = SiglipAttention(cfg)
        self.layer_norm2 = nn.LayerNorm(cfg.width, eps=LN_EPS)
        self.mlp = SiglipMlp(cfg)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.self_attn(self.layer_norm1(x))
        return x + self.mlp(self.layer_norm2(x))


class SiglipEmbeddings(nn.Module):
    def __init__(self, cfg: VisionConfig):
        super().__init__()
        self.patch_embedding = nn.Conv2d(3, cfg.width, kernel_size=cfg.patch_size, stride=cfg.patch_size)
        self.position_embedding = nn.Embedding(cfg.num_patches, cfg.width)

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        x = self.patch_embedding(pixels)  # [B, W, 16, 16]
        x = x.flatten(2).transpose(1, 2)  # row-major patches, like flax's reshape of NHWC
        return x + self.position_embedding.weight[None]


class SiglipEncoder(nn.Module):
    def __init__(self, cfg: VisionConfig):
        super().__init__()
        self.layers = nn.ModuleList([SiglipLayer(cfg) for _ in range(cfg.depth)])


class SiglipVisionModel(nn.Module):
    def __init__(self, cfg: VisionConfig):
        super().__init__()
        self.embeddings = SiglipEmbeddings(cfg)
        self.encoder = SiglipEncoder(cfg)
        self.post_layernorm = nn.LayerNorm(cfg.width, eps=LN_EPS)

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        x = self.embeddings(pixels)
        for layer in self.encoder.layers:
            x = layer(x)
        return self.post_layernorm(x)


class VisionTower(nn.Module):
    def __init__(self, cfg: VisionConfig):
        super().__init__()
        self.vision_model = SiglipVisionModel(cfg)


class Projector(nn.Module):
    def __init__(self, vision_width: int, llm_width: int):
        super().__init__()
        self.linear = nn.Linear(vision_width, llm_width)


# ---------------------------------------------------------------- Gemma (two experts, one attention)


class GemmaAttentionWeights(nn.Module):
    def __init__(self, cfg: GemmaConfig):
        super().__init__()
        self.q_proj = nn.Linear(cfg.width, cfg.num_heads * cfg.head_dim, bias=False)
        self.k_proj = nn.Linear(cfg.width, cfg.num_kv_heads * cfg.head_dim, bias=False)
        self.v_proj = nn.Linear(cfg.width, cfg.num_kv_heads * cfg.head_dim, bias=False)
        self.o_proj = nn.Linear(cfg.num_heads * cfg.head_dim, cfg.width, bias=False)


class GemmaMlp(nn.Module):
    def __init__(self, cfg: GemmaConfig):
        super().__init__()
        self.gate_proj = nn.Linear(cfg.width, cfg.mlp_dim, bias=False)
        self.up_proj = nn.Linear(cfg.width, cfg.mlp_dim, bias=False)
        self.down_proj = nn.Linear(cfg.mlp_dim, cfg.width, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.down_proj(gelu_tanh(self.gate_proj(x)) * self.up_proj(x))


class GemmaLayer(nn.Module):
    def __init__(self, cfg: GemmaConfig, cond_dim: Optional[int]):
        super().__init__()
        self.input_layernorm = RMSNorm(cfg.width, cond_dim)
        self.self_attn = GemmaAttentionWeights(cfg)
        self.post_attention_layernorm = RMSNorm(cfg.width, cond_dim)
        self.mlp = GemmaMlp(cfg)


class GemmaModel(nn.Module):
    def __init__(self, cfg: GemmaConfig, cond_dim: Optional[int], vocab_size: Optional[int]):
        super().__init__()
        if vocab_size is not None:
            self.embed_tokens = nn.Embedding(vocab_size, cfg.width)
        self.layers = nn.ModuleList([GemmaLayer(cfg, cond_dim) for _ in range(cfg.depth)])
        self.norm = RMSNorm(cfg.width, cond_dim)


class PaliGemmaInner(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.vision_tower = VisionTower(cfg.vision)
        self.multi_modal_projector = Projector(cfg.vision.width, cfg.llm.width)
        self.language_model = GemmaModel(cfg.llm, None, cfg.vocab_size)


class PaliGemma(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.model = PaliGemmaInner(cfg)


class GemmaExpert(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.model = GemmaModel(cfg.expert, cfg.expert.width if cfg.pi05 else None, None)


class PaliGemmaWithExpert(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.paligemma = PaliGemma(cfg)
        self.gemma_expert = GemmaExpert(cfg)


KV = Tuple[torch.Tensor, torch.Tensor]  # per layer: [B, K, T, D] keys (RoPE applied), values


def _split_heads(x: torch.Tensor, heads: int, head_dim: int) -> torch.Tensor:
    b, t, _ = x.shape
    return x.reshape(b, t, heads, head_dim)


def attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: torch.Tensor, num_kv_heads: int) -> torch.Tensor:
    """Multi-query / grouped attention. q [B, T, N, D] (already scaled), k, v [B, K, S, D], mask bool [B, T, S].
    Query head n uses kv head n // (N / K) (openpi's `B T (K G) H` grouping). Returns [B, T, N*D]."""
    b, t, n, d = q.shape
    kh = num_kv_heads
    g = n // kh
    s = k.shape[2]
    qg = q.reshape(b, t, kh, g, d).permute(0, 2, 3, 1, 4).reshape(b, kh, g * t, d)
    # Logits, mask and softmax in float32 (an island, like openpi), the probabilities back in v's dtype.
    logits = to_fp32(torch.matmul(qg, k.transpose(2, 3)).reshape(b, kh, g, t, s))
    big_neg = torch.full((), MASK_VALUE, dtype=torch.float32)
    logits = torch.where(mask[:, None, None, :, :], logits, big_neg)
    probs = to_compute(torch.softmax(logits, dim=-1), v.dtype).reshape(b, kh, g * t, s)
    out = torch.matmul(probs, v).reshape(b, kh, g, t, d).permute(0, 3, 1, 2, 4)
    return out.reshape(b, t, n * d)


def joint_layer_forward(
    layers: List[GemmaLayer],
    cfgs: List[GemmaConfig],
    xs: List[Optional[torch.Tensor]],
    conds: List[Optional[torch.Tensor]],
    positions: torch.Tensor,
    mask: torch.Tensor,
    past: Optional[KV],
) -> Tuple[List[Optional[torch.Tensor]], KV]:
    """One transformer layer over the experts' token streams (None = expert absent), concatenated along the sequence.
    positions [B, T_new]; mask bool [B, T_new, T_past + T_new]. Returns new streams and this call's (k, v)."""
    qs, ks, vs, gates = [], [], [], []
    for layer, cfg, x, cond in zip(layers, cfgs, xs, conds):
        if x is None:
            gates.append(None)
            continue
        h, gate = layer.input_layernorm(x, cond)
        gates.append(gate)
        att = layer.self_attn
        qs.append(_split_heads(att.q_proj(h), cfg.num_heads, cfg.head_dim))
        ks.append(_split_heads(att.k_proj(h), cfg.num_kv_heads, cfg.head_dim))
        vs.append(_split_heads(att.v_proj(h), cfg.num_kv_heads, cfg.head_dim))
    cfg0 = cfgs[0]
    q = apply_rope(torch.cat(qs, dim=1), positions) * (cfg0.head_dim**-0.5)
    k = apply_rope(torch.cat(ks, dim=1), positions).permute(0, 2, 1, 3)
    v = torch.cat(vs, dim=1).permute(0, 2, 1, 3)
    new_kv = (k, v)
    if past is not None:
        k = torch.cat([past[0], k], dim=2)
        v = torch.cat([past[1], v], dim=2)
    out = attention(q, k, v, mask, cfg0.num_kv_heads)
    outs: List[Optional[torch.Tensor]] = []
    start = 0
    for layer, x, cond, gate in zip(layers, xs, conds, gates):
        if x is None:
            outs.append(None)
            continue
        end = start + x.shape[1]
        y = layer.self_attn.o_proj(out[:, start:end])
        start = end
        x = gated_residual(x, y, gate)
        h, gate2 = layer.post_attention_layernorm(x, cond)
        x = gated_residual(x, layer.mlp(h), gate2)
        outs.append(x)
    return outs, new_kv


class Pi0Model(nn.Module):
    """π0 (pi05=False) or π0.5 (pi05=True). Inputs follow openpi's Observation after model transforms, except images
    arrive as uint8 NHWC (the graph itself does x/255*2-1, like `Observation.from_dict`)."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.cfg = cfg
        self.paligemma_with_expert = PaliGemmaWithExpert(cfg)
        ew = cfg.expert.width
        self.action_in_proj = nn.Linear(cfg.action_dim, ew)
        self.action_out_proj = nn.Linear(ew, cfg.action_dim)
        if cfg.pi05:
            self.time_mlp_in = nn.Linear(ew, ew)
            self.time_mlp_out = nn.Linear(ew, ew)
        else:
            self.state_proj = nn.Linear(cfg.action_dim, ew)
            self.action_time_mlp_in = nn.Linear(2 * ew, ew)
            self.action_time_mlp_out = nn.Linear(ew, ew)

    # -- pieces

    @property
    def _pg(self) -> PaliGemmaInner:
        return self.paligemma_with_expert.paligemma.model

    @property
    def _expert(self) -> GemmaModel:
        return self.paligemma_with_expert.gemma_expert.model

    def embed_images(self, image_u8_nhwc: torch.Tensor) -> torch.Tensor:
        dtype = self._pg.vision_tower.vision_model.embeddings.patch_embedding.weight.dtype
        x = to_compute(image_u8_nhwc.to(torch.float32) / 255.0 * 2.0 - 1.0, dtype)
        x = x.permute(0, 3, 1, 2)
        feats = self._pg.vision_tower.vision_model(x)
        return self._pg.multi_modal_projector.linear(feats)

    def embed_prefix(
        self, images: List[torch.Tensor], image_mask: torch.Tensor, tokens: torch.Tensor, token_mask: torch.Tensor
    ) -> Tuple[torch.Tensor, torch.Tensor]:
        embs, masks = [], []
        n = self.cfg.vision.num_patches
        for i, img in enumerate(images):
            embs.append(self.embed_images(img))
            masks.append(image_mask[:, i : i + 1].expand(-1, n))
        lang = self._pg.language_model.embed_tokens(tokens.to(torch.int64))
        embs.append(lang * math.sqrt(self.cfg.llm.width))
        masks.append(token_mask)
        return torch.cat(embs, dim=1), torch.cat(masks, dim=1)

    def prefix_kv(
        self, images: List[torch.Tensor], image_mask: torch.Tensor, tokens: torch.Tensor, token_mask: torch.Tensor
    ) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Runs the PaliGemma expert over the prefix. Returns kv_keys, kv_values [L, B, K, P, D] and prefix_mask."""
        x, prefix_mask = self.embed_prefix(images, image_mask, tokens, token_mask)
        att = make_attn_mask(prefix_mask, torch.zeros(prefix_mask.shape[1], dtype=torch.int64))
        pos = positions_from_mask(prefix_mask)
        lm = self._pg.language_model
        keys, values = [], []
        xs: List[Optional[torch.Tensor]] = [x, None]
        for li in range(self.cfg.llm.depth):
            xs, (k, v) = joint_layer_forward(
                [lm.layers[li], self._expert.layers[li]], [self.cfg.llm, self.cfg.expert], xs, [None, None], pos, att, None
            )
            keys.append(k)
            values.append(v)
        # The final norm of expert 0 is not needed for the cache (openpi discards the prefix output at inference).
        return torch.stack(keys), torch.stack(values), prefix_mask

    def suffix_ar_mask(self) -> torch.Tensor:
        h = self.cfg.action_horizon
        ar = [1] * (0 if self.cfg.pi05 else 1) + [1] + [0] * (h - 1)
        return torch.tensor(ar, dtype=torch.int64)

    def embed_suffix(
        self, state: Optional[torch.Tensor], x_t: torch.Tensor, time: torch.Tensor
    ) -> Tuple[torch.Tensor, Optional[torch.Tensor]]:
        ew = self.cfg.expert.width
        dtype = next(self.action_in_proj.parameters()).dtype  # compute dtype; x_t and state arrive in float32
        action_tokens = self.action_in_proj(to_compute(x_t, dtype))
        temb = to_compute(posemb_sincos(time, ew), dtype)  # computed in float32 from the float32 time
        if self.cfg.pi05:
            c = F.silu(self.time_mlp_in(temb))
            c = F.silu(self.time_mlp_out(c))
            return action_tokens, c
        if state is None:
            raise ValueError("pi0 needs the state input")
        h = self.cfg.action_horizon
        tt = temb[:, None, :].expand(-1, h, -1)
        at = self.action_time_mlp_out(F.silu(self.action_time_mlp_in(torch.cat([action_tokens, tt], dim=-1))))
        st = self.state_proj(to_compute(state, dtype))[:, None, :]
        return torch.cat([st, at], dim=1), None

    def denoise_step(
        self,
        x_t: torch.Tensor,
        time: torch.Tensor,
        state: Optional[torch.Tensor],
        kv_keys: torch.Tensor,
        kv_values: torch.Tensor,
        prefix_mask: torch.Tensor,
    ) -> torch.Tensor:
        """One evaluation of the velocity field v(x_t, t) given the prefix KV cache (float32 at the graph boundary)."""
        suffix, cond = self.embed_suffix(state, x_t, time)
        kv_keys, kv_values = to_compute(kv_keys, suffix.dtype), to_compute(kv_values, suffix.dtype)
        b, s, _ = suffix.shape
        suffix_mask = torch.ones(b, s, dtype=torch.bool, device=suffix.device)
        suffix_att = make_attn_mask(suffix_mask, self.suffix_ar_mask().to(suffix.device))
        prefix_att = prefix_mask[:, None, :].expand(-1, s, -1)
        full_att = torch.cat([prefix_att, suffix_att], dim=2)
        pos = torch.sum(prefix_mask.to(torch.int64), dim=1, keepdim=True) + positions_from_mask(suffix_mask)
        lm = self._pg.language_model
        xs: List[Optional[torch.Tensor]] = [None, suffix]
        for li in range(self.cfg.expert.depth):
            xs, _ = joint_layer_forward(
                [lm.layers[li], self._expert.layers[li]],
                [self.cfg.llm, self.cfg.expert],
                xs,
                [None, cond],
                pos,
                full_att,
                (kv_keys[li], kv_values[li]),
            )
        out, _ = self._expert.norm(xs[1], cond)
        return self.action_out_proj(out[:, -self.cfg.action_horizon :])

    # -- reference sampler (openpi sample_actions)

    @torch.no_grad()
    def sample_actions(
        self,
        images: List[torch.Tensor],
        image_mask: torch.Tensor,
        tokens: torch.Tensor,
        token_mask: torch.Tensor,
        state: Optional[torch.Tensor],
        noise: torch.Tensor,
        num_steps: int = 10,
    ) -> torch.Tensor:
        kk, vv, pm = self.prefix_kv(images, image_mask, tokens, token_mask)
        dt = torch.tensor(-1.0 / num_steps, dtype=torch.float32)
        t = torch.tensor(1.0, dtype=torch.float32)
        x = noise
        while t >= -dt / 2:
            v = self.denoise_step(x, t.expand(x.shape[0]), state if not self.cfg.pi05 else None, kk, vv, pm)
            x = x + dt * v
            t = t + dt
        return x

    @torch.no_grad()
    def joint_velocity(
        self,
        images: List[torch.Tensor],
        image_mask: torch.Tensor,
        tokens: torch.Tensor,
        token_mask: torch.Tensor,
        state: Optional[torch.Tensor],
        x_t: torch.Tensor,
        time: torch.Tensor,
    ) -> torch.Tensor:
        """v(x_t, t) from one joint pass over prefix+suffix without a cache (openpi's training-time forward).
        Used by the tests to check the cached path."""
        prefix, pmask = self.embed_prefix(images, image_mask, tokens, token_mask)
        suffix, cond = self.embed_suffix(state, x_t, time)
        b, s, _ = suffix.shape
        smask = torch.ones(b, s, dtype=torch.bool)
        mask = torch.cat([pmask, smask], dim=1)
        ar = torch.cat([torch.zeros(pmask.shape[1], dtype=torch.int64), self.suffix_ar_mask()])
        att = make_attn_mask(mask, ar)
        pos = positions_from_mask(mask)
        lm = self._pg.language_model
        xs: List[Optional[torch.Tensor]] = [prefix, suffix]
        for li in range(self.cfg.llm.depth):
            xs, _ = joint_layer_forward(
                [lm.layers[li], self._expert.layers[li]], [self.cfg.llm, self.cfg.expert], xs, [None, cond], pos, att, None
            )
        out, _ = self._expert.norm(xs[1], cond)
        return self.action_out_proj(out[:, -self.cfg.action_horizon :])


def init_random(model: Pi0Model, seed: int) -> None:
    """Deterministic random weights with sensible scales (normal, std 1/sqrt(fan_in); norms near their identity)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in sorted(model.named_parameters()):
            if name.endswith("layernorm.weight") or name.endswith("norm.weight") or "layer_norm" in name:
                if isinstance(p, nn.Parameter) and ("layer_norm" in name or "post_layernorm" in name):
                    # LayerNorm: weight ~ 1, bias ~ 0
                    base = 1.0 if name.endswith("weight") else 0.0
                    p.copy_(base + 0.05 * torch.randn(p.shape, generator=g))
                else:
                    p.copy_(0.1 * torch.randn(p.shape, generator=g))
            elif name.endswith("bias"):
                p.copy_(0.02 * torch.randn(p.shape, generator=g))
            elif name.endswith("embed_tokens.weight") or name.endswith("position_embedding.weight"):
                p.copy_(0.02 * torch.randn(p.shape, generator=g) * (1.0 if "position" in name else 1.0 / math.sqrt(p.shape[1]) * 10))
            else:
                fan_in = p[0].numel() if p.dim() > 1 else p.shape[0]
                p.copy_(torch.randn(p.shape, generator=g) / math.sqrt(fan_in))
