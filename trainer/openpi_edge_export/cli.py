"""Command line: `python -m openpi_edge_export {export,demo,full-size,dump-jax} ...`."""

from __future__ import annotations

import argparse
import dataclasses
import glob
import json
import os
import sys
import time
from typing import Any, Callable, Dict, List, Optional, Tuple

import numpy as np

from . import model_source as MS
from . import transforms as T
from .config import ModelConfig, full_config


class _Progress:
    def __init__(self) -> None:
        self.t0 = time.time()

    def __call__(self, msg: str) -> None:
        print(f"[{time.time() - self.t0:7.1f}s] {msg}", file=sys.stderr, flush=True)


# ------------------------------------------------------------------ openpi config registry


def resolve_openpi_config(name: str, config_modules: List[str]) -> Any:
    """TrainConfig `name` from openpi's registry, after importing extension modules (openpi_ext/train.py style:
    they merge extra TrainConfigs into openpi's list). Raises ImportError when openpi is not importable, ValueError
    naming the closest registered configs when `name` is not registered."""
    if not MS.openpi_importable():
        raise ImportError("no module named 'openpi'")
    MS.import_config_modules(config_modules)
    tc = MS.find_registered(name, config_modules)
    if tc is None:
        raise ValueError(
            f"train config {name!r} not found in openpi's registry or in {config_modules}; "
            f"closest: {MS.close_names(name, config_modules)}"
        )
    return tc


def describe_train_config(tc: Any) -> Dict[str, Any]:
    """Model sizes, robot adapter, asset id, default prompt and metadata from an openpi TrainConfig."""
    m = tc.model
    mt = str(getattr(m, "model_type", "")).lower()
    if "fast" in mt or type(m).__name__.lower().startswith("pi0fast"):
        raise ValueError(f"{tc.name}: pi0-FAST models are not exportable (autoregressive decoding)")
    pi05 = bool(getattr(m, "pi05", False))
    cfg = full_config(
        pi05=pi05,
        action_dim=int(m.action_dim),
        action_horizon=int(m.action_horizon),
        max_token_len=int(m.max_token_len),
        discrete_state_input=bool(getattr(m, "discrete_state_input", pi05)),
        paligemma_variant=str(getattr(m, "paligemma_variant", "gemma_2b")),
        action_expert_variant=str(getattr(m, "action_expert_variant", "gemma_300m")),
    )
    data = tc.data
    cls = type(data).__name__.lower()
    if "aloha" in cls:
        kind = "aloha"
        opts = T.robot_options("aloha", adapt_to_pi=bool(getattr(data, "adapt_to_pi", True)), delta=bool(getattr(data, "use_delta_joint_actions", True)))
    elif "libero" in cls:
        kind = "libero"
        opts = T.robot_options("libero", delta=bool(getattr(data, "extra_delta_transform", False)))
    elif "droid" in cls:
        kind, opts = "droid", T.robot_options("droid")
    elif "ur5" in cls:
        kind, opts = "ur5", T.robot_options("ur5", delta=True)
    else:
        kind, opts = "none", T.robot_options("none")
    asset_id = MS.openpi_asset_id(data)
    default_prompt = getattr(data, "default_prompt", None)
    metadata = dict(getattr(tc, "policy_metadata", None) or {})
    return {"model": cfg, "robot": kind, "robot_options": opts, "asset_id": asset_id, "default_prompt": default_prompt, "metadata": metadata}


