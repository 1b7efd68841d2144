"""Checkpoint formats: safetensors reader, openpi PyTorch keys, JAX param-tree layout, errors by name."""

import json
import os

import numpy as np
import pytest
import torch

from openpi_edge_export import weights as W

from helpers import tiny_model


def _sd(m):
    return {k: v.detach().numpy().copy() for k, v in m.state_dict().items()}


def test_safetensors_roundtrip_and_bf16(tmp_path):
    p = str(tmp_path / "a.safetensors")
    t = {"x": np.arange(6, dtype=np.float32).reshape(2, 3), "i": np.array([1, 2], dtype=np.int64)}
    W.write_safetensors(p, t)
    back = W.read_safetensors(p)
    np.testing.assert_array_equal(back["x"], t["x"])
    np.testing.assert_array_equal(back["i"], t["i"])
    # BF16 by hand: 1.0 = 0x3F80, -2.5 = 0xC020
    hdr = json.dumps({"b": {"dtype": "BF16", "shape": [2], "data_offsets": [0, 4]}}).encode()
    with open(tmp_path / "b.safetensors", "wb") as f:
        f.write(len(hdr).to_bytes(8, "little") + hdr + bytes([0x80, 0x3F, 0x20, 0xC0]))
    np.testing.assert_array_equal(W.read_safetensors(str(tmp_path / "b.safetensors"))["b"], [1.0, -2.5])
    try:
        import safetensors.numpy as stn
    except ImportError:
        return
    stn.save_file({"z": np.ones((3, 2), np.float32)}, str(tmp_path / "c.safetensors"))
    np.testing.assert_array_equal(W.read_safetensors(str(tmp_path / "c.safetensors"))["z"], np.ones((3, 2)))


def test_truncated_safetensors_is_a_clear_error(tmp_path):
    p = tmp_path / "t.safetensors"
    p.write_bytes((10_000).to_bytes(8, "little") + b"{}")
    with pytest.raises(W.CheckpointError, match="header length 10000 exceeds file size"):
        W.read_safetensors(str(p))


@pytest.mark.parametrize("pi05", [False, True], ids=["pi0", "pi05"])
def test_jax_tree_roundtrip(pi05, tmp_path):
    m = tiny_model(pi05)
    sd = _sd(m)
    tree = W.torch_to_jax(sd, m.cfg)
    if pi05:
        assert "PaliGemma/llm/layers/pre_attention_norm_1/Dense_0/kernel" in tree
        assert "PaliGemma/llm/layers/pre_attention_norm/scale" in tree
    # training-saved trees carry a "params" root and a trailing "value" element
    np.savez(tmp_path / "params.npz", **{f"params/{k}/value": v for k, v in tree.items()})
    m2 = tiny_model(pi05, seed=99)
    W.load_jax_npz(m2, str(tmp_path / "params.npz"), m.cfg)
    for k, v in m2.state_dict().items():
        np.testing.assert_array_equal(v.numpy(), sd[k], err_msg=k)


def test_jax_layout_semantics_match_openpi_einsums():
    """The JAX-layout arrays, applied with openpi's einsum strings, give what our modules compute."""
    m = tiny_model(False)
    tree = W.torch_to_jax(_sd(m), m.cfg)
    lm = m.paligemma_with_expert.paligemma.model.language_model.layers[1]
    x = np.random.RandomState(0).randn(2, 5, m.cfg.llm.width).astype(np.float32)
    xt = torch.from_numpy(x)
    q = np.einsum("BTD,NDH->BTNH", x, tree["PaliGemma/llm/layers/attn/q_einsum/w"][1])
    np.testing.assert_allclose(q.reshape(2, 5, -1), lm.self_attn.q_proj(xt).detach().numpy(), atol=1e-5)
    k, v = np.einsum("BSD,CKDH->CBSKH", x, tree["PaliGemma/llm/layers/attn/kv_einsum/w"][1])
    np.testing.assert_allclose(k.reshape(2, 5, -1), lm.self_attn.k_proj(xt).detach().numpy(), atol=1e-5)
    np.testing.assert_allclose(v.reshape(2, 5, -1), lm.self_attn.v_proj(xt).detach().numpy(), atol=1e-5)
    enc = np.random.RandomState(1).randn(2, 5, 4, 16).astype(np.float32)
    o = np.einsum("BTNH,NHD->BTD", enc, tree["PaliGemma/llm/layers/attn/attn_vec_einsum/w"][1])
    np.testing.assert_allclose(o, lm.self_attn.o_proj(torch.from_numpy(enc.reshape(2, 5, -1))).detach().numpy(), atol=1e-5)
    gate, up = np.einsum("...D,CDF->C...F", x, tree["PaliGemma/llm/layers/mlp/gating_einsum"][1])
    np.testing.assert_allclose(gate, lm.mlp.gate_proj(xt).detach().numpy(), atol=1e-5)
    np.testing.assert_allclose(up, lm.mlp.up_proj(xt).detach().numpy(), atol=1e-5)
    # SigLIP patch embedding: flax conv kernel [14, 14, 3, W] over an NHWC patch
    img = np.random.RandomState(2).randn(1, 224, 224, 3).astype(np.float32)
    emb = m.paligemma_with_expert.paligemma.model.vision_tower.vision_model.embeddings
    conv = emb.patch_embedding(torch.from_numpy(img).permute(0, 3, 1, 2)).detach().numpy()
    kern = tree["PaliGemma/img/embedding/kernel"]
    patch = img[0, 14:28, 28:42, :]  # row 1, column 2 of the patch grid
    want = np.einsum("hwc,hwcd->d", patch, kern) + tree["PaliGemma/img/embedding/bias"]
    np.testing.assert_allclose(conv[0, :, 1, 2], want, atol=1e-4)


