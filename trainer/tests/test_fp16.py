"""`--fp16` graphs: model.py's float32 islands (RoPE, time embedding, RMSNorm, attention softmax) survive the fp16
pass, and the fp16 bundle is closer to float32 than openpi's bf16 serving (emulated in torch) at openpi's head_dim
and depth. onnxruntime's CPU provider runs the fp16 graphs with fp16 tensors between ops, upcasting inside ops that
lack fp16 kernels: these tests measure fp16 storage/rounding with float32 accumulation (TensorRT's fp16 kernels)."""

import os
import shutil

import numpy as np
import onnx
import pytest
import torch
from onnx import TensorProto, helper

from openpi_edge_export.export_onnx import export_model
from openpi_edge_export.fp16 import convert_file_to_fp16, convert_model_to_fp16
from openpi_edge_export.model import RMSNorm, apply_rope
from openpi_edge_export.precision_report import measure, report_config

from helpers import PREFIX_INPUTS, ort_sample, random_inputs, tiny_model

F32, F16 = TensorProto.FLOAT, TensorProto.FLOAT16


@pytest.fixture(scope="module", params=[False, True], ids=["pi0", "pi05"])
def bundles(request, tmp_path_factory):
    """A tiny model's fp32 graphs and their fp16 conversions with and without islands."""
    m = tiny_model(request.param)
    root = tmp_path_factory.mktemp("pi05" if request.param else "pi0")
    d32 = str(root / "fp32")
    os.makedirs(d32)
    export_model(m, d32, log=lambda s: None)
    out = {"fp32": d32}
    for name, islands in (("fp16", True), ("fp16_no_islands", False)):
        d = str(root / name)
        os.makedirs(d)
        for f in ("prefix.onnx", "denoise.onnx"):
            shutil.copyfile(os.path.join(d32, f), os.path.join(d, f))
            assert convert_file_to_fp16(os.path.join(d, f), fp32_islands=islands) is None
        out[name] = d
    return m, out


def _typed(path):
    g = onnx.load(path)
    onnx.checker.check_model(g, full_check=True)
    inferred = onnx.shape_inference.infer_shapes(g, strict_mode=True).graph
    types = {v.name: v.type.tensor_type.elem_type for v in list(inferred.value_info) + list(inferred.input) + list(inferred.output)}
    types.update({t.name: t.data_type for t in g.graph.initializer})
    producer = {o: n for n in g.graph.node for o in n.output}
    return g, types, producer


def _ops(g, op):
    return [n for n in g.graph.node if n.op_type == op]


@pytest.mark.parametrize("graph", ["prefix", "denoise"])
def test_fp16_graph_keeps_islands_in_float32(bundles, graph):
    m, dirs = bundles
    g, types, producer = _typed(os.path.join(dirs["fp16"], f"{graph}.onnx"))
    # RoPE angles (both graphs) and the time embedding (denoise): every Sin/Cos takes a float32 angle
    trig = _ops(g, "Sin") + _ops(g, "Cos")
    assert len(trig) == (2 if graph == "prefix" else 4)
    assert all(types[n.input[0]] == F32 for n in trig)
    # RMSNorm: mean(x*x) of a float32 x, then rsqrt in float32
    means = _ops(g, "ReduceMean")
    assert means and all(types[n.input[0]] == F32 for n in means)
    for n in means:
        sq = producer[n.input[0]]
        assert sq.op_type == "Mul" and sq.input[0] == sq.input[1] and types[sq.input[0]] == F32
    assert all(types[n.input[0]] == F32 for n in _ops(g, "Sqrt"))
    # Gemma attention: masked logits and softmax in float32 (SigLIP's softmax stays fp16, like openpi's bf16 ViT)
    gemma_softmax = [n for n in _ops(g, "Softmax") if producer[n.input[0]].op_type == "Where"]
    assert gemma_softmax and all(types[n.input[0]] == F32 for n in gemma_softmax)
    assert sum(types[n.input[0]] == F16 for n in _ops(g, "Softmax")) == (6 if graph == "prefix" else 0)
    # the rest is fp16: every weight-bearing op, and the weights themselves
    heavy = _ops(g, "MatMul") + _ops(g, "Gemm") + _ops(g, "Conv")
    assert heavy and all(types[i] == F16 for n in heavy for i in n.input if i)
    big = [t for t in g.graph.initializer if np.prod(t.dims) >= 1024]
    assert big and all(t.data_type == F16 for t in big)
    # the boundary is unchanged: the fp32 graph's inputs and outputs, same names and dtypes
    g32 = onnx.load(os.path.join(dirs["fp32"], f"{graph}.onnx"))
    for a, b in ((g.graph.input, g32.graph.input), (g.graph.output, g32.graph.output)):
        assert [(v.name, v.type.tensor_type.elem_type) for v in a] == [(v.name, v.type.tensor_type.elem_type) for v in b]
    # without islands (the pass before) the same checks fail: the angles were fp16
    g0, types0, _ = _typed(os.path.join(dirs["fp16_no_islands"], f"{graph}.onnx"))
    assert all(types0[n.input[0]] == F16 for n in _ops(g0, "Sin") + _ops(g0, "ReduceMean"))


