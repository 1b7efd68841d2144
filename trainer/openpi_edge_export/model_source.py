"""Where `export` takes the model's sizes and the robot adapter from, in one explicit order:

1. `--model-config <json>` (a ModelConfig, manifest.model_config form): the sizes, whatever else is known;
2. openpi's registry, when openpi is importable and `--config` names a TrainConfig there or in a `--config-module`;
3. the checkpoint's `config.json` (openpi PyTorch checkpoints) plus flags.

Size flags (`--action-horizon`, `--max-token-len`, `--discrete-state` / `--no-discrete-state`) override the
registry's values field by field, each override logged; `--model-type` contradicting the registry's model family is
refused. A `--config` name openpi does not know is not an error when the sizes can come from 1 or 3 (logged with the
closest registered names); without either it is, naming the ways out. A `--config-module` that fails to import is
an error of its own (not "openpi not importable").

The asset id (the norm stats' folder under `<checkpoint>/assets/`) follows openpi's own rule
(`DataConfigFactory.create_base_config`): `data.assets.asset_id or data.repo_id`, except for openpi's debug data
(`FakeDataConfig`, whose config carries no asset id: openpi's training saves no norm stats for it); `--asset-id`
overrides it.
"""

from __future__ import annotations

import argparse
import dataclasses
import difflib
import importlib
import importlib.util
import json
import os
import sys
from typing import Any, Callable, Dict, List, Optional

from .config import ModelConfig


class ModelSourceError(ValueError):
    """The configuration sources contradict each other, or none can give the model's sizes."""


def openpi_importable() -> bool:
    try:
        return importlib.util.find_spec("openpi") is not None and importlib.util.find_spec("openpi.training.config") is not None
    except (ImportError, ValueError):
        return False


def import_config_modules(modules: List[str]) -> None:
    for mod in modules:
        try:
            importlib.import_module(mod)
        except Exception as e:  # noqa: BLE001 - any failure of a module the user named is reported as such
            raise ModelSourceError(f"--config-module {mod} failed to import: {type(e).__name__}: {e}") from e


def registered_configs(modules: List[str]) -> List[Any]:
    """openpi's TrainConfigs plus those the extension modules define (openpi_ext/train.py style: lists or single
    TrainConfig objects at module level; most merge theirs into openpi's list)."""
    import openpi.training.config as oc  # type: ignore

    out: List[Any] = list(getattr(oc, "_CONFIGS", []))
    for mod in modules:
        m = sys.modules[mod]
        for attr in dir(m):
            v = getattr(m, attr)
            items = v if isinstance(v, (list, tuple)) else [v]
            out.extend(c for c in items if hasattr(c, "name") and hasattr(c, "model") and hasattr(c, "data"))
    return out


def find_registered(name: str, modules: List[str]) -> Optional[Any]:
    import openpi.training.config as oc  # type: ignore

    try:
        return oc.get_config(name)
    except (KeyError, ValueError):
        pass
    for c in registered_configs(modules):
        if getattr(c, "name", None) == name:
            return c
    return None


def openpi_asset_id(data: Any) -> Optional[str]:
    """openpi's asset id of a data config factory (see the module comment)."""
    if type(data).__name__ == "FakeDataConfig":
        return None
    assets = getattr(data, "assets", None)
    asset_id = getattr(assets, "asset_id", None)
    if isinstance(asset_id, str) and asset_id:
        return asset_id
    repo_id = getattr(data, "repo_id", None)
    # tyro.MISSING (an unset repo id) is not a string
    return repo_id if isinstance(repo_id, str) and repo_id else None


def _size_overrides(args: argparse.Namespace) -> Dict[str, Any]:
    out: Dict[str, Any] = {}
    if getattr(args, "action_horizon", None):
        out["action_horizon"] = int(args.action_horizon)
    if getattr(args, "max_token_len", None):
        out["max_token_len"] = int(args.max_token_len)
    if getattr(args, "discrete_state", None) is not None:
        out["discrete_state_input"] = bool(args.discrete_state)
    return out


def apply_flags(desc: Dict[str, Any], args: argparse.Namespace, source: str, log: Callable[[str], None]) -> Dict[str, Any]:
    """The registry's description with the flags applied (module comment: what wins, what is refused)."""
    cfg: ModelConfig = desc["model"]
    if getattr(args, "model_type", None) and (args.model_type == "pi05") != cfg.pi05:
        raise ModelSourceError(f"--model-type {args.model_type} contradicts {source}, a {cfg.model_type} config")
    if getattr(args, "model_config", None):
        with open(args.model_config) as f:
            mc = ModelConfig.from_json(json.load(f))
        log(f"model sizes from --model-config {args.model_config} (over {source}'s)")
        if mc.pi05 != cfg.pi05:
            raise ModelSourceError(f"--model-config {args.model_config} is a {mc.model_type} config, {source} a {cfg.model_type} one")
        cfg = mc
    over = _size_overrides(args)
    if over:
        changed = {k: v for k, v in over.items() if getattr(cfg, k) != v}
        for k, v in changed.items():
            log(f"--{k.replace('_input', '').replace('_', '-')}: {k} {getattr(cfg, k)} -> {v} (over {source})")
        cfg = dataclasses.replace(cfg, **over)
    if getattr(args, "asset_id", None) and args.asset_id != desc.get("asset_id"):
        log(f"--asset-id {args.asset_id} (over {source}'s {desc.get('asset_id')!r})")
        desc = {**desc, "asset_id": args.asset_id}
    return {**desc, "model": cfg}


def close_names(name: str, modules: List[str]) -> List[str]:
    names = sorted({str(getattr(c, "name", "?")) for c in registered_configs(modules)})
    return difflib.get_close_matches(name, names, n=5) or names[:10]


def checkpoint_has_config_json(ckpt: str) -> bool:
    return os.path.isdir(ckpt) and os.path.isfile(os.path.join(ckpt, "config.json"))