def describe_from_checkpoint(ckpt_dir: str, args: argparse.Namespace, tensors_keys: Optional[List[str]]) -> Dict[str, Any]:
    """Without openpi: sizes from the checkpoint's config.json (openpi PyTorch) plus flags."""
    conf: Dict[str, Any] = {}
    cj = os.path.join(ckpt_dir, "config.json") if os.path.isdir(ckpt_dir) else None
    if cj and os.path.isfile(cj):
        with open(cj) as f:
            conf = json.load(f)
    if args.model_type:
        pi05 = args.model_type == "pi05"
    elif tensors_keys is not None:
        pi05 = any(k.startswith("time_mlp_in") for k in tensors_keys)
    else:
        raise ValueError("cannot tell pi0 from pi05 without openpi: pass --model-type")
    cfg = full_config(
        pi05=pi05,
        action_dim=int(conf.get("action_dim", 32)),
        action_horizon=int(args.action_horizon or conf.get("action_horizon", 50)),
        max_token_len=args.max_token_len,
        discrete_state_input=args.discrete_state,
        paligemma_variant=conf.get("paligemma_variant", "gemma_2b"),
        action_expert_variant=conf.get("action_expert_variant", "gemma_300m"),
    )
    if args.model_config:
        with open(args.model_config) as f:
            cfg = dataclasses.replace(ModelConfig.from_json(json.load(f)), **MS._size_overrides(args))
    kind = args.robot or "none"
    opts = T.robot_options(kind, delta=not args.no_delta) if kind != "aloha" else T.robot_options("aloha", adapt_to_pi=not args.no_adapt_to_pi, delta=not args.no_delta)
    metadata = {"reset_pose": list(T.ALOHA_DEFAULT_RESET_POSE)} if kind == "aloha" else {}
    return {"model": cfg, "robot": kind, "robot_options": opts, "asset_id": args.asset_id, "default_prompt": args.default_prompt, "metadata": metadata}


# ------------------------------------------------------------------ assets


def find_norm_stats(ckpt: str, asset_id: Optional[str]) -> Tuple[str, Optional[str]]:
    """norm_stats.json in <ckpt>/assets/<asset_id>/ or, where openpi's JAX->PyTorch converter put it,
    <ckpt>/../assets/<asset_id>/. Without an asset id, the single assets/*/norm_stats.json found there."""
    base = ckpt if os.path.isdir(ckpt) else os.path.dirname(ckpt)
    roots = [os.path.join(base, "assets"), os.path.join(os.path.dirname(os.path.abspath(base)), "assets")]
    tried = []
    for r in roots:
        if asset_id:
            p = os.path.join(r, asset_id, "norm_stats.json")
            tried.append(p)
            if os.path.isfile(p):
                return p, asset_id
        else:
            found = sorted(glob.glob(os.path.join(r, "**", "norm_stats.json"), recursive=True))
            tried.append(os.path.join(r, "**/norm_stats.json"))
            if len(found) == 1:
                return found[0], os.path.relpath(os.path.dirname(found[0]), r)
            if len(found) > 1:
                raise FileNotFoundError(f"several norm stats under {r}: {found}; pass --asset-id")
    raise FileNotFoundError("norm_stats.json not found; looked at " + ", ".join(tried) + " (pass --norm-stats)")


def load_norm_stats(path: str) -> Dict[str, Any]:
    with open(path) as f:
        d = json.load(f)
    if "norm_stats" not in d:
        raise ValueError(f"{path}: no top-level 'norm_stats' key (openpi's format)")
    return d["norm_stats"]


def check_norm_stats_widths(path: str, norm_stats: Dict[str, Any], robot: str, robot_opts: Dict[str, Any], action_dim: int) -> None:
    """The widths the edge agent accepts (packages/edge-agent: model/bundle.ts loadBundle, transforms/normalize.ts):
    state stats at least as wide as the adapter's state (refused at load otherwise), action stats at most the
    model's action_dim (the [H, action_dim] output is unnormalized with them every step), and, with delta actions,
    state stats at most action_dim too (the padded model state is unnormalized to make actions absolute)."""
    widths = {k: len(v.get("mean") or []) for k, v in norm_stats.items() if isinstance(v, dict) and k in ("state", "actions")}
    state_dim = int(robot_opts.get("state_dim") or action_dim)
    problems = []
    if "state" in widths and widths["state"] < state_dim:
        problems.append(f"norm_stats.state has {widths['state']} values, robot {robot!r} passes a {state_dim}-wide state (the agent refuses stats narrower than the state)")
    if "actions" in widths and widths["actions"] > action_dim:
        problems.append(f"norm_stats.actions has {widths['actions']} values, the model's action_dim is {action_dim} (the agent unnormalizes {action_dim}-wide action rows)")
    if robot_opts.get("delta_action_mask") is not None and "state" in widths and widths["state"] > action_dim:
        problems.append(f"norm_stats.state has {widths['state']} values, the model's action_dim is {action_dim} (delta actions unnormalize the {action_dim}-wide model state)")
    if problems:
        hint = f" (--robot none: the model's layout, stats {action_dim} wide)" if robot == "none" else ""
        raise ValueError(f"{path}: " + "; ".join(problems) + hint)


