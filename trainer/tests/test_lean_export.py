"""The memory-lean export path (lean_export.py, used by `full-size`) against the normal export on tiny models."""

import os

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch

from openpi_edge_export.config import tiny_config
from openpi_edge_export.export_onnx import example_inputs, export_model, io_spec
from openpi_edge_export.lean_export import (
    MatMulLinear,
    export_model_lean,
    export_random_lean,
    random_graph_model,
    uses_param,
)

from helpers import tiny_model


def _run(path, feeds):
    return ort.InferenceSession(path, providers=["CPUExecutionProvider"]).run(None, feeds)


@pytest.mark.parametrize("pi05", [False, True], ids=["pi0", "pi05"])
def test_lean_graphs_equal_normal_export(pi05, tmp_path):
    m = tiny_model(pi05)
    normal, lean = tmp_path / "normal", tmp_path / "lean"
    normal.mkdir()
    lean.mkdir()
    g_normal = export_model(m, str(normal), rtc_guidance=False, log=lambda s: None)  # the lean path exports no VJP graph
    g_lean = export_model_lean(m, str(lean), log=lambda s: None)
    assert g_lean == g_normal  # same manifest entries: files, I/O names, dtypes, shapes
    spec = io_spec(m.cfg)
    for graph in ("prefix", "denoise"):
        for batch in (1, 3):
            ins = example_inputs(m.cfg, spec[graph]["inputs"], batch=batch, seed=batch)
            feeds = {io["name"]: t.numpy() for io, t in zip(spec[graph]["inputs"], ins)}
            want = _run(str(normal / f"{graph}.onnx"), feeds)
            got = _run(str(lean / f"{graph}.onnx"), feeds)
            assert len(got) == len(want)
            for a, b in zip(got, want):
                assert a.shape == b.shape and a.dtype == b.dtype
                if a.dtype == np.bool_:
                    assert np.array_equal(a, b)
                else:
                    assert float(np.max(np.abs(a - b))) <= 1e-5
    # the source model is untouched (lean copies are separate)
    assert any(isinstance(x, torch.nn.Linear) for x in m.modules())
    assert not any(isinstance(x, MatMulLinear) for x in m.modules())


def test_graph_weight_split_covers_every_parameter_once():
    cfg = tiny_config(pi05=True, vocab_size=300)
    names = [n for n, _ in tiny_model(True).named_parameters()]
    prefix = {n for n in names if uses_param(cfg, "prefix", n)}
    denoise = {n for n in names if uses_param(cfg, "denoise", n)}
    assert not prefix & denoise
    unused = set(names) - prefix - denoise
    assert unused == {"paligemma_with_expert.paligemma.model.language_model.norm.weight"}
    assert "paligemma_with_expert.paligemma.model.language_model.embed_tokens.weight" in prefix
    assert any(n.startswith("paligemma_with_expert.gemma_expert.") for n in denoise)
    with pytest.raises(ValueError, match="unknown graph"):
        uses_param(cfg, "joint", names[0])


def test_random_graph_model_holds_only_its_graph_weights():
    cfg = tiny_config(pi05=False, vocab_size=300)
    a = random_graph_model(cfg, "denoise", seed=4)
    b = random_graph_model(cfg, "denoise", seed=4)
    for (name, p), (_, q) in zip(a.named_parameters(), b.named_parameters()):
        assert torch.equal(p, q), name  # seeded
        assert (p.numel() > 0) == uses_param(cfg, "denoise", name), name
        if p.numel() > 1:
            assert float(p.std()) > 0, name  # really filled
    assert sum(p.numel() for p in a.parameters()) < sum(p.numel() for p in tiny_model(False).parameters())


def test_random_lean_export_runs_and_matches_io_spec(tmp_path):
    cfg = tiny_config(pi05=False, vocab_size=300, action_horizon=10)
    graphs = export_random_lean(cfg, str(tmp_path), seed=1, log=lambda s: None)
    spec = io_spec(cfg)
    for graph, entry in graphs.items():
        path = str(tmp_path / entry["file"])
        onnx.checker.check_model(path, full_check=True)
        g = onnx.load(path)
        assert [i.name for i in g.graph.input] == [i["name"] for i in spec[graph]["inputs"]]
        assert [o.name for o in g.graph.output] == [o["name"] for o in spec[graph]["outputs"]]
        ins = example_inputs(cfg, spec[graph]["inputs"])
        outs = _run(path, {io["name"]: t.numpy() for io, t in zip(spec[graph]["inputs"], ins)})
        assert all(np.all(np.isfinite(o)) for o in outs if o.dtype != np.bool_)
    assert sorted(os.listdir(tmp_path)) == ["denoise.onnx", "prefix.onnx"]  # no temp dirs left behind
