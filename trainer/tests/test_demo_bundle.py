"""The committed demo bundles (packages/edge-agent/assets/demo-bundle-*): their graphs reproduce their golden
files, and `demo` regenerates them (numerically; see docs/bundle-format.md "Reproducibility")."""

import json
import os

import numpy as np
import pytest

from openpi_edge_export.bundle import decode_array
from openpi_edge_export.demo import UR5_HOME_POSE, build_demo, ur5_golden_observation, ur5_norm_stats
from openpi_edge_export.transforms import SEVEN_DOF_DELTA_MASK, robot_inputs, robot_outputs, unnormalize

from helpers import PREFIX_INPUTS, ort_sample

ASSETS = os.path.join(os.path.dirname(__file__), "..", "..", "packages", "edge-agent", "assets")


def _load(d):
    with open(os.path.join(d, "manifest.json")) as f:
        man = json.load(f)
    with open(os.path.join(d, "golden.json")) as f:
        gold = json.load(f)
    return man, gold


@pytest.mark.parametrize("model_type", ["pi0", "pi05"])
def test_committed_bundle_matches_its_golden(model_type):
    d = os.path.join(ASSETS, f"demo-bundle-{model_type}")
    man, g = _load(d)
    assert man["format_version"] == 1 and man["model_type"] == model_type
    assert man["metadata"]["reset_pose"] == [0.0, -0.96, 1.16, 0.0, -0.3, 0.0]
    mi = {k: decode_array(v) for k, v in g["model_inputs"].items()}
    # raw CHW cameras -> HWC model slots (the ALOHA adapter; resize is the identity at 224)
    raw = g["raw_observation"]["images"]
    np.testing.assert_array_equal(mi["base_0_rgb"][0], decode_array(raw["cam_high"]).transpose(1, 2, 0))
    got = ort_sample(d, {k: mi[k] for k in PREFIX_INPUTS}, mi["state"], decode_array(g["noise"]), g["num_steps"], model_type == "pi05")
    want = decode_array(g["model_actions"])
    assert float(np.max(np.abs(got - want))) <= g["tolerance"]["model_atol"]
    with open(os.path.join(d, "norm_stats.json")) as f:
        ns = json.load(f)["norm_stats"]
    mode = man["normalization"]["mode"]
    state = robot_inputs("aloha", man["robot"]["options"], {"state": decode_array(g["raw_observation"]["state"]).astype(np.float64),
                                                             "images": {k: decode_array(v) for k, v in raw.items()}})["state"]
    acts = robot_outputs("aloha", man["robot"]["options"], unnormalize(got[0], ns["actions"], mode), state)
    np.testing.assert_allclose(acts, decode_array(g["actions"]), atol=g["tolerance"]["actions_atol"])


def test_committed_ur5_bundle_matches_its_golden():
    d = os.path.join(ASSETS, "demo-bundle-ur5")
    man, g = _load(d)
    assert man["format_version"] == 1 and man["model_type"] == "pi0" and man["action_horizon"] == 50
    assert man["robot"] == {"kind": "ur5", "options": {"delta_action_mask": SEVEN_DOF_DELTA_MASK, "state_dim": 7, "output_dim": 7}}
    assert man["default_prompt"] == "pick up the cube" and man["metadata"] == {}
    with open(os.path.join(d, "norm_stats.json")) as f:
        ns = json.load(f)["norm_stats"]
    assert ns == ur5_norm_stats() and all(len(ns[k][s]) == 7 for k in ns for s in ns[k])
    # the raw observation is openpi's UR5 layout, as given
    raw = {k: v if isinstance(v, str) else decode_array(v) for k, v in g["raw_observation"].items()}
    assert sorted(raw) == ["base_rgb", "gripper", "joints", "prompt", "wrist_rgb"]
    assert (raw["joints"].dtype, raw["joints"].shape, raw["gripper"].dtype, raw["gripper"].shape) == (np.float32, (6,), np.float32, (1,))
    want_obs = ur5_golden_observation(man["provenance"]["seed"])
    for k in ("joints", "gripper", "base_rgb", "wrist_rgb"):
        assert raw[k].dtype == want_obs[k].dtype
        np.testing.assert_array_equal(raw[k], want_obs[k], err_msg=k)
    assert float(np.max(np.abs(raw["joints"] - np.asarray(UR5_HOME_POSE)))) < 0.2
    # HWC cameras -> base and left wrist as they are, right wrist zeros with mask false (resize is the identity at 224)
    mi = {k: decode_array(v) for k, v in g["model_inputs"].items()}
    np.testing.assert_array_equal(mi["base_0_rgb"][0], raw["base_rgb"])
    np.testing.assert_array_equal(mi["left_wrist_0_rgb"][0], raw["wrist_rgb"])
    assert not mi["right_wrist_0_rgb"].any() and mi["image_mask"].tolist() == [[True, True, False]]
    got = ort_sample(d, {k: mi[k] for k in PREFIX_INPUTS}, mi["state"], decode_array(g["noise"]), g["num_steps"], False)
    assert float(np.max(np.abs(got - decode_array(g["model_actions"])))) <= g["tolerance"]["model_atol"]
    state = robot_inputs("ur5", man["robot"]["options"], raw)["state"]
    acts = robot_outputs("ur5", man["robot"]["options"], unnormalize(got[0], ns["actions"], man["normalization"]["mode"]), state)
    assert acts.shape == (50, 7)
    np.testing.assert_allclose(acts, decode_array(g["actions"]), atol=g["tolerance"]["actions_atol"])
    # delta actions (mask (6, -1)): joints are the state plus unnormalized deltas, the gripper absolute
    un = unnormalize(decode_array(g["model_actions"])[0], ns["actions"], "zscore")
    np.testing.assert_allclose(decode_array(g["actions"])[:, :6], un[:, :6] + state[:6], atol=1e-9)
    np.testing.assert_allclose(decode_array(g["actions"])[:, 6], un[:, 6], atol=1e-9)


@pytest.mark.parametrize("model_type,robot", [("pi0", "aloha"), ("pi05", "aloha"), ("pi0", "ur5")])
def test_demo_regenerates_committed_bundle(model_type, robot, tmp_path):
    build_demo(str(tmp_path), model_type=model_type, robot=robot, log=lambda s: None)
    man0, g0 = _load(os.path.join(ASSETS, f"demo-bundle-{model_type if robot == 'aloha' else robot}"))
    man1, g1 = _load(str(tmp_path))
    for m in (man0, man1):
        for k in ("torch_version", "onnx_version"):
            m["provenance"].pop(k)
    assert man0 == man1
    assert g0["prompt_text"] == g1["prompt_text"]
    for key in ("noise", "v_t_first", "model_actions", "actions"):
        # 1e-5: float kernels differ slightly between torch 1.13 and 2.x (measured 2.1e-6)
        np.testing.assert_allclose(decode_array(g1[key]), decode_array(g0[key]), atol=1e-5, err_msg=key)
    for key, v in g0["model_inputs"].items():
        np.testing.assert_array_equal(decode_array(g1["model_inputs"][key]), decode_array(v), err_msg=key)
    assert g1["raw_observation"] == g0["raw_observation"]