def find_tokenizer(given: Optional[str]) -> str:
    if given:
        if not os.path.isfile(given):
            raise FileNotFoundError(f"tokenizer {given} not found")
        return given
    home = os.environ.get("OPENPI_DATA_HOME", os.path.expanduser("~/.cache/openpi"))
    p = os.path.join(home, "big_vision", "paligemma_tokenizer.model")
    if os.path.isfile(p):
        return p
    raise FileNotFoundError(f"PaliGemma tokenizer not found at {p}; pass --tokenizer <paligemma_tokenizer.model>")


def synthetic_observation(kind: str, state_dim: int, seed: int) -> Dict[str, Any]:
    """A fixed observation for the golden file in the robot's own layout (ALOHA and UR5: the demo bundles' ones)."""
    from .demo import aloha_golden_observation, ur5_golden_observation

    if kind == "aloha":
        return aloha_golden_observation(seed)
    if kind == "ur5":
        return ur5_golden_observation(seed)
    rng = np.random.RandomState(seed)
    img = lambda: rng.randint(0, 256, size=(224, 224, 3)).astype(np.uint8)  # noqa: E731
    st = rng.uniform(-0.5, 0.5, size=state_dim).astype(np.float32)
    if kind == "libero":
        return {"observation/image": img(), "observation/wrist_image": img(), "observation/state": st, "prompt": "pick up the black bowl"}
    if kind == "droid":
        return {"observation/exterior_image_1_left": img(), "observation/wrist_image_left": img(), "observation/joint_position": st[:7], "observation/gripper_position": st[7:8], "prompt": "pick up the marker"}
    return {}


# ------------------------------------------------------------------ commands


def resolve_model_source(args: argparse.Namespace, log: Callable[[str], None]) -> Optional[Dict[str, Any]]:
    """The registry's description with the flags applied, or None when the sizes come from the checkpoint's
    config.json and flags (model_source.py: the order, and what is refused)."""
    mods = list(args.config_module)
    if not MS.openpi_importable():
        if mods:
            raise MS.ModelSourceError(f"--config-module {', '.join(mods)}: openpi is not importable here, and such modules register openpi TrainConfigs")
        log("openpi not importable (no module 'openpi'); sizes from " + ("--model-config" if args.model_config else "the checkpoint's config.json") + " and flags")
        return None
    MS.import_config_modules(mods)
    tc = MS.find_registered(args.config, mods)
    where = "openpi's registry" + (f" or {', '.join(mods)}" if mods else "")
    if tc is not None:
        log(f"config {args.config!r} resolved through {where}")
        return MS.apply_flags(describe_train_config(tc), args, f"openpi's config {args.config!r}", log)
    closest = MS.close_names(args.config, mods)
    if args.model_config or MS.checkpoint_has_config_json(args.checkpoint):
        log(f"config {args.config!r} is not in {where} (closest: {closest}); sizes from " + ("--model-config" if args.model_config else "the checkpoint's config.json") + " and flags")
        return None
    raise MS.ModelSourceError(
        f"config {args.config!r} is not in {where} (closest: {closest}), and the checkpoint has no config.json: "
        "pass --config-module <module> that registers it, or --model-config <ModelConfig json>"
    )


