"""`python -m openpi_edge_export export` on generated checkpoints (PyTorch and JAX .npz), config resolution through
an openpi-style registry with a training extension, and the golden file."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch

from openpi_edge_export import cli
from openpi_edge_export import weights as W
from openpi_edge_export.bundle import decode_array
from openpi_edge_export.config import IMAGE_SLOTS
from openpi_edge_export.demo import aloha_norm_stats

from helpers import PREFIX_INPUTS, ort_sample, tiny_model

VOCAB = 400


def _write_ckpt(root, m, fmt):
    ck = root / "ckpt"
    ck.mkdir()
    sd = {k: v.detach().numpy() for k, v in m.state_dict().items()}
    if fmt == "pytorch":
        sd["paligemma_with_expert.gemma_expert.lm_head.weight"] = np.zeros((4, 4), np.float32)
        W.write_safetensors(str(ck / "model.safetensors"), sd)
        (ck / "config.json").write_text(json.dumps({"action_dim": 32, "action_horizon": 10, "precision": "float32"}))
    else:
        np.savez(ck / "params.npz", **W.torch_to_jax(sd, m.cfg))
    # where openpi's JAX->PyTorch converter leaves the assets: next to, not inside, the checkpoint
    (root / "assets" / "trossen").mkdir(parents=True)
    (root / "assets" / "trossen" / "norm_stats.json").write_text(json.dumps({"norm_stats": aloha_norm_stats()}))
    mc = root / "model_config.json"
    mc.write_text(json.dumps(m.cfg.to_json()))
    return ck, mc


@pytest.mark.parametrize("pi05,fmt", [(False, "pytorch"), (True, "jax-npz")])
def test_export_roundtrip(tmp_path, tokenizer, pi05, fmt):
    m = tiny_model(pi05, vocab=VOCAB)
    ck, mc = _write_ckpt(tmp_path, m, fmt)
    out = tmp_path / "bundle"
    rc = cli.main(["export", "--config", "my_aloha", "--checkpoint", str(ck), "--out", str(out), "--tokenizer", tokenizer,
                   "--robot", "aloha", "--model-config", str(mc), "--default-prompt", "fold the towel"])
    assert rc == 0
    man = json.loads((out / "manifest.json").read_text())
    assert man["model_type"] == ("pi05" if pi05 else "pi0")
    assert man["normalization"]["mode"] == ("quantile" if pi05 else "zscore")
    assert man["provenance"]["checkpoint_format"] == fmt and man["provenance"]["asset_id"] == "trossen"
    assert man["robot"]["options"]["delta_action_mask"][:7] == [True] * 6 + [False]
    assert json.loads((out / "norm_stats.json").read_text())["norm_stats"] == aloha_norm_stats()
    g = json.loads((out / "golden.json").read_text())
    mi = {k: decode_array(v) for k, v in g["model_inputs"].items()}
    noise = decode_array(g["noise"])
    # the exported weights are the checkpoint's: the original model reproduces the golden actions
    with torch.no_grad():
        want = m.sample_actions([torch.from_numpy(mi[s]) for s in IMAGE_SLOTS], torch.from_numpy(mi["image_mask"]),
                                torch.from_numpy(mi["tokenized_prompt"]), torch.from_numpy(mi["tokenized_prompt_mask"]),
                                torch.from_numpy(mi["state"]), torch.from_numpy(noise)).numpy()
    np.testing.assert_allclose(decode_array(g["model_actions"]), want, atol=1e-6)
    got = ort_sample(str(out), {k: mi[k] for k in PREFIX_INPUTS}, mi["state"], noise, g["num_steps"], pi05)
    assert float(np.max(np.abs(got - want))) <= 1e-4
    assert decode_array(g["actions"]).shape == (10, 14)


def test_export_errors_name_the_problem(tmp_path, tokenizer):
    m = tiny_model(False, vocab=VOCAB)
    ck, mc = _write_ckpt(tmp_path, m, "pytorch")
    sd = W.read_safetensors(str(ck / "model.safetensors"))
    sd["action_out_proj.weight"] = sd["action_out_proj.weight"][:, :8]
    W.write_safetensors(str(ck / "model.safetensors"), sd)
    args = ["export", "--config", "x", "--checkpoint", str(ck), "--out", str(tmp_path / "b"), "--tokenizer", tokenizer,
            "--robot", "aloha", "--model-config", str(mc)]
    with pytest.raises(W.CheckpointError, match=r"action_out_proj.weight: checkpoint \[32, 8\] vs model \[32, 32\]"):
        cli.main(args)
    os.remove(tmp_path / "assets" / "trossen" / "norm_stats.json")
    with pytest.raises(FileNotFoundError, match="norm_stats.json not found"):
        cli.main(args)


REGISTRY = """
_CONFIGS = [TrainConfig("pi0_aloha", Pi0Config(), LeRobotAlohaDataConfig(repo_id="x", assets=AssetsConfig(asset_id="trossen")),
                        {"reset_pose": [0, -1.5, 1.5, 0, 0, 0]})]
