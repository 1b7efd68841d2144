"""Writes a model bundle directory (docs/bundle-format.md): graphs, manifest, norm stats, tokenizer, golden file."""

from __future__ import annotations

import base64
import json
import os
import shutil
from typing import Any, Callable, Dict, Optional

import numpy as np
import torch

from . import __version__
from .config import IMAGE_SLOTS, ModelConfig
from .export_onnx import OPSET, export_model
from .model import Pi0Model
from . import transforms as T

FORMAT_VERSION = 1
GOLDEN_FORMAT = "openpi-edge-golden/1"


def encode_array(a: np.ndarray) -> Dict[str, Any]:
    """JSON form of an array: flat row-major `data` (floats exact for float32), or base64 for uint8."""
    a = np.asarray(a)
    if a.dtype == np.uint8:
        return {"dtype": "uint8", "shape": list(a.shape), "base64": base64.b64encode(np.ascontiguousarray(a).tobytes()).decode()}
    if a.dtype == np.bool_:
        return {"dtype": "bool", "shape": list(a.shape), "data": [int(v) for v in a.reshape(-1)]}
    if np.issubdtype(a.dtype, np.integer):
        return {"dtype": str(a.dtype), "shape": list(a.shape), "data": [int(v) for v in a.reshape(-1)]}
    dt = "float64" if a.dtype == np.float64 else "float32"
    return {"dtype": dt, "shape": list(a.shape), "data": [float(v) for v in a.astype(dt).reshape(-1)]}


def decode_array(d: Dict[str, Any]) -> np.ndarray:
    if "base64" in d:
        return np.frombuffer(base64.b64decode(d["base64"]), dtype=np.uint8).reshape(d["shape"])
    dt = {"bool": np.bool_}.get(d["dtype"], d["dtype"])
    return np.asarray(d["data"], dtype=dt).reshape(d["shape"])


def make_golden(
    model: Pi0Model,
    *,
    robot_kind: str,
    robot_opts: Dict[str, Any],
    obs: Dict[str, Any],
    norm_stats: Dict[str, Any],
    mode: str,
    sp: Any,
    default_prompt: Optional[str],
    seed: int,
    num_steps: int = 10,
    rtc: bool = False,
) -> Dict[str, Any]:
    """The golden file (docs/bundle-format.md); with rtc, also its `rtc` section (rtc_export.rtc_golden)."""
    cfg = model.cfg
    inputs, raw_state, text = T.model_inputs(
        robot_kind,
        robot_opts,
        obs,
        norm_stats,
        mode,
        sp,
        max_len=cfg.max_token_len,
        action_dim=cfg.action_dim,
        discrete_state=cfg.discrete_state_input,
        default_prompt=default_prompt,
        slots=IMAGE_SLOTS,
    )
    g = torch.Generator().manual_seed(seed + 1)
    noise = torch.randn(1, cfg.action_horizon, cfg.action_dim, generator=g)
    imgs = [torch.from_numpy(np.ascontiguousarray(inputs[s])) for s in IMAGE_SLOTS]
    im = torch.from_numpy(inputs["image_mask"])
    tok = torch.from_numpy(inputs["tokenized_prompt"])
    tm = torch.from_numpy(inputs["tokenized_prompt_mask"])
    st = torch.from_numpy(inputs["state"])
    with torch.no_grad():
        kk, vv, pm = model.prefix_kv(imgs, im, tok, tm)
        v0 = model.denoise_step(noise, torch.ones(1), None if cfg.pi05 else st, kk, vv, pm)
        acts = model.sample_actions(imgs, im, tok, tm, st, noise, num_steps=num_steps)
    model_actions = acts.numpy()
    un = T.unnormalize(model_actions[0], norm_stats["actions"], mode)
    final = T.robot_outputs(robot_kind, robot_opts, un, raw_state)
    if "state" in obs:  # ALOHA layout: state, images {camera: CHW}, prompt
        raw = {"state": encode_array(np.asarray(obs["state"], dtype=np.float32))}
        if "images" in obs:
            raw["images"] = {k: encode_array(v) for k, v in obs["images"].items()}
        if "prompt" in obs:
            raw["prompt"] = obs["prompt"]
    else:  # flat layouts (LIBERO, DROID, UR5): every key as given, so the golden replays through the same adapter
        raw = {k: v if isinstance(v, str) else encode_array(np.asarray(v)) for k, v in obs.items()}
    extra: Dict[str, Any] = {}
    if rtc:
        from .rtc_export import rtc_golden

        extra["rtc"] = rtc_golden(
            model, (kk, vv, pm), None if cfg.pi05 else st, noise, valid_dims=int(final.shape[1]), seed=seed, num_steps=num_steps
        )
    return {
        **extra,
        "format": GOLDEN_FORMAT,
        "num_steps": num_steps,
        "raw_observation": raw,
        "model_inputs": {k: encode_array(v) for k, v in inputs.items()},
        "prompt_text": text,
        "noise": encode_array(noise.numpy()),
        "v_t_first": encode_array(v0.numpy()),
        "model_actions": encode_array(model_actions),
        "actions": encode_array(final),
        "tolerance": {"model_atol": 1e-4, "actions_atol": 1e-3},
    }