def test_fp16_islands_bring_tiny_bundle_closer_to_fp32(bundles):
    m, dirs = bundles
    imgs, im, tok, tm, st, noise = random_inputs(m.cfg)
    feeds = dict(zip(PREFIX_INPUTS, [t.numpy() for t in imgs + [im, tok, tm]]))
    got = {k: ort_sample(d, feeds, st.numpy(), noise.numpy(), 10, m.cfg.pi05) for k, d in dirs.items()}
    rel = {k: float(np.linalg.norm(got[k] - got["fp32"]) / np.linalg.norm(got["fp32"])) for k in ("fp16", "fp16_no_islands")}
    # measured: pi0 4.9e-4 (2.9e-2 without islands), pi05 2.5e-4 (1.1e-2)
    assert rel["fp16"] <= 2e-3
    assert rel["fp16"] * 10 <= rel["fp16_no_islands"]


def test_fp16_bundle_beats_bf16_emulation_at_openpi_head_dim_and_depth(tmp_path):
    """pi0 with head_dim 256, 18 layers, 816 prefix tokens (widths 64/32, 2 heads): the documented bound of
    docs/bundle-format.md. Measured (seed 0): fp16 KV 1.1e-3, v_t 1.6e-3, actions 6.9e-4; bf16 1.4e-2, 1.7e-2, 6.4e-3;
    fp16 without islands 2.9e-2 (keys), 3.1e-2, 7.7e-3."""
    rep = measure(report_config(pi05=False), seed=0, threads=2, work_dir=str(tmp_path), log=lambda s: None)
    assert (rep["head_dim"], rep["depth"], rep["prefix_len"]) == (256, 18, 816)
    e = rep["errors"]
    assert e["fp32_onnx_vs_torch"]["actions"] < 1e-5  # the two float32 references agree
    for k in ("kv_keys", "kv_values", "v_t", "actions", "actions_max_abs"):
        assert e["fp16"][k] <= e["bf16"][k], k
    assert max(e["fp16"][k] for k in ("kv_keys", "kv_values", "v_t", "actions")) <= 3e-3
    assert e["fp16"]["kv_keys"] * 5 <= e["fp16_no_islands"]["kv_keys"]  # RoPE'd keys: the angles' error
    assert e["fp16"]["v_t"] * 5 <= e["fp16_no_islands"]["v_t"]
    assert rep["rope_angle_error"]["fp16_rad"] > 0.3  # what fp16 angles would cost at these positions


def test_islands_are_float32_in_a_bf16_torch_model():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(2, 900, 2, 256, generator=g).bfloat16()
    pos = torch.arange(900)[None].expand(2, -1)
    got = apply_rope(x, pos)
    assert got.dtype == torch.bfloat16
    assert torch.equal(got, apply_rope(x.float(), pos).bfloat16())  # angles and rotation in float32, one rounding
    norm = RMSNorm(64)
    with torch.no_grad():
        norm.weight.copy_(0.1 * torch.randn(64, generator=g))
    h = (300.0 * torch.randn(3, 5, 64, generator=g)).bfloat16()  # x*x overflows fp16 here; not float32
    want, _ = norm(h.float())
    got, _ = norm.to(torch.bfloat16)(h)
    assert got.dtype == torch.bfloat16 and torch.equal(got, (h.float() * torch.rsqrt((h.float() * h.float()).mean(-1, keepdim=True) + 1e-6) * (1 + norm.weight.float())).bfloat16())
    assert float((got.float() - want).abs().max() / want.abs().max()) < 1e-2


def _graph(nodes, outputs):
    g = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("a", F32, [2, 3])], [helper.make_tensor_value_info(o, F32, [2, 3]) for o in outputs],
                          initializer=[helper.make_tensor("w", F32, [3, 3], np.eye(3, dtype=np.float32).ravel().tolist())])
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])


def test_pass_refuses_island_leaks_and_follows_casts():
    # a graph float input (float32) used by a MatMul without entering the compute dtype: would run in float32
    with pytest.raises(ValueError, match="would run in float32"):
        convert_model_to_fp16(_graph([helper.make_node("MatMul", ["a", "w"], ["y"])], ["y"]))
    # h = compute copy of a; f = island copy of h; Add(h, f) mixes regions without a cast
    mixed = [helper.make_node("Cast", ["a"], ["h"], to=F32), helper.make_node("Cast", ["h"], ["f"], to=F32), helper.make_node("Add", ["h", "f"], ["y"])]
    with pytest.raises(ValueError, match="mixes float32-island inputs"):
        convert_model_to_fp16(_graph(mixed, ["y"]))
    # the casts are read as model.py writes them: into fp16, a float32 island (Sin), back to fp16 for the MatMul
    ok = [helper.make_node("Cast", ["a"], ["h"], to=F32), helper.make_node("Cast", ["h"], ["f"], to=F32), helper.make_node("Sin", ["f"], ["s"]),
          helper.make_node("Cast", ["s"], ["s16"], to=F32), helper.make_node("MatMul", ["s16", "w"], ["y"])]
    m = convert_model_to_fp16(_graph(ok, ["y"]))
    onnx.checker.check_model(m, full_check=True)
    types = {v.name: v.type.tensor_type.elem_type for v in onnx.shape_inference.infer_shapes(m).graph.value_info}
    assert (types["h"], types["f"], types["s"], types["s16"]) == (F16, F32, F32, F16)
    assert [t.data_type for t in m.graph.initializer] == [F16]
    assert m.graph.output[0].type.tensor_type.elem_type == F32