def test_wrong_weights_are_reported_by_name():
    m = tiny_model(False)
    sd = _sd(m)
    bad = dict(sd)
    del bad["action_in_proj.bias"]
    bad["state_proj.weight"] = np.zeros((3, 3), np.float32)
    bad["some.extra.weight"] = np.zeros(2, np.float32)
    bad["paligemma_with_expert.gemma_expert.lm_head.weight"] = np.zeros(2, np.float32)
    with pytest.raises(W.CheckpointError) as e:
        W.load_state(tiny_model(False), bad, "ckpt")
    msg = str(e.value)
    assert "missing (1): action_in_proj.bias" in msg
    assert "state_proj.weight: checkpoint [3, 3] vs model [32, 32]" in msg
    assert "some.extra.weight" in msg and "lm_head" not in msg
    assert e.value.missing == ["action_in_proj.bias"]
    # a pi0 tree loaded as pi05 names the JAX paths
    tree = W.torch_to_jax(sd, m.cfg)
    with pytest.raises(W.CheckpointError, match="time_mlp_in/kernel"):
        W.jax_to_torch(tree, tiny_model(True).cfg)


def test_not_a_checkpoint(tmp_path):
    (tmp_path / "readme.txt").write_text("x")
    with pytest.raises(W.CheckpointError, match=r"expected model.safetensors .* found \['readme.txt'\]"):
        W.detect_format(str(tmp_path))
    with pytest.raises(W.CheckpointError, match="no such checkpoint"):
        W.detect_format(str(tmp_path / "nope"))


@pytest.mark.parametrize("layers", [1, 3], ids=["fewer", "more"])
def test_layer_count_mismatch_is_reported_by_name(layers):
    """A JAX tree with another depth than the model's is a CheckpointError naming the arrays and the counts
    (fewer layers used to be an IndexError, more were silently dropped)."""
    m = tiny_model(False)
    tree = W.torch_to_jax(_sd(m), m.cfg)
    bad = {}
    for k, v in tree.items():
        if k.startswith("PaliGemma/llm/layers/"):
            v = v[:layers] if layers < len(v) else np.concatenate([v, v[-1:]])
        bad[k] = v
    with pytest.raises(W.CheckpointError) as e:
        W.jax_to_torch(bad, m.cfg)
    msg = str(e.value)
    which = "layer 1 missing" if layers == 1 else "layer 2 unexpected"
    q = "PaliGemma/llm/layers/attn/q_einsum/w"
    assert f"{q} [{layers}, 4, 64, 16]: {layers} layers, the model has 2 ({which})" in msg
    assert f"PaliGemma/llm/layers/mlp_1/linear [{layers}, 64, 32]: {layers} layers, the model has 2 ({which})" in msg
    assert f"layer counts under PaliGemma/llm/layers: {layers} (14 arrays); the model has 2" in msg
    assert len(e.value.mismatched) == 14 and not e.value.missing and not e.value.unexpected
    # a stacked array without its layer axis is named too (no numpy error from the per-layer slicing)
    bad = dict(tree)
    bad["PaliGemma/img/Transformer/encoderblock/LayerNorm_0/scale"] = tree["PaliGemma/img/Transformer/encoderblock/LayerNorm_0/scale"][0]
    with pytest.raises(W.CheckpointError, match=r"encoderblock/LayerNorm_0/scale \[32\]: 1 axes, expected 2 \(layer axis first\)"):
        W.jax_to_torch(bad, m.cfg)
    # the PyTorch layout names the layers by key already; the message adds the counts
    sd = _sd(m)
    pre = W.E + "layers."
    sd.update({k.replace(pre + "1.", pre + "2."): v for k, v in sd.items() if k.startswith(pre + "1.")})
    with pytest.raises(W.CheckpointError, match=r"(?s)gemma_expert.model.layers: 3 layers in the checkpoint, the model has 2.*unexpected.*layers\.2\."):
        W.load_state(tiny_model(False), sd, "ckpt")
