"""LoRA fine-tunes (openpi `models/lora.py`): the low-rank leaves of a JAX param tree merged into the base weights.

openpi's LoRA configs (`gemma_2b_lora`, `gemma_300m_lora`, e.g. `pi0_libero_low_mem_finetune`) save, per Gemma
stack, beside each attention einsum's `w` a `lora_a` / `lora_b` pair, and beside the feed-forward's `gating_einsum`
and `linear` the leaves `gating_einsum_lora_a/_b` and `linear_lora_a/_b`. openpi applies them as

- attention (`lora.Einsum`): `einsum(eqn, x, w) + scaling * einsum(eqn_b, einsum(eqn_a, x, lora_a), lora_b)`, with
  `eqn_a` / `eqn_b` made from the layer's equation by putting the rank label where `w` has its out axis (for a)
  or its in axis (for b) — the last two axes of `w`. For q/kv/qkv that is a per-head product, merged
  `w + s * lora_a @ lora_b` batched over the layer and head axes; for `attn_vec_einsum` (`BTNH,NHD->BTD`, the heads
  contracted) the second einsum `BTL,NLD->BTD` also sums `lora_b` over the heads, so the merged weight is
  `w[n] + s * lora_a[n] @ sum_m lora_b[m]`. The merge equations below are derived from openpi's equations by
  that rule (`lora_merge_equation`).
- feed-forward (`lora.FeedForward._dot`): `x @ w + (x @ a) @ b` with **no** scaling factor, so merged `w + a @ b`
  (per gate for `gating_einsum`, which stacks gate and up).

`scaling = alpha / rank` (`alpha / sqrt(rank)` with rslora). It is not stored in the checkpoint: it comes from the
openpi config's Gemma variant when openpi is importable, else from `--lora-alpha` / `--lora-rank` / `--lora-rslora`,
by default alpha = rank (scaling 1, as in both shipped variants). The rank is read from the leaf shapes; a given
rank that disagrees with them is an error naming the leaf.
"""

from __future__ import annotations

import dataclasses
import math
import re
from typing import Any, Callable, Dict, List, Optional, Tuple

import numpy as np

from .weights import CheckpointError, clean_jax_key

LLM_ROOT = "PaliGemma/llm/layers/"
# Gemma stacks of the two-expert transformer: openpi names expert i's modules `name` (i = 0) or `name_i`.
STACKS: Dict[str, str] = {"llm": "", "expert": "_1"}
# The attention einsums of openpi's gemma.py (digits of the stacking axes written as letters for numpy).
ATTN_EINSUMS: Dict[str, str] = {
    "qkv_einsum": "BSD,CKDH->CBSKH",
    "q_einsum": "BTD,NDH->BTNH",
    "kv_einsum": "BSD,CKDH->CBSKH",
    "attn_vec_einsum": "BTNH,NHD->BTD",
}
FFN_WEIGHTS = ("gating_einsum", "linear")
RANK_LABEL = "L"
LAYER_LABEL = "Z"

_ATTN_RE = re.compile(r"^PaliGemma/llm/layers/attn/(?P<name>[a-z_]+?)(?P<sfx>_\d+)?/lora_(?P<ab>a|b)$")
_FFN_RE = re.compile(r"^PaliGemma/llm/layers/mlp(?P<sfx>_\d+)?/(?P<name>[a-z_]+?)_lora_(?P<ab>a|b)$")


@dataclasses.dataclass(frozen=True)
class LoraSpec:
    """What sets one stack's scaling. None fields: alpha = rank (scaling 1), rank from the leaf shapes."""

    alpha: Optional[float] = None
    rank: Optional[int] = None
    rslora: bool = False
    # The rank openpi's "ffn" LoRAConfig declares (checked against the feed-forward leaves; no scaling there).
    ffn_rank: Optional[int] = None
    source: str = "default (alpha = rank)"


def scaling_value(alpha: float, rank: int, rslora: bool) -> float:
    """openpi `LoRAConfig.scaling_value`."""
    return alpha / math.sqrt(rank) if rslora else alpha / rank


def is_lora_leaf(path: str) -> bool:
    return "lora" in clean_jax_key(path).rsplit("/", 1)[-1]


def has_lora_leaves(flat: Dict[str, Any]) -> bool:
    return any(is_lora_leaf(k) for k in flat)


