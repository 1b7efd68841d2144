"""An openpi-shaped package written for a test: `openpi/training/config.py` with the TrainConfig pieces the exporter
reads (Pi0Config, AssetsConfig, LeRobotAlohaDataConfig, FakeDataConfig, TrainConfig, get_config over `_CONFIGS`,
laid out as openpi's module has them) plus the test's own `_CONFIGS` and any extra modules (e.g.
`openpi/models/gemma.py`, a training extension). Used through the `fake_openpi` fixture (conftest.py)."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path
from typing import Dict, Optional

TRAINING_CONFIG = """
import dataclasses, difflib
@dataclasses.dataclass(frozen=True)
class Pi0Config:
    action_dim: int = 32
    action_horizon: int = 50
    max_token_len: int = 48
    pi05: bool = False
    discrete_state_input: bool = False
    paligemma_variant: str = "gemma_2b"
    action_expert_variant: str = "gemma_300m"
@dataclasses.dataclass(frozen=True)
class AssetsConfig:
    assets_dir: str = None
    asset_id: str = None
@dataclasses.dataclass(frozen=True)
class LeRobotAlohaDataConfig:
    repo_id: str = None
    default_prompt: str = None
    adapt_to_pi: bool = True
    use_delta_joint_actions: bool = True
    assets: AssetsConfig = AssetsConfig()
@dataclasses.dataclass(frozen=True)
class FakeDataConfig:
    repo_id: str = "fake"
@dataclasses.dataclass(frozen=True)
class TrainConfig:
    name: str
    model: object
    data: object
    policy_metadata: dict = None
def get_config(name):
    names = {c.name: c for c in _CONFIGS}
    if name not in names:
        raise ValueError(f"Config '{name}' not found. Did you mean {difflib.get_close_matches(name, names)}?")
    return names[name]
"""


def install(root: Path, configs: str, extra: Optional[Dict[str, str]] = None) -> None:
    """Writes the package under `root` (put on sys.path by the fixture); `configs` is Python defining `_CONFIGS`;
    `extra` maps more files (with their packages' `__init__.py`) to their source."""
    files = {
        "openpi/__init__.py": "",
        "openpi/training/__init__.py": "",
        "openpi/training/config.py": TRAINING_CONFIG + textwrap.dedent(configs),
        **{k: textwrap.dedent(v) for k, v in (extra or {}).items()},
    }
    for rel, src in files.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(src)


def forget_modules() -> None:
    for mod in [k for k in sys.modules if k.split(".")[0] in ("openpi", "openpi_ext")]:
        del sys.modules[mod]