def lora_specs_for(args: argparse.Namespace, log: Callable[[str], None]) -> Dict[str, Any]:
    """Per Gemma stack, where a LoRA merge takes alpha/rank/rslora from: the flags, over the openpi config's Gemma
    variants (when openpi resolves --config), over the default alpha = rank (lora.py)."""
    from . import lora as L

    found: Dict[str, Any] = {}
    if MS.openpi_importable():
        tc = MS.find_registered(args.config, list(args.config_module))
        if tc is not None:
            found = L.openpi_lora_specs(tc)
            log(f"LoRA scaling from openpi's config {args.config!r}: " + (", ".join(f"{k}: {v.source}" for k, v in found.items()) or "its Gemma variants have no LoRAConfig"))
    alphas = L.parse_stack_values(args.lora_alpha, "--lora-alpha", float)
    ranks = L.parse_stack_values(args.lora_rank, "--lora-rank", int)
    return L.resolve_specs(found, alphas, ranks, args.lora_rslora, log)


def cmd_export(args: argparse.Namespace) -> int:
    import torch

    from .bundle import write_bundle
    from .model import Pi0Model
    from . import lora as L
    from . import weights as W

    log = _Progress()
    fmt, path = W.detect_format(args.checkpoint)
    log(f"checkpoint format: {fmt} ({path})")
    desc = resolve_model_source(args, log)
    tensors = None
    if fmt == "pytorch":
        log("reading model.safetensors ...")
        tensors = W.read_safetensors(os.path.join(path, "model.safetensors"))
    elif fmt == "jax-npz":
        log("reading JAX params .npz ...")
        tensors = W.load_npz(path)
    else:
        log("restoring orbax params through openpi ...")
        tensors = W.restore_openpi_params(path)
    lora_report = None
    if fmt != "pytorch" and L.has_lora_leaves(tensors):
        tensors, lora_report = L.merge_lora(tensors, lora_specs_for(args, log), log)
    elif args.lora_alpha or args.lora_rank or args.lora_rslora is not None:
        log("no LoRA leaves in the checkpoint: --lora-* flags unused")
    if desc is None:
        keys = list(tensors.keys()) if fmt == "pytorch" else [k.split("/")[0] for k in tensors]
        desc = describe_from_checkpoint(args.checkpoint, args, keys)
    if args.robot:
        desc["robot"] = args.robot
        desc["robot_options"] = T.robot_options(args.robot, delta=not args.no_delta, adapt_to_pi=not args.no_adapt_to_pi)
    cfg: ModelConfig = desc["model"]
    if desc["robot"] == "none":
        # The pass-through layout is the model's own: state and actions as wide as its action_dim.
        desc["robot_options"] = {**desc["robot_options"], "state_dim": cfg.action_dim, "output_dim": cfg.action_dim}
    if args.default_prompt is not None:
        desc["default_prompt"] = args.default_prompt
    ns_path, asset_id = (args.norm_stats, desc["asset_id"]) if args.norm_stats else find_norm_stats(args.checkpoint, args.asset_id or desc["asset_id"])
    log(f"norm stats: {ns_path}")
    norm_stats = load_norm_stats(ns_path)
    check_norm_stats_widths(ns_path, norm_stats, desc["robot"], desc["robot_options"], cfg.action_dim)
    tok = find_tokenizer(args.tokenizer)
    log(f"building {cfg.model_type} model ...")
    model = Pi0Model(cfg).eval()
    if fmt != "pytorch":
        tensors = W.jax_to_torch(tensors, cfg)
    ignored = W.load_state(model, tensors, args.checkpoint)
    del tensors
    log(f"loaded {len(model.state_dict())} weights" + (f" (ignored {ignored})" if ignored else ""))
    torch.set_grad_enabled(False)
    obs = synthetic_observation(desc["robot"], desc["robot_options"]["state_dim"], args.seed) if not args.no_golden else None
    write_bundle(
        model,
        args.out,
        norm_stats=norm_stats,
        tokenizer_path=tok,
        robot_kind=desc["robot"],
        robot_opts=desc["robot_options"],
        default_prompt=desc["default_prompt"],
        metadata=desc["metadata"],
        provenance={"config_name": args.config, "checkpoint": os.path.abspath(args.checkpoint), "checkpoint_format": fmt, "asset_id": asset_id, "created_by": "export",
                    **({"lora": lora_report} if lora_report else {})},
        golden_obs=obs if desc["robot"] != "none" else None,
        seed=args.seed,
        num_steps=args.num_steps,
        fp16=args.fp16,
        rtc_guidance=not args.no_rtc_guidance,
        log=log,
    )
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from .demo import build_demo

    build_demo(args.out, model_type=args.model_type, robot=args.robot, log=_Progress())
    return 0


