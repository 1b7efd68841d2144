"""Tiny π0/π0.5: PyTorch sample_actions vs the exported graphs in onnxruntime with a host loop."""

import json
import os

import numpy as np
import onnx
import pytest
import torch

from openpi_edge_export.export_onnx import export_model
from openpi_edge_export.fp16 import convert_file_to_fp16

from helpers import PREFIX_INPUTS, ort_sample, random_inputs, tiny_model


@pytest.fixture(scope="module", params=[False, True], ids=["pi0", "pi05"])
def exported(request, tmp_path_factory):
    m = tiny_model(request.param)
    d = str(tmp_path_factory.mktemp("pi05" if request.param else "pi0"))
    graphs = export_model(m, d, log=lambda s: None)
    return m, d, graphs


def test_cached_denoise_equals_joint_forward(exported):
    m = exported[0]
    imgs, im, tok, tm, st, noise = random_inputs(m.cfg)
    t = torch.tensor([1.0, 0.35])
    with torch.no_grad():
        kk, vv, pm = m.prefix_kv(imgs, im, tok, tm)
        a = m.denoise_step(noise, t, st, kk, vv, pm)
    b = m.joint_velocity(imgs, im, tok, tm, st, noise, t)
    assert torch.max(torch.abs(a - b)).item() <= 1e-5


def test_onnx_host_loop_matches_pytorch(exported):
    m, d, _ = exported
    pi05 = m.cfg.pi05
    for batch in (1, 3):  # dynamic batch: traced with 2
        imgs, im, tok, tm, st, noise = random_inputs(m.cfg, batch=batch, seed=batch)
        want = m.sample_actions(imgs, im, tok, tm, st, noise, num_steps=10).numpy()
        feeds = dict(zip(PREFIX_INPUTS, [t.numpy() for t in imgs + [im, tok, tm]]))
        got = ort_sample(d, feeds, st.numpy(), noise.numpy(), 10, pi05)
        assert got.shape == (batch, m.cfg.action_horizon, 32)
        assert float(np.max(np.abs(got - want))) <= 1e-4
        assert float(np.max(np.abs(want - noise.numpy()))) > 1e-2  # the loop really moved the sample


def test_graph_io_names_and_opset(exported):
    m, d, graphs = exported
    for name, spec in graphs.items():
        g = onnx.load(os.path.join(d, spec["file"]))
        assert [i.name for i in g.graph.input] == [i["name"] for i in spec["inputs"]]
        assert [o.name for o in g.graph.output] == [o["name"] for o in spec["outputs"]]
        assert max(o.version for o in g.opset_import if o.domain in ("", "ai.onnx")) == 17
        ops = {n.op_type for n in g.graph.node}
        assert "Range" not in ops
        inferred = onnx.shape_inference.infer_shapes(g)
        types = {v.name: v.type.tensor_type.elem_type for v in list(inferred.graph.value_info) + list(inferred.graph.input)}
        cumsums = [n for n in g.graph.node if n.op_type == "CumSum"]
        assert cumsums
        for n in cumsums:  # no boolean CumSum (unsupported by ORT/TensorRT)
            assert types[n.input[0]] == onnx.TensorProto.INT64
        first = g.graph.input[0].type.tensor_type.shape.dim[0]
        if name == "guidance":  # real-time chunking's VJP graph is traced at batch 1 (rtc_export.py)
            assert first.dim_value == 1
        else:
            assert first.dim_param == "batch"
    assert ("state" in [i["name"] for i in graphs["denoise"]["inputs"]]) == (not m.cfg.pi05)


def test_fp16_pass_runs_close(exported, tmp_path):
    m, d, _ = exported
    for f in ("prefix.onnx", "denoise.onnx"):
        dst = tmp_path / f
        dst.write_bytes(open(os.path.join(d, f), "rb").read())
        assert convert_file_to_fp16(str(dst)) is None
    imgs, im, tok, tm, st, noise = random_inputs(m.cfg)
    feeds = dict(zip(PREFIX_INPUTS, [t.numpy() for t in imgs + [im, tok, tm]]))
    a32 = ort_sample(d, feeds, st.numpy(), noise.numpy(), 10, m.cfg.pi05)
    a16 = ort_sample(str(tmp_path), feeds, st.numpy(), noise.numpy(), 10, m.cfg.pi05)
    assert np.all(np.isfinite(a16))
    assert float(np.max(np.abs(a16 - a32))) < 0.25
    g = onnx.load(str(tmp_path / "prefix.onnx"))
    assert any(t.data_type == onnx.TensorProto.FLOAT16 for t in g.graph.initializer)