def write_bundle(
    model: Pi0Model,
    out_dir: str,
    *,
    norm_stats: Dict[str, Any],
    tokenizer_path: str,
    robot_kind: str,
    robot_opts: Dict[str, Any],
    default_prompt: Optional[str],
    metadata: Dict[str, Any],
    provenance: Dict[str, Any],
    golden_obs: Optional[Dict[str, Any]],
    seed: int,
    num_steps: int = 10,
    fp16: bool = False,
    rtc_guidance: bool = True,
    log: Callable[[str], None] = print,
) -> Dict[str, Any]:
    """Exports everything into out_dir (created; existing bundle files are overwritten). Returns the manifest."""
    import onnx
    import sentencepiece as spm

    cfg: ModelConfig = model.cfg
    os.makedirs(out_dir, exist_ok=True)
    mode = "quantile" if cfg.pi05 else "zscore"
    for key in ("state", "actions"):
        if key not in norm_stats:
            raise ValueError(f"norm stats lack {key!r} (keys: {sorted(norm_stats)})")
        if mode == "quantile" and (norm_stats[key].get("q01") is None or norm_stats[key].get("q99") is None):
            raise ValueError(f"quantile normalization (pi05) needs q01/q99 for {key!r}")
    graphs = export_model(model, out_dir, rtc_guidance=rtc_guidance, log=log)
    if fp16:
        from .fp16 import convert_file_to_fp16

        for name, g in graphs.items():
            if name == "guidance":
                # The fp16 pass needs model.py's explicit island casts; make_fx drops the ones that are no-ops in
                # the float32 trace, so the VJP graph stays float32 (docs/rtc.md).
                continue
            log(f"converting {name} graph to fp16 ...")
            g["external_data"] = convert_file_to_fp16(os.path.join(out_dir, g["file"]))
            g["precision"] = "float16"
    with open(os.path.join(out_dir, "norm_stats.json"), "w") as f:
        json.dump({"norm_stats": norm_stats}, f, indent=2)
    tok_dst = os.path.join(out_dir, "tokenizer.model")
    if os.path.abspath(tokenizer_path) != os.path.abspath(tok_dst):
        shutil.copyfile(tokenizer_path, tok_dst)
    sp = spm.SentencePieceProcessor()
    sp.Load(tok_dst)
    if sp.GetPieceSize() > cfg.vocab_size:
        raise ValueError(f"tokenizer has {sp.GetPieceSize()} pieces but the model's vocabulary is {cfg.vocab_size}")
    golden = None
    if golden_obs is not None:
        log("computing golden outputs ...")
        gd = make_golden(
            model,
            robot_kind=robot_kind,
            robot_opts=robot_opts,
            obs=golden_obs,
            norm_stats=norm_stats,
            mode=mode,
            sp=sp,
            default_prompt=default_prompt,
            seed=seed,
            num_steps=num_steps,
            rtc=rtc_guidance,
        )
        if fp16:
            gd["tolerance"] = {"model_atol": 5e-2, "actions_atol": 5e-2}
        with open(os.path.join(out_dir, "golden.json"), "w") as f:
            json.dump(gd, f)
        golden = {"file": "golden.json", "atol": gd["tolerance"]["model_atol"]}
    manifest = {
        "format_version": FORMAT_VERSION,
        "model_type": cfg.model_type,
        "action_dim": cfg.action_dim,
        "action_horizon": cfg.action_horizon,
        "max_token_len": cfg.max_token_len,
        "num_steps": num_steps,
        "discrete_state_input": cfg.discrete_state_input,
        "state_input": cfg.state_input,
        "images": {
            "slots": list(IMAGE_SLOTS),
            "height": cfg.vision.image_size,
            "width": cfg.vision.image_size,
            "dtype": "uint8",
            "layout": "NHWC",
            "value_range": [0, 255],
        },
        "graphs": graphs,
        "kv_cache": {
            "num_layers": cfg.llm.depth,
            "num_kv_heads": cfg.llm.num_kv_heads,
            "head_dim": cfg.llm.head_dim,
            "prefix_len": cfg.prefix_len,
            "layout": "layer,batch,kv_head,position,head_dim",
            "dtype": "float32",
        },
        "normalization": {"mode": mode, "stats_file": "norm_stats.json"},
        "tokenizer": {
            "file": "tokenizer.model",
            "kind": "sentencepiece",
            "vocab_size": sp.GetPieceSize(),
            "bos_id": sp.bos_id(),
            "eos_id": sp.eos_id(),
            "pad_id": 0,
            "prompt_format": "pi05" if cfg.discrete_state_input else "pi0",
        },
        "robot": {"kind": robot_kind, "options": robot_opts},
        "default_prompt": default_prompt,
        "metadata": metadata,
        "golden": golden,
        "model_config": cfg.to_json(),
        "provenance": {
            "exporter": "openpi_edge_export",
            "exporter_version": __version__,
            "seed": seed,
            "torch_version": torch.__version__,
            "onnx_version": onnx.__version__,
            "opset": OPSET,
            **provenance,
        },
    }
    with open(os.path.join(out_dir, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=2)
        f.write("\n")
    log(f"bundle written to {out_dir}")
    return manifest