def lora_merge_equation(eqn: str) -> str:
    """The equation of the merged weight's low-rank term, `einsum(merge_eqn, lora_a, lora_b)`, for a layer computing
    `einsum(eqn, x, w)` with LoRA on the last two axes of w, following openpi's `Einsum._make_lora_eqns`:
    a = rhs with the out label -> L, b = rhs with the in label -> L, LoRA(x) = einsum(b_eqn, einsum(a_eqn, x, a), b).
    A label of b absent from the first einsum's output is summed over b alone, so it gets a fresh name here."""
    m = re.match(r"^(\w+),(\w+)->(\w+)$", eqn)
    if not m or RANK_LABEL in eqn:
        raise ValueError(f"unsupported einsum equation {eqn!r}")
    lhs, rhs, out = m.groups()
    in_label, out_label = rhs[-2], rhs[-1]
    a_rhs = rhs.replace(out_label, RANK_LABEL)
    a_out = out.replace(out_label, RANK_LABEL)
    b_rhs = rhs.replace(in_label, RANK_LABEL)
    for c in a_rhs:
        if c not in lhs and c not in a_out:
            raise ValueError(f"{eqn}: label {c} of lora_a is summed on its own (not supported)")
    fresh = iter(c for c in "MPQRUVWXY" if c not in eqn)
    b_idx = "".join(c if c == RANK_LABEL or c in a_out or c in out else next(fresh) for c in b_rhs)
    return f"{a_rhs},{b_idx}->{rhs}"


@dataclasses.dataclass
class _Pair:
    kind: str  # "attn" | "ffn"
    stack: str
    base: str  # path of the base weight
    a: Optional[str] = None
    b: Optional[str] = None


def _find_pairs(src: Dict[str, np.ndarray]) -> Tuple[List[_Pair], List[str]]:
    """Groups the LoRA leaves by base weight. Returns (pairs, unknown leaves with shapes)."""
    pairs: Dict[str, _Pair] = {}
    unknown: List[str] = []
    sfx_to_stack = {v: k for k, v in STACKS.items()}
    for path in sorted(src):
        if not is_lora_leaf(path):
            continue
        m = _ATTN_RE.match(path)
        kind = "attn"
        if m is None or m.group("name") not in ATTN_EINSUMS:
            m = _FFN_RE.match(path)
            kind = "ffn"
            if m is not None and m.group("name") not in FFN_WEIGHTS:
                m = None
        stack = sfx_to_stack.get(m.group("sfx") or "") if m is not None else None
        if m is None or stack is None:
            unknown.append(f"{path} {list(src[path].shape)}")
            continue
        sfx = m.group("sfx") or ""
        base = (f"{LLM_ROOT}attn/{m.group('name')}{sfx}/w" if kind == "attn" else f"{LLM_ROOT}mlp{sfx}/{m.group('name')}")
        p = pairs.setdefault(base, _Pair(kind, stack, base))
        setattr(p, m.group("ab"), path)
    return [pairs[k] for k in sorted(pairs)], unknown


def _attn_name(base: str) -> str:
    name = base.split("/")[-2]
    return re.sub(r"_\d+$", "", name)


def _expected_ndim(p: _Pair) -> int:
    """Axes of the base weight: the stacked layer axis (nn.scan) first, then openpi's own (its einsum's rhs)."""
    if p.kind == "attn":
        return 1 + len(ATTN_EINSUMS[_attn_name(p.base)].split(",")[1].split("->")[0])
    return 4 if p.base.endswith("gating_einsum") else 3  # [L, 2, D, F] / [L, F, D]