def cmd_full_size(args: argparse.Namespace) -> int:
    """Random-weight full-size π0/π0.5 (openpi sizes) exported to args.out: graphs only (no tokenizer needed).
    Memory-lean (lean_export.py): each graph is built with only its own weights and exported without extra copies,
    so peak memory is about the prefix graph's weights (11.7 GB for π0) plus its largest tensor and activations."""
    import torch

    from .lean_export import export_random_lean

    log = _Progress()
    torch.set_grad_enabled(False)
    # Debian's torch is built against the generic libblas.so.3, which the alternatives system may point at OpenBLAS
    blas = os.path.realpath("/etc/alternatives/libblas.so.3-x86_64-linux-gnu")
    if "BLAS_INFO=generic" in torch.__config__.show() and not os.environ.get("LD_LIBRARY_PATH") and "openblas" not in blas:
        log("note: torch uses the generic BLAS (Debian default): tracing runs the model once, which takes ~40 min at "
            "~3 GFLOP/s; see docs/full-size-export.md for running it over OpenBLAS")
    cfg = full_config(pi05=args.model_type == "pi05")
    log(f"full-size {cfg.model_type}, random weights (seed {args.seed}), one graph at a time ...")
    os.makedirs(args.out, exist_ok=True)
    graphs = export_random_lean(cfg, args.out, args.seed, log=log)
    if args.fp16:
        from .fp16 import convert_file_to_fp16

        for name, g in graphs.items():
            log(f"fp16 pass over {name} ...")
            g["external_data"] = convert_file_to_fp16(os.path.join(args.out, g["file"]))
            g["precision"] = "float16"
    with open(os.path.join(args.out, "graphs.json"), "w") as f:
        json.dump({"model_config": cfg.to_json(), "graphs": graphs}, f, indent=2)
    log("done")
    return 0