"""
# a training extension in the style of openpi_ext/train.py: merges extra TrainConfigs into openpi's list
EXTENSION = {
    "openpi_ext/__init__.py": "",
    "openpi_ext/train.py": '''
        from openpi.training import config as _config
        EXTRA = [_config.TrainConfig("pi05_aloha_cups", _config.Pi0Config(pi05=True, max_token_len=200, discrete_state_input=True,
                 action_horizon=25), _config.LeRobotAlohaDataConfig(default_prompt="stack the cups", use_delta_joint_actions=False,
                 assets=_config.AssetsConfig(asset_id="trossen")))]
        _config._CONFIGS.extend(EXTRA)
    ''',
}


def test_openpi_registry_with_training_extension(fake_openpi_package):
    fake_openpi_package(REGISTRY, EXTENSION)
    d = cli.describe_train_config(cli.resolve_openpi_config("pi0_aloha", []))
    assert d["model"].model_type == "pi0" and d["model"].max_token_len == 48 and d["asset_id"] == "trossen"
    assert d["robot"] == "aloha" and d["metadata"] == {"reset_pose": [0, -1.5, 1.5, 0, 0, 0]}
    with pytest.raises(ValueError, match="pi05_aloha_cups"):
        cli.resolve_openpi_config("pi05_aloha_cups", [])  # only after the extension is imported
    d = cli.describe_train_config(cli.resolve_openpi_config("pi05_aloha_cups", ["openpi_ext.train"]))
    assert d["model"].pi05 and d["model"].action_horizon == 25 and d["model"].max_token_len == 200
    assert d["default_prompt"] == "stack the cups" and d["robot_options"]["delta_action_mask"] is None


def test_module_entry_point_help():
    r = subprocess.run([sys.executable, "-m", "openpi_edge_export", "export", "--help"], capture_output=True, text=True,
                       cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    assert r.returncode == 0 and "--config-module" in r.stdout


def test_robot_none_norm_stats_width_is_checked(tmp_path, tokenizer):
    """--robot none: the agent's loader refuses state stats narrower than the 32-wide model-layout state, and its
    unnormalize refuses action stats wider than action_dim; export names the file and both widths."""
    m = tiny_model(False, vocab=VOCAB)
    ck, mc = _write_ckpt(tmp_path, m, "jax-npz")
    ns = tmp_path / "assets" / "trossen" / "norm_stats.json"  # ALOHA's: 14 wide
    args = ["export", "--config", "x", "--checkpoint", str(ck), "--out", str(tmp_path / "b"), "--tokenizer", tokenizer,
            "--robot", "none", "--model-config", str(mc)]
    with pytest.raises(ValueError, match=rf"{ns}: norm_stats.state has 14 values, robot 'none' passes a 32-wide state"):
        cli.main(args)
    wide = {k: {"mean": [0.0] * 40, "std": [1.0] * 40} for k in ("state", "actions")}
    ns.write_text(json.dumps({"norm_stats": wide}))
    with pytest.raises(ValueError, match=r"norm_stats.actions has 40 values, the model's action_dim is 32"):
        cli.main(args)
    ns.write_text(json.dumps({"norm_stats": {k: {"mean": [0.1] * 32, "std": [2.0] * 32} for k in ("state", "actions")}}))
    assert cli.main(args) == 0
    assert json.loads((tmp_path / "b" / "manifest.json").read_text())["robot"]["kind"] == "none"


def test_robot_none_follows_a_non_32_action_dim(tmp_path, tokenizer):
    """--robot none with a 24-wide model: state_dim and output_dim follow the model's action_dim (they were fixed
    at 32, so a 24-wide bundle's own 24-wide stats were refused)."""
    import dataclasses

    from openpi_edge_export.config import tiny_config
    from openpi_edge_export.model import Pi0Model, init_random

    cfg = dataclasses.replace(tiny_config(pi05=False, vocab_size=VOCAB, action_horizon=10), action_dim=24)
    m = Pi0Model(cfg).eval()
    init_random(m, 3)
    ck, mc = _write_ckpt(tmp_path, m, "jax-npz")
    ns = tmp_path / "assets" / "trossen" / "norm_stats.json"
    ns.write_text(json.dumps({"norm_stats": {k: {"mean": [0.1] * 24, "std": [2.0] * 24} for k in ("state", "actions")}}))
    out = tmp_path / "b"
    assert cli.main(["export", "--config", "x", "--checkpoint", str(ck), "--out", str(out), "--tokenizer", tokenizer,
                     "--robot", "none", "--model-config", str(mc), "--no-rtc-guidance"]) == 0
    man = json.loads((out / "manifest.json").read_text())
    assert man["action_dim"] == 24
    assert man["robot"]["options"]["state_dim"] == 24 and man["robot"]["options"]["output_dim"] == 24
    assert "guidance" not in man["graphs"]