def merge_lora(
    flat: Dict[str, np.ndarray],
    specs: Dict[str, LoraSpec],
    log: Callable[[str], None] = print,
) -> Tuple[Dict[str, np.ndarray], Dict[str, Any]]:
    """Merges every LoRA pair into its base weight (module comment: the rules). `specs` per stack ("llm",
    "expert"; a stack without a spec gets LoraSpec()). Returns the param tree without LoRA leaves (keys cleaned like
    weights.jax_to_torch does) and a report per stack: ranks, alpha, rslora, scaling and the merged weights.
    Raises CheckpointError naming unknown LoRA leaves, lone halves, wrong shapes and ranks that disagree."""
    src = {clean_jax_key(k): v for k, v in flat.items()}
    pairs, unknown = _find_pairs(src)
    missing: List[str] = []
    mismatched: List[str] = []
    ranks: Dict[Tuple[str, str], Dict[int, List[str]]] = {}
    for p in pairs:
        if p.base not in src:
            missing.append(f"{p.base} (base weight of {p.a or p.b})")
        if p.a is None or p.b is None:
            other = p.a or p.b
            assert other is not None
            missing.append(f"{other[:-1]}{'a' if p.a is None else 'b'} (pairs with {other})")
        if p.base not in src or p.a is None or p.b is None:
            continue
        w, a, b = src[p.base].shape, src[p.a].shape, src[p.b].shape
        ndim = _expected_ndim(p)
        r = a[-1] if len(a) == len(w) else -1
        if len(w) != ndim or tuple(a) != tuple(w[:-1]) + (r,) or tuple(b) != tuple(w[:-2]) + (r, w[-1]):
            mismatched.append(
                f"{p.a} {list(a)} / {p.b} {list(b)}: with {p.base} {list(w)} ({ndim} axes: layers first) expected "
                f"lora_a [..., {w[-2] if len(w) > 1 else '?'}, rank] and lora_b [..., rank, {w[-1] if w else '?'}] over the same leading axes"
            )
            continue
        ranks.setdefault((p.stack, p.kind), {}).setdefault(int(r), []).append(p.a)
    for (stack, kind), by_rank in sorted(ranks.items()):
        spec = specs.get(stack, LoraSpec())
        given = spec.rank if kind == "attn" else (spec.ffn_rank if spec.ffn_rank is not None else spec.rank)
        if len(by_rank) > 1:
            mismatched.append(f"{stack} {kind} LoRA leaves of different ranks: " + "; ".join(f"rank {r}: {', '.join(v)}" for r, v in sorted(by_rank.items())))
        elif given is not None and given not in by_rank:
            (r, leaves), = by_rank.items()
            mismatched.append(f"{', '.join(leaves)}: rank {r} in the checkpoint, rank {given} from {spec.source}")
    if unknown or missing or mismatched:
        raise CheckpointError(
            "LoRA leaves do not fit openpi's LoRA layers (attention einsums with lora_a/lora_b beside w; feed-forward "
            "gating_einsum_lora_a/_b, linear_lora_a/_b)",
            missing=missing,
            unexpected=unknown,
            mismatched=mismatched,
        )
    out = {k: v for k, v in src.items() if not is_lora_leaf(k)}
    report: Dict[str, Any] = {}
    for stack in STACKS:
        mine = [p for p in pairs if p.stack == stack]
        if not mine:
            continue
        spec = specs.get(stack, LoraSpec())
        attn_rank = next(iter(ranks.get((stack, "attn"), {0: []})))
        ffn_rank = next(iter(ranks.get((stack, "ffn"), {0: []})))
        rank = attn_rank or ffn_rank
        alpha = float(spec.alpha) if spec.alpha is not None else float(spec.rank or rank)
        s = scaling_value(alpha, spec.rank or rank, spec.rslora)
        for p in mine:
            assert p.a is not None and p.b is not None
            out[p.base] = _merged(src[p.base], src[p.a], src[p.b], s if p.kind == "attn" else 1.0, p)
        entry = {
            "rank": rank,
            "attn_rank": attn_rank or None,
            "ffn_rank": ffn_rank or None,
            "alpha": alpha,
            "rslora": bool(spec.rslora),
            "attn_scaling": s,
            "ffn_scaling": 1.0,
            "scaling_source": spec.source,
            "merged": [p.base for p in mine],
        }
        report[stack] = entry
        log(
            f"LoRA {stack}: merged {len(mine)} weights ({', '.join(p.base[len(LLM_ROOT):] for p in mine)}); rank {rank}, "
            f"alpha {alpha:g}{' rslora' if spec.rslora else ''} -> attention scaling {s:g} ({spec.source}); "
            "feed-forward unscaled (openpi's FeedForward adds (x·a)·b)"
        )
    return out, report