def cmd_dump_jax(args: argparse.Namespace) -> int:
    """In the openpi training env: orbax params -> flat .npz (float32) for export elsewhere."""
    from . import weights as W

    fmt, path = W.detect_format(args.checkpoint)
    if fmt != "jax-orbax":
        raise SystemExit(f"{args.checkpoint}: expected a JAX checkpoint with params/, found {fmt}")
    flat = W.restore_openpi_params(path)
    np.savez(args.out, **flat)
    print(f"wrote {len(flat)} arrays to {args.out}", file=sys.stderr)
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m openpi_edge_export", description=__doc__)
    sub = p.add_subparsers(dest="cmd", required=True)
    e = sub.add_parser("export", help="openpi checkpoint -> model bundle")
    e.add_argument("--config", required=True, help="openpi train config name (e.g. pi0_aloha_towel)")
    e.add_argument("--checkpoint", required=True, help="checkpoint dir (model.safetensors | params/ | params.npz) or .npz")
    e.add_argument("--out", required=True, help="bundle directory to write")
    e.add_argument("--config-module", action="append", default=[], help="module to import first that registers extra TrainConfigs (e.g. openpi_ext.train); repeatable")
    e.add_argument("--model-type", choices=["pi0", "pi05"], help="model family (default: the registry's, else from weight names); refused when it contradicts the registry")
    e.add_argument("--robot", choices=["aloha", "libero", "droid", "ur5", "none"], help="robot adapter (default: from the train config; none without openpi)")
    e.add_argument("--no-delta", action="store_true", help="robot adapter without delta actions")
    e.add_argument("--no-adapt-to-pi", action="store_true", help="ALOHA: adapt_to_pi=False")
    e.add_argument("--asset-id", help="norm stats asset id under assets/ (default: from the config, else the only one)")
    e.add_argument("--norm-stats", help="explicit norm_stats.json path")
    e.add_argument("--tokenizer", help="paligemma_tokenizer.model (default: $OPENPI_DATA_HOME or ~/.cache/openpi/big_vision/)")
    e.add_argument("--default-prompt", help="prompt used when an observation has none")
    e.add_argument("--action-horizon", type=int, help="action_horizon, over the registry's / config.json's")
    e.add_argument("--max-token-len", type=int, help="prompt length, over the registry's (without: default 48 pi0 / 200 pi05)")
    e.add_argument("--discrete-state", dest="discrete_state", action="store_true", default=None, help="pi05: state in prompt (default for pi05)")
    e.add_argument("--no-discrete-state", dest="discrete_state", action="store_false", help="pi05 without state in prompt (pi05_libero)")
    e.add_argument("--model-config", help="ModelConfig JSON (manifest.model_config form): the sizes, over openpi's registry and config.json")
    e.add_argument("--num-steps", type=int, default=10, help="default Euler steps recorded in the manifest (10)")
    e.add_argument("--fp16", action="store_true", help="convert both graphs to fp16 internally (I/O stays float32)")
    e.add_argument("--no-golden", action="store_true", help="skip golden.json")
    e.add_argument("--no-rtc-guidance", action="store_true", help="skip guidance.onnx (real-time chunking's VJP graph, rtc_export.py); the agent then offers only --rtc inpaint")
    e.add_argument("--seed", type=int, default=0, help="seed of the golden observation and noise (0)")
    e.add_argument("--lora-alpha", action="append", default=[], metavar="[STACK=]ALPHA", help="LoRA checkpoints: attention alpha (scaling alpha/rank), every stack or llm=/expert=; repeatable (default: openpi's LoRAConfig, else alpha = rank, scaling 1)")
    e.add_argument("--lora-rank", action="append", default=[], metavar="[STACK=]RANK", help="LoRA rank the scaling divides by, checked against the leaf shapes (default: from the leaves)")
    e.add_argument("--lora-rslora", dest="lora_rslora", action="store_true", default=None, help="rank-stabilized LoRA: scaling alpha/sqrt(rank)")
    e.add_argument("--no-lora-rslora", dest="lora_rslora", action="store_false", help="scaling alpha/rank (over openpi's LoRAConfig)")
    e.set_defaults(fn=cmd_export)
    d = sub.add_parser("demo", help="tiny random-weight bundle (fixed seed)")
    d.add_argument("--model-type", choices=["pi0", "pi05"], default="pi0")
    d.add_argument("--robot", default="aloha", choices=["aloha", "ur5"], help="robot adapter, norm stats and golden observation (aloha)")
    d.add_argument("--out", required=True)
    d.set_defaults(fn=cmd_demo)
    f = sub.add_parser("full-size", help="export the full-size architecture with random weights (sizes/memory check)")
    f.add_argument("--model-type", choices=["pi0", "pi05"], default="pi0")
    f.add_argument("--out", required=True)
    f.add_argument("--fp16", action="store_true")
    f.add_argument("--seed", type=int, default=0)
    f.set_defaults(fn=cmd_full_size)
    j = sub.add_parser("dump-jax", help="(training env) orbax params -> flat .npz")
    j.add_argument("--checkpoint", required=True)
    j.add_argument("--out", required=True)
    j.set_defaults(fn=cmd_dump_jax)
    return p


def main(argv: Optional[List[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.fn(args))
