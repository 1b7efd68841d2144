"""Where `export` takes the model's sizes from (openpi_edge_export/model_source.py), with openpi importable (an
openpi-shaped registry package written for the test, as openpi's training/config.py lays it out): flags over the
registry, refused contradictions, unregistered names, failing extension modules, and openpi's asset-id rule for its
debug configs (end to end: an export of a `FakeDataConfig` config finds the checkpoint's only norm stats without
--asset-id)."""

from __future__ import annotations

import argparse
import json
from typing import Any, List

import numpy as np
import pytest

from openpi_edge_export import cli
from openpi_edge_export import model_source as MS
from openpi_edge_export import weights as W
from openpi_edge_export.demo import aloha_norm_stats

from helpers import tiny_model

REGISTRY = """
_CONFIGS = [
    TrainConfig("pi0_aloha_towel", Pi0Config(), LeRobotAlohaDataConfig(repo_id="physical-intelligence/aloha_towel",
                assets=AssetsConfig(asset_id="trossen"))),
    TrainConfig("pi0_aloha_own", Pi0Config(), LeRobotAlohaDataConfig(repo_id="me/aloha_socks")),
    TrainConfig("debug", Pi0Config(paligemma_variant="dummy", action_expert_variant="dummy"), FakeDataConfig()),
]
"""
BROKEN_EXTENSION = {
    "openpi_ext/__init__.py": "",
    "openpi_ext/broken.py": "import openpi_does_not_have_this_module  # noqa\n",
}


@pytest.fixture
def openpi(fake_openpi_package):  # type: ignore[no-untyped-def]
    fake_openpi_package(REGISTRY, BROKEN_EXTENSION)
    import openpi.training.config as oc  # type: ignore

    return oc


def _args(**kw: Any) -> argparse.Namespace:
    base = dict(config="pi0_aloha_towel", checkpoint="/nonexistent", config_module=[], model_type=None, model_config=None,
                action_horizon=None, max_token_len=None, discrete_state=None, asset_id=None)
    base.update(kw)
    return argparse.Namespace(**base)


class Log(List[str]):
    def __call__(self, msg: str) -> None:
        self.append(msg)


def test_registry_then_flags_win_field_by_field(openpi, tmp_path) -> None:  # type: ignore[no-untyped-def]
    log = Log()
    d = cli.resolve_model_source(_args(action_horizon=25, max_token_len=64), log)
    assert d is not None and d["model"].action_horizon == 25 and d["model"].max_token_len == 64
    assert d["model"].llm.width == 2048 and d["asset_id"] == "trossen"
    assert any("resolved through openpi's registry" in m for m in log)
    assert any("action_horizon 50 -> 25" in m for m in log) and any("max_token_len 48 -> 64" in m for m in log)
    assert not any("not importable" in m for m in log)
    # --model-config replaces the registry's sizes (logged), the rest (robot, asset id) still comes from the registry
    mc = tmp_path / "mc.json"
    mc.write_text(json.dumps(tiny_model(False).cfg.to_json()))
    log = Log()
    d = cli.resolve_model_source(_args(model_config=str(mc)), log)
    assert d is not None and d["model"].llm.width == 64 and d["robot"] == "aloha" and d["asset_id"] == "trossen"
    assert any("model sizes from --model-config" in m for m in log)


def test_contradictions_are_refused(openpi, tmp_path) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(MS.ModelSourceError, match="--model-type pi05 contradicts openpi's config 'pi0_aloha_towel', a pi0 config"):
        cli.resolve_model_source(_args(model_type="pi05"), Log())
    mc = tmp_path / "mc.json"
    mc.write_text(json.dumps(tiny_model(True).cfg.to_json()))
    with pytest.raises(MS.ModelSourceError, match="is a pi05 config, openpi's config 'pi0_aloha_towel' a pi0 one"):
        cli.resolve_model_source(_args(model_config=str(mc)), Log())


def test_unregistered_names(openpi, tmp_path) -> None:  # type: ignore[no-untyped-def]
    # no registry entry and nothing else to take the sizes from: an error naming both ways out and the closest names
    with pytest.raises(MS.ModelSourceError, match=r"'pi0_aloha_towl' is not in openpi's registry \(closest: \['pi0_aloha_towel'.*--config-module.*--model-config"):
        cli.resolve_model_source(_args(config="pi0_aloha_towl"), Log())
    # with a config.json in the checkpoint (openpi PyTorch), the export goes on from it, and says so
    ck = tmp_path / "ck"
    ck.mkdir()
    (ck / "config.json").write_text("{}")
    log = Log()
    assert cli.resolve_model_source(_args(config="my_own_run", checkpoint=str(ck)), log) is None
    assert any("'my_own_run' is not in openpi's registry" in m and "the checkpoint's config.json" in m for m in log)


def test_a_failing_config_module_is_named(openpi) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(MS.ModelSourceError, match="--config-module openpi_ext.broken failed to import: ModuleNotFoundError"):
        cli.resolve_model_source(_args(config_module=["openpi_ext.broken"]), Log())


def test_without_openpi_the_log_says_so(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(MS, "openpi_importable", lambda: False)
    log = Log()
    assert cli.resolve_model_source(_args(), log) is None
    assert log == ["openpi not importable (no module 'openpi'); sizes from the checkpoint's config.json and flags"]
    with pytest.raises(MS.ModelSourceError, match="--config-module openpi_ext.train: openpi is not importable"):
        cli.resolve_model_source(_args(config_module=["openpi_ext.train"]), Log())


def test_openpi_asset_id_rule(openpi) -> None:  # type: ignore[no-untyped-def]
    ids = {c.name: cli.describe_train_config(c)["asset_id"] for c in openpi._CONFIGS}
    # assets.asset_id, else the repo id; the debug data (FakeDataConfig) has none: not "fake"
    assert ids == {"pi0_aloha_towel": "trossen", "pi0_aloha_own": "me/aloha_socks", "debug": None}


def test_debug_config_exports_without_asset_id(openpi, tmp_path, tokenizer) -> None:  # type: ignore[no-untyped-def]
    m = tiny_model(False, vocab=400)
    ck = tmp_path / "ckpt"
    ck.mkdir()
    sd = {k: v.detach().numpy() for k, v in m.state_dict().items()}
    np.savez(ck / "params.npz", **W.torch_to_jax(sd, m.cfg))
    (ck / "assets" / "my_stats").mkdir(parents=True)
    (ck / "assets" / "my_stats" / "norm_stats.json").write_text(json.dumps({"norm_stats": aloha_norm_stats()}))
    mc = tmp_path / "mc.json"
    mc.write_text(json.dumps(m.cfg.to_json()))
    out = tmp_path / "bundle"
    rc = cli.main(["export", "--config", "debug", "--checkpoint", str(ck / "params.npz"), "--out", str(out), "--tokenizer", tokenizer,
                   "--robot", "aloha", "--model-config", str(mc), "--no-golden"])
    assert rc == 0
    man = json.loads((out / "manifest.json").read_text())
    assert man["provenance"]["config_name"] == "debug" and man["provenance"]["asset_id"] == "my_stats"
    assert man["model_config"]["llm"]["width"] == 64