def _merged(w: np.ndarray, a: np.ndarray, b: np.ndarray, scaling: float, p: _Pair) -> np.ndarray:
    """w + scaling * delta, computed per layer (the leading axis) in float32 to bound memory at full size."""
    if p.kind == "attn":
        eqn = lora_merge_equation(ATTN_EINSUMS[_attn_name(p.base)])
        lhs, res = eqn.split("->")
        eqn = ",".join(LAYER_LABEL + t for t in lhs.split(",")) + "->" + LAYER_LABEL + res
        delta: Callable[[np.ndarray, np.ndarray], np.ndarray] = lambda x, y: np.einsum(eqn, x, y, optimize=True)  # noqa: E731
    else:
        delta = np.matmul  # gate/up: [.., 2, D, r] @ [.., 2, r, F]; linear: [.., F, r] @ [.., r, D]
    merged = np.array(w, dtype=np.float32, copy=True)
    a32, b32 = np.asarray(a, dtype=np.float32), np.asarray(b, dtype=np.float32)
    for i in range(merged.shape[0]):
        d = delta(a32[i : i + 1], b32[i : i + 1])
        merged[i : i + 1] += np.float32(scaling) * d.astype(np.float32)
    return merged


# ------------------------------------------------------------------ where the scaling comes from


def openpi_lora_specs(train_config: Any) -> Dict[str, LoraSpec]:
    """Per stack, the LoRAConfigs of the train config's Gemma variants (`openpi.models.gemma.get_config(variant)
    .lora_configs`, keys "attn" / "ffn"). Empty when openpi's gemma module is not importable or no variant has LoRA."""
    try:
        from openpi.models import gemma as _gemma  # type: ignore
    except ImportError:
        return {}
    m = train_config.model
    out: Dict[str, LoraSpec] = {}
    for stack, attr in (("llm", "paligemma_variant"), ("expert", "action_expert_variant")):
        variant = getattr(m, attr, None)
        if not variant:
            continue
        confs = dict(getattr(_gemma.get_config(variant), "lora_configs", None) or {})
        attn, ffn = confs.get("attn"), confs.get("ffn")
        if attn is None and ffn is None:
            continue
        ref = attn if attn is not None else ffn
        out[stack] = LoraSpec(
            alpha=float(ref.alpha),
            rank=int(ref.rank),
            rslora=bool(getattr(ref, "rslora", False)),
            ffn_rank=int(ffn.rank) if ffn is not None else None,
            source=f"openpi's {variant} LoRAConfig",
        )
    return out


def parse_stack_values(values: List[str], flag: str, conv: Callable[[str], Any]) -> Dict[str, Any]:
    """`--flag V` (every stack) or `--flag llm=V --flag expert=V`. Returns {stack or "*": value}."""
    out: Dict[str, Any] = {}
    for v in values:
        stack, sep, val = v.rpartition("=")
        key = stack if sep else "*"
        if key != "*" and key not in STACKS:
            raise ValueError(f"{flag} {v}: unknown stack {stack!r}; expected {' or '.join(STACKS)} (or no prefix: every stack)")
        try:
            out[key] = conv(val)
        except ValueError:
            raise ValueError(f"{flag} {v}: {val!r} is not a number") from None
        if out[key] <= 0:
            raise ValueError(f"{flag} {v}: must be positive")
    return out


def resolve_specs(
    openpi_specs: Dict[str, LoraSpec],
    alphas: Dict[str, float],
    ranks: Dict[str, int],
    rslora: Optional[bool],
    log: Callable[[str], None] = print,
) -> Dict[str, LoraSpec]:
    """Flags over openpi's LoRAConfigs over the default (alpha = rank), field by field, each override logged."""
    out: Dict[str, LoraSpec] = {}
    for stack in STACKS:
        base = openpi_specs.get(stack, LoraSpec())
        changes: Dict[str, Any] = {}
        flags: List[str] = []
        alpha = alphas.get(stack, alphas.get("*"))
        rank = ranks.get(stack, ranks.get("*"))
        if alpha is not None:
            changes["alpha"] = float(alpha)
            flags.append(f"--lora-alpha {alpha:g}")
        if rank is not None:
            changes.update(rank=int(rank), ffn_rank=None)
            flags.append(f"--lora-rank {rank}")
        if rslora is not None:
            changes["rslora"] = bool(rslora)
            flags.append("--lora-rslora" if rslora else "--no-lora-rslora")
        if changes:
            if stack in openpi_specs:
                log(f"LoRA {stack}: {', '.join(flags)} over {base.source}")
            changes["source"] = ", ".join(flags) + (f" over {base.source}" if stack in openpi_specs else "")
            base = dataclasses.replace(base, **changes)
        out[stack] = base
    return out
