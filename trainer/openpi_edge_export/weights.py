"""Checkpoint readers: openpi PyTorch (model.safetensors), openpi JAX (flat .npz of the param tree, or orbax through
openpi), with a name-by-name report of missing, unexpected and mis-shaped weights."""

from __future__ import annotations

import json
import os
import re
import struct
from typing import Dict, Iterable, List, Tuple

import numpy as np
import torch

from .config import ModelConfig

P = "paligemma_with_expert.paligemma.model."
E = "paligemma_with_expert.gemma_expert.model."
# Present in openpi's PyTorch checkpoints, unused at inference (HF heads; the expert's has no embedding).
IGNORED_SUFFIXES = ("lm_head.weight",)


class CheckpointError(ValueError):
    """A checkpoint that does not fit the model. `missing`, `unexpected`, `mismatched` list names (and shapes)."""

    def __init__(self, message: str, missing=(), unexpected=(), mismatched=()):  # type: ignore[no-untyped-def]
        self.missing, self.unexpected, self.mismatched = list(missing), list(unexpected), list(mismatched)
        lines = [message]
        for title, items in (("missing", self.missing), ("unexpected", self.unexpected), ("wrong shape", self.mismatched)):
            if items:
                shown = items[:20]
                lines.append(f"  {title} ({len(items)}): " + "; ".join(str(i) for i in shown) + (" ..." if len(items) > 20 else ""))
        super().__init__("\n".join(lines))


# ------------------------------------------------------------------ safetensors (small reader/writer)

_ST_DTYPES = {"F32": np.float32, "F64": np.float64, "F16": np.float16, "I64": np.int64, "I32": np.int32, "U8": np.uint8, "BOOL": np.bool_}


def read_safetensors(path: str) -> Dict[str, np.ndarray]:
    """Reads a .safetensors file into float/int numpy arrays (BF16 widened to float32)."""
    size = os.path.getsize(path)
    with open(path, "rb") as f:
        head = f.read(8)
        if len(head) != 8:
            raise CheckpointError(f"{path}: {size} bytes, too short for a safetensors header")
        (n,) = struct.unpack("<Q", head)
        if n > size - 8:
            raise CheckpointError(f"{path}: header length {n} exceeds file size {size}")
        try:
            header = json.loads(f.read(n))
        except ValueError as e:
            raise CheckpointError(f"{path}: header is not JSON ({e})") from None
        base = 8 + n
        out: Dict[str, np.ndarray] = {}
        for name, info in header.items():
            if name == "__metadata__":
                continue
            b, e = info["data_offsets"]
            if base + e > size or b > e:
                raise CheckpointError(f"{path}: tensor {name} data [{b}, {e}) outside the file ({size - base} data bytes)")
            f.seek(base + b)
            raw = f.read(e - b)
            dt = info["dtype"]
            if dt == "BF16":
                arr = (np.frombuffer(raw, dtype=np.uint16).astype(np.uint32) << 16).view(np.float32)
            elif dt in _ST_DTYPES:
                arr = np.frombuffer(raw, dtype=_ST_DTYPES[dt])
            else:
                raise CheckpointError(f"{path}: tensor {name} has unsupported dtype {dt}")
            out[name] = arr.reshape(info["shape"]).copy()
    return out


