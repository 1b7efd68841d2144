"""The committed demo bundles (packages/edge-agent/assets/demo-bundle-*): their graphs reproduce their golden
files, and `demo` regenerates them (numerically; see docs/bundle-format.md "Reproducibility")."""

import json
import os

import numpy as np
import pytest

from openpi_edge_export.bundle import decode_array
from openpi_edge_export.demo import build_demo
from openpi_edge_export.transforms import robot_outputs, unnormalize

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
    from openpi_edge_export.transforms import robot_inputs

    state = robot_inputs("aloha", man["robot"]["options"], {"state": decode_array(g["raw_observation"]["state"]).astype(np.float64),
                                                             "images": {k: decode_array(v) for k, v in raw.items()}})["state"]
    acts = robot_outputs("aloha", man["robot"]["options"], unnormalize(got[0], ns["actions"], mode), state)
    np.testing.assert_allclose(acts, decode_array(g["actions"]), atol=g["tolerance"]["actions_atol"])


@pytest.mark.parametrize("model_type", ["pi0", "pi05"])
def test_demo_regenerates_committed_bundle(model_type, tmp_path):
    build_demo(str(tmp_path), model_type=model_type, log=lambda s: None)
    man0, g0 = _load(os.path.join(ASSETS, f"demo-bundle-{model_type}"))
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