def write_safetensors(path: str, tensors: Dict[str, np.ndarray]) -> None:
    """Writes float32/other numpy arrays as safetensors (used for tests and conversions)."""
    rev = {v: k for k, v in _ST_DTYPES.items()}
    header, blobs, off = {}, [], 0
    for name in sorted(tensors):
        a = np.ascontiguousarray(tensors[name])
        b = a.tobytes()
        header[name] = {"dtype": rev[a.dtype.type], "shape": list(a.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    h = json.dumps(header).encode()
    h += b" " * ((-len(h)) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


# ------------------------------------------------------------------ JAX param tree <-> our (openpi PyTorch) names


def clean_jax_key(k: str) -> str:
    """A flattened JAX path without the `params` root and the trailing `value` of training-saved trees."""
    parts = k.replace(".", "/").split("/")
    if parts and parts[0] == "params":
        parts = parts[1:]
    if parts and parts[-1] == "value":
        parts = parts[:-1]
    return "/".join(parts)


_clean_jax_key = clean_jax_key


def jax_to_torch(flat: Dict[str, np.ndarray], cfg: ModelConfig) -> Dict[str, np.ndarray]:
    """Maps a flattened openpi JAX param tree (paths of reference §5.4) to openpi PyTorch key names.
    Raises CheckpointError naming every expected JAX path that is absent, every stacked (per-layer) array whose
    layer count or number of axes differs from the model's, and every unexpected path."""
    src = {clean_jax_key(k): np.asarray(v) for k, v in flat.items()}
    used: set = set()
    missing: List[str] = []
    mismatched: List[str] = []
    # stack root -> {layer count in the checkpoint: paths}, for the summary line
    counts: Dict[str, Dict[int, List[str]]] = {}
    out: Dict[str, np.ndarray] = {}

    def get(path: str, layers: int = 0, ndim: int = 0):  # type: ignore[no-untyped-def]
        """The array at path; with `layers`, one stacked over that many layers with `ndim` axes (else None and the
        difference recorded by name, so no per-layer index runs past the checkpoint's stack)."""
        if path not in src:
            missing.append(path)
            return None
        used.add(path)
        a = src[path]
        if layers:
            root = path.split("/layers/")[0] + "/layers" if "/layers/" in path else path.split("/encoderblock/")[0] + "/encoderblock"
            n = int(a.shape[0]) if a.ndim else 0
            seen = counts.setdefault(root, {}).setdefault(n, [])
            if path in seen:  # asked twice (SigLIP's out bias)
                return a.astype(np.float32) if a.ndim == ndim and n == layers else None
            seen.append(path)
            if a.ndim != ndim:
                mismatched.append(f"{path} {list(a.shape)}: {a.ndim} axes, expected {ndim} (layer axis first)")
                return None
            if n != layers:
                extra = range(layers, n) if n > layers else range(n, layers)
                which = f"layer{'s' if len(extra) > 1 else ''} {_ranges(extra)} {'unexpected' if n > layers else 'missing'}"
                mismatched.append(f"{path} {list(a.shape)}: {n} layers, the model has {layers} ({which})")
                return None
        return a.astype(np.float32)

    def put(key: str, val, fn=lambda a: a):  # type: ignore[no-untyped-def]
        if val is not None:
            out[key] = np.ascontiguousarray(fn(val))

    vc = cfg.vision
    img = "PaliGemma/img/"
    put(P + "vision_tower.vision_model.embeddings.patch_embedding.weight", get(img + "embedding/kernel"), lambda a: a.transpose(3, 2, 0, 1))
    put(P + "vision_tower.vision_model.embeddings.patch_embedding.bias", get(img + "embedding/bias"))
    put(P + "vision_tower.vision_model.embeddings.position_embedding.weight", get(img + "pos_embedding"), lambda a: a.reshape(a.shape[-2], a.shape[-1]))
    blk = img + "Transformer/encoderblock/"
    stacked = {
        "layer_norm1.weight": (blk + "LayerNorm_0/scale", None),
        "layer_norm1.bias": (blk + "LayerNorm_0/bias", None),
        "layer_norm2.weight": (blk + "LayerNorm_1/scale", None),
        "layer_norm2.bias": (blk + "LayerNorm_1/bias", None),
        "mlp.fc1.weight": (blk + "MlpBlock_0/Dense_0/kernel", "T"),
        "mlp.fc1.bias": (blk + "MlpBlock_0/Dense_0/bias", None),
        "mlp.fc2.weight": (blk + "MlpBlock_0/Dense_1/kernel", "T"),
        "mlp.fc2.bias": (blk + "MlpBlock_0/Dense_1/bias", None),
        "self_attn.out_proj.bias": (blk + "MultiHeadDotProductAttention_0/out/bias", None),
    }
    vd = vc.depth
    loaded = {k: get(p, vd, 3 if how == "T" else 2) for k, (p, how) in stacked.items()}
    att = {
        n: (get(blk + f"MultiHeadDotProductAttention_0/{n}/kernel", vd, 4), get(blk + f"MultiHeadDotProductAttention_0/{n}/bias", vd, 2 if n == "out" else 3))
        for n in ("query", "key", "value", "out")
    }
    for i in range(vc.depth):
        pre = P + f"vision_tower.vision_model.encoder.layers.{i}."
        for k, (_, how) in stacked.items():
            put(pre + k, loaded[k], lambda a, how=how: a[i].T if how == "T" else a[i])
        for n, hf in (("query", "q_proj"), ("key", "k_proj"), ("value", "v_proj")):
            kern, bias = att[n]
            put(pre + f"self_attn.{hf}.weight", kern, lambda a: a[i].reshape(a.shape[1], -1).T)  # [w, h, hd] -> [h*hd, w]
            put(pre + f"self_attn.{hf}.bias", bias, lambda a: a[i].reshape(-1))
        put(pre + "self_attn.out_proj.weight", att["out"][0], lambda a: a[i].reshape(-1, a.shape[-1]).T)  # [h, hd, w]
    put(P + "vision_tower.vision_model.post_layernorm.weight", get(img + "Transformer/encoder_norm/scale"))
    put(P + "vision_tower.vision_model.post_layernorm.bias", get(img + "Transformer/encoder_norm/bias"))
    put(P + "multi_modal_projector.linear.weight", get(img + "head/kernel"), lambda a: a.T)
    put(P + "multi_modal_projector.linear.bias", get(img + "head/bias"))

    llm = "PaliGemma/llm/"
    put(P + "language_model.embed_tokens.weight", get(llm + "embedder/input_embedding"))
    for sfx, gcfg, dst, ada in (("", cfg.llm, P + "language_model.", False), ("_1", cfg.expert, E, cfg.pi05)):
        d = gcfg.depth
        q = get(llm + f"layers/attn/q_einsum{sfx}/w", d, 4)
        kv = get(llm + f"layers/attn/kv_einsum{sfx}/w", d, 5)
        o = get(llm + f"layers/attn/attn_vec_einsum{sfx}/w", d, 4)
        gate = get(llm + f"layers/mlp{sfx}/gating_einsum", d, 4)
        lin = get(llm + f"layers/mlp{sfx}/linear", d, 3)
        norms = {}
        for jn, hf in (("pre_attention_norm", "input_layernorm"), ("pre_ffw_norm", "post_attention_layernorm")):
            if ada:
                norms[hf] = (get(llm + f"layers/{jn}{sfx}/Dense_0/kernel", d, 3), get(llm + f"layers/{jn}{sfx}/Dense_0/bias", d, 2))
            else:
                norms[hf] = (get(llm + f"layers/{jn}{sfx}/scale", d, 2), None)
        for i in range(gcfg.depth):
            pre = dst + f"layers.{i}."
            put(pre + "self_attn.q_proj.weight", q, lambda a: a[i].transpose(1, 0, 2).reshape(a.shape[2], -1).T)
            put(pre + "self_attn.k_proj.weight", kv, lambda a: a[i, 0].transpose(1, 0, 2).reshape(a.shape[3], -1).T)
            put(pre + "self_attn.v_proj.weight", kv, lambda a: a[i, 1].transpose(1, 0, 2).reshape(a.shape[3], -1).T)
            put(pre + "self_attn.o_proj.weight", o, lambda a: a[i].reshape(-1, a.shape[-1]).T)
            put(pre + "mlp.gate_proj.weight", gate, lambda a: a[i, 0].T)
            put(pre + "mlp.up_proj.weight", gate, lambda a: a[i, 1].T)
            put(pre + "mlp.down_proj.weight", lin, lambda a: a[i].T)
            for hf, (w, b) in norms.items():
                if ada:
                    put(pre + f"{hf}.dense.weight", w, lambda a: a[i].T)
                    put(pre + f"{hf}.dense.bias", b, lambda a: a[i])
                else:
                    put(pre + f"{hf}.weight", w, lambda a: a[i])
        if ada:
            put(dst + "norm.dense.weight", get(llm + f"final_norm{sfx}/Dense_0/kernel"), lambda a: a.T)
            put(dst + "norm.dense.bias", get(llm + f"final_norm{sfx}/Dense_0/bias"))
        else:
            put(dst + "norm.weight", get(llm + f"final_norm{sfx}/scale"))
    tops = ["action_in_proj", "action_out_proj"] + (["time_mlp_in", "time_mlp_out"] if cfg.pi05 else ["state_proj", "action_time_mlp_in", "action_time_mlp_out"])
    for t in tops:
        put(f"{t}.weight", get(f"{t}/kernel"), lambda a: a.T)
        put(f"{t}.bias", get(f"{t}/bias"))
    unexpected = sorted(set(src) - used)
    if missing or unexpected or mismatched:
        message = f"JAX params do not match a {cfg.model_type} model (expected paths of openpi's param tree)"
        depths = {"PaliGemma/img/Transformer/encoderblock": vc.depth, "PaliGemma/llm/layers": cfg.llm.depth}
        for root, by_n in sorted(counts.items()):
            want = depths.get(root, cfg.llm.depth)
            if set(by_n) != {want}:
                message += f"\n  layer counts under {root}: " + ", ".join(f"{n} ({len(p)} arrays)" for n, p in sorted(by_n.items())) + f"; the model has {want}"
        if any("lora" in k.rsplit("/", 1)[-1] for k in unexpected):
            message += "\n  (LoRA leaves: `export` merges them into the base weights; see openpi_edge_export.lora)"
        raise CheckpointError(message, missing=list(dict.fromkeys(missing)), unexpected=[f"{k} {list(src[k].shape)}" for k in unexpected], mismatched=mismatched)
    return out


def _ranges(idx: Iterable[int]) -> str:
    """[2, 3, 4, 7] -> '2-4, 7'."""
    runs: List[List[int]] = []
    for i in idx:
        if runs and runs[-1][1] == i - 1:
            runs[-1][1] = i
        else:
            runs.append([i, i])
    return ", ".join(str(a) if a == b else f"{a}-{b}" for a, b in runs)


def torch_to_jax(sd: Dict[str, np.ndarray], cfg: ModelConfig) -> Dict[str, np.ndarray]:
    """Inverse of jax_to_torch (builds openpi-layout JAX trees for tests and conversions)."""
    out: Dict[str, np.ndarray] = {}
    vc = cfg.vision
    img = "PaliGemma/img/"
    vm = P + "vision_tower.vision_model."
    out[img + "embedding/kernel"] = sd[vm + "embeddings.patch_embedding.weight"].transpose(2, 3, 1, 0)
    out[img + "embedding/bias"] = sd[vm + "embeddings.patch_embedding.bias"]
    out[img + "pos_embedding"] = sd[vm + "embeddings.position_embedding.weight"][None]
    blk = img + "Transformer/encoderblock/"
    L = [vm + f"encoder.layers.{i}." for i in range(vc.depth)]
    st = lambda key, fn=lambda a: a: np.stack([fn(sd[p + key]) for p in L])  # noqa: E731
    out[blk + "LayerNorm_0/scale"] = st("layer_norm1.weight")
    out[blk + "LayerNorm_0/bias"] = st("layer_norm1.bias")
    out[blk + "LayerNorm_1/scale"] = st("layer_norm2.weight")
    out[blk + "LayerNorm_1/bias"] = st("layer_norm2.bias")
    out[blk + "MlpBlock_0/Dense_0/kernel"] = st("mlp.fc1.weight", lambda a: a.T)
    out[blk + "MlpBlock_0/Dense_0/bias"] = st("mlp.fc1.bias")
    out[blk + "MlpBlock_0/Dense_1/kernel"] = st("mlp.fc2.weight", lambda a: a.T)
    out[blk + "MlpBlock_0/Dense_1/bias"] = st("mlp.fc2.bias")
    h = vc.num_heads
    for n, hf in (("query", "q_proj"), ("key", "k_proj"), ("value", "v_proj")):
        out[blk + f"MultiHeadDotProductAttention_0/{n}/kernel"] = st(f"self_attn.{hf}.weight", lambda a: a.T.reshape(a.shape[1], h, -1))
        out[blk + f"MultiHeadDotProductAttention_0/{n}/bias"] = st(f"self_attn.{hf}.bias", lambda a: a.reshape(h, -1))
    out[blk + "MultiHeadDotProductAttention_0/out/kernel"] = st("self_attn.out_proj.weight", lambda a: a.T.reshape(h, -1, a.shape[0]))
    out[blk + "MultiHeadDotProductAttention_0/out/bias"] = st("self_attn.out_proj.bias")
    out[img + "Transformer/encoder_norm/scale"] = sd[vm + "post_layernorm.weight"]
    out[img + "Transformer/encoder_norm/bias"] = sd[vm + "post_layernorm.bias"]
    out[img + "head/kernel"] = sd[P + "multi_modal_projector.linear.weight"].T
    out[img + "head/bias"] = sd[P + "multi_modal_projector.linear.bias"]
    llm = "PaliGemma/llm/"
    out[llm + "embedder/input_embedding"] = sd[P + "language_model.embed_tokens.weight"]
    for sfx, g, src, ada in (("", cfg.llm, P + "language_model.", False), ("_1", cfg.expert, E, cfg.pi05)):
        Ls = [src + f"layers.{i}." for i in range(g.depth)]
        s2 = lambda key, fn: np.stack([fn(sd[p + key]) for p in Ls])  # noqa: E731
        out[llm + f"layers/attn/q_einsum{sfx}/w"] = s2("self_attn.q_proj.weight", lambda a: a.T.reshape(g.width, g.num_heads, g.head_dim).transpose(1, 0, 2))
        kk = s2("self_attn.k_proj.weight", lambda a: a.T.reshape(g.width, g.num_kv_heads, g.head_dim).transpose(1, 0, 2))
        vv = s2("self_attn.v_proj.weight", lambda a: a.T.reshape(g.width, g.num_kv_heads, g.head_dim).transpose(1, 0, 2))
        out[llm + f"layers/attn/kv_einsum{sfx}/w"] = np.stack([kk, vv], axis=1)
        out[llm + f"layers/attn/attn_vec_einsum{sfx}/w"] = s2("self_attn.o_proj.weight", lambda a: a.T.reshape(g.num_heads, g.head_dim, g.width))
        out[llm + f"layers/mlp{sfx}/gating_einsum"] = np.stack([s2("mlp.gate_proj.weight", lambda a: a.T), s2("mlp.up_proj.weight", lambda a: a.T)], axis=1)
        out[llm + f"layers/mlp{sfx}/linear"] = s2("mlp.down_proj.weight", lambda a: a.T)
        for jn, hf in (("pre_attention_norm", "input_layernorm"), ("pre_ffw_norm", "post_attention_layernorm")):
            if ada:
                out[llm + f"layers/{jn}{sfx}/Dense_0/kernel"] = s2(f"{hf}.dense.weight", lambda a: a.T)
                out[llm + f"layers/{jn}{sfx}/Dense_0/bias"] = s2(f"{hf}.dense.bias", lambda a: a)
            else:
                out[llm + f"layers/{jn}{sfx}/scale"] = s2(f"{hf}.weight", lambda a: a)
        if ada:
            out[llm + f"final_norm{sfx}/Dense_0/kernel"] = sd[src + "norm.dense.weight"].T
            out[llm + f"final_norm{sfx}/Dense_0/bias"] = sd[src + "norm.dense.bias"]
        else:
            out[llm + f"final_norm{sfx}/scale"] = sd[src + "norm.weight"]
    tops = ["action_in_proj", "action_out_proj"] + (["time_mlp_in", "time_mlp_out"] if cfg.pi05 else ["state_proj", "action_time_mlp_in", "action_time_mlp_out"])
    for t in tops:
        out[f"{t}/kernel"] = sd[f"{t}.weight"].T
        out[f"{t}/bias"] = sd[f"{t}.bias"]
    return {k: np.ascontiguousarray(v) for k, v in out.items()}


# ------------------------------------------------------------------ loading into the model


def load_state(model: torch.nn.Module, tensors: Dict[str, np.ndarray], source: str) -> List[str]:
    """Copies tensors into the model. Every missing, unexpected or mis-shaped name is reported (CheckpointError).
    Returns the names that were deliberately ignored (HF lm_head weights)."""
    own = model.state_dict()
    ignored = sorted(k for k in tensors if k not in own and k.endswith(IGNORED_SUFFIXES))
    missing = sorted(k for k in own if k not in tensors)
    unexpected = sorted(k for k in tensors if k not in own and k not in ignored)
    mismatched = sorted(
        f"{k}: checkpoint {list(tensors[k].shape)} vs model {list(own[k].shape)}"
        for k in own
        if k in tensors and tuple(tensors[k].shape) != tuple(own[k].shape)
    )
    if missing or unexpected or mismatched:
        message = f"{source}: weights do not match the model"
        for root, (have, want) in sorted(_layer_counts(tensors, own).items()):
            if have != want:
                message += f"\n  {root}: {have} layers in the checkpoint, the model has {want}"
        raise CheckpointError(message, missing, unexpected, mismatched)
    with torch.no_grad():
        for k, p in own.items():
            p.copy_(torch.from_numpy(np.asarray(tensors[k], dtype=np.float32)))
    return ignored


def _layer_counts(tensors: Dict[str, np.ndarray], own: Dict[str, torch.Tensor]) -> Dict[str, Tuple[int, int]]:
    """'<prefix>layers' -> (layers in the checkpoint, layers in the model), by the `.layers.<i>.` key names."""
    def count(keys: Iterable[str]) -> Dict[str, int]:
        n: Dict[str, int] = {}
        for k in keys:
            m = re.match(r"^(.*\.layers)\.(\d+)\.", k)
            if m:
                n[m.group(1)] = max(n.get(m.group(1), 0), int(m.group(2)) + 1)
        return n

    have, want = count(tensors), count(own)
    return {r: (have.get(r, 0), want.get(r, 0)) for r in set(have) | set(want)}


def load_pytorch_checkpoint(model: torch.nn.Module, ckpt_dir: str) -> List[str]:
    path = os.path.join(ckpt_dir, "model.safetensors")
    if not os.path.isfile(path):
        raise CheckpointError(f"{ckpt_dir}: no model.safetensors (not an openpi PyTorch checkpoint)")
    return load_state(model, read_safetensors(path), path)


def load_npz(path: str) -> Dict[str, np.ndarray]:
    try:
        with np.load(path, allow_pickle=False) as z:
            return {k: z[k] for k in z.files}
    except (OSError, ValueError) as e:
        raise CheckpointError(f"{path}: not a readable .npz ({e})") from None


def load_jax_npz(model: torch.nn.Module, path: str, cfg: ModelConfig) -> List[str]:
    return load_state(model, jax_to_torch(load_npz(path), cfg), path)


def restore_openpi_params(params_dir: str) -> Dict[str, np.ndarray]:
    """Restores an orbax param tree with openpi's own loader (needs openpi importable) and flattens it with '/'."""
    try:
        from openpi.models import model as _model  # type: ignore
    except ImportError as e:
        raise CheckpointError(
            f"{params_dir}: an orbax JAX checkpoint needs openpi importable ({e}); or dump it once with "
            "`python -m openpi_edge_export dump-jax --checkpoint <dir> --out params.npz` in the training env"
        ) from None
    params = _model.restore_params(params_dir, restore_type=np.ndarray)
    flat: Dict[str, np.ndarray] = {}

    def walk(prefix: str, node) -> None:  # type: ignore[no-untyped-def]
        if isinstance(node, dict):
            for k, v in node.items():
                walk(f"{prefix}/{k}" if prefix else str(k), v)
        else:
            flat[prefix] = np.asarray(node, dtype=np.float32)

    walk("", params)
    return flat


def detect_format(ckpt: str) -> Tuple[str, str]:
    """Returns (format, path): ('pytorch', dir) | ('jax-npz', file) | ('jax-orbax', params dir)."""
    if os.path.isfile(ckpt) and ckpt.endswith(".npz"):
        return "jax-npz", ckpt
    if os.path.isdir(ckpt):
        if os.path.isfile(os.path.join(ckpt, "model.safetensors")):
            return "pytorch", ckpt
        for name in ("params.npz",):
            if os.path.isfile(os.path.join(ckpt, name)):
                return "jax-npz", os.path.join(ckpt, name)
        if os.path.isdir(os.path.join(ckpt, "params")):
            return "jax-orbax", os.path.join(ckpt, "params")
        entries = sorted(os.listdir(ckpt))[:10]
        raise CheckpointError(
            f"{ckpt}: not an openpi checkpoint: expected model.safetensors (PyTorch), params/ (JAX orbax) or "
            f"params.npz; found {entries}"
        )
    raise CheckpointError(f"{ckpt}: no such checkpoint directory or .npz file")

