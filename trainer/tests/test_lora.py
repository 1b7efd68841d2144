"""LoRA fine-tunes (openpi models/lora.py): leaves merged into the base weights at export.

The reference is a LoRA model of our own: the tiny model with its unmerged base weights, every Gemma projection
wrapped to add openpi's low-rank term computed from the JAX-layout leaves with openpi's two einsums (written out
here by hand): attention `x·w + s·(x·a)·b`, feed-forward `x·w + (x·a)·b` (no scaling)."""

import copy
import json

import numpy as np
import pytest
import torch

from openpi_edge_export import cli
from openpi_edge_export import lora as L
from openpi_edge_export import weights as W
from openpi_edge_export.bundle import decode_array
from openpi_edge_export.config import IMAGE_SLOTS
from openpi_edge_export.demo import aloha_norm_stats
from openpi_edge_export.model import Pi0Model

from helpers import PREFIX_INPUTS, ort_sample, random_inputs, tiny_model

VOCAB = 400
LLM = "PaliGemma/llm/layers/"


def _sd(m):
    return {k: v.detach().numpy().copy() for k, v in m.state_dict().items()}


def lora_tree(m, rank=4, seed=11, stacks=("", "_1")):
    """The model's JAX tree plus LoRA leaves of openpi's shapes (layer axis first), non-zero, fixed seed."""
    tree = W.torch_to_jax(_sd(m), m.cfg)
    rng = np.random.RandomState(seed)

    def pair(w):
        a = rng.randn(*w.shape[:-1], rank) * (0.3 / np.sqrt(w.shape[-2]))
        b = rng.randn(*w.shape[:-2], rank, w.shape[-1]) * 0.3
        return a.astype(np.float32), b.astype(np.float32)

    for sfx in stacks:
        for name in ("q_einsum", "kv_einsum", "attn_vec_einsum"):
            a, b = pair(tree[f"{LLM}attn/{name}{sfx}/w"])
            tree[f"{LLM}attn/{name}{sfx}/lora_a"], tree[f"{LLM}attn/{name}{sfx}/lora_b"] = a, b
        for name in ("gating_einsum", "linear"):
            a, b = pair(tree[f"{LLM}mlp{sfx}/{name}"])
            tree[f"{LLM}mlp{sfx}/{name}_lora_a"], tree[f"{LLM}mlp{sfx}/{name}_lora_b"] = a, b
    return tree


class _Plus(torch.nn.Module):
    def __init__(self, base, extra):
        super().__init__()
        self.base, self.extra = base, extra

    def forward(self, x):
        return self.base(x) + self.extra(x)


def _wrap_stack(gm, tree, sfx, s, fs):
    """Adds openpi's LoRA terms of stack `sfx` to the Gemma model gm's projections (attention scaled by s, FFN by fs)."""
    T = lambda k: torch.from_numpy(tree[k])  # noqa: E731
    qa, qb = T(f"{LLM}attn/q_einsum{sfx}/lora_a"), T(f"{LLM}attn/q_einsum{sfx}/lora_b")
    kva, kvb = T(f"{LLM}attn/kv_einsum{sfx}/lora_a"), T(f"{LLM}attn/kv_einsum{sfx}/lora_b")
    oa, ob = T(f"{LLM}attn/attn_vec_einsum{sfx}/lora_a"), T(f"{LLM}attn/attn_vec_einsum{sfx}/lora_b")
    ga, gb = T(f"{LLM}mlp{sfx}/gating_einsum_lora_a"), T(f"{LLM}mlp{sfx}/gating_einsum_lora_b")
    la, lb = T(f"{LLM}mlp{sfx}/linear_lora_a"), T(f"{LLM}mlp{sfx}/linear_lora_b")
    for i, layer in enumerate(gm.layers):
        at, mlp = layer.self_attn, layer.mlp

        def q(x, i=i):  # BTD,NDH->BTNH: a BTD,NDL->BTNL; b BTNL,NLH->BTNH
            y = torch.einsum("BTNL,NLH->BTNH", torch.einsum("BTD,NDL->BTNL", x, qa[i]), qb[i])
            return s * y.reshape(x.shape[0], x.shape[1], -1)

        def kv(c, i=i):
            def f(x):  # BSD,2KDH->2BSKH at index c: a BSD,KDL->BSKL; b BSKL,KLH->BSKH
                y = torch.einsum("BSKL,KLH->BSKH", torch.einsum("BSD,KDL->BSKL", x, kva[i, c]), kvb[i, c])
                return s * y.reshape(x.shape[0], x.shape[1], -1)

            return f

        def o(x, i=i):  # BTNH,NHD->BTD: a BTNH,NHL->BTL; b BTL,NLD->BTD (heads summed in both)
            xh = x.reshape(x.shape[0], x.shape[1], oa.shape[1], oa.shape[2])
            return s * torch.einsum("BTL,NLD->BTD", torch.einsum("BTNH,NHL->BTL", xh, oa[i]), ob[i])

        at.q_proj, at.k_proj, at.v_proj, at.o_proj = _Plus(at.q_proj, q), _Plus(at.k_proj, kv(0)), _Plus(at.v_proj, kv(1)), _Plus(at.o_proj, o)
        mlp.gate_proj = _Plus(mlp.gate_proj, lambda x, i=i: fs * ((x @ ga[i, 0]) @ gb[i, 0]))
        mlp.up_proj = _Plus(mlp.up_proj, lambda x, i=i: fs * ((x @ ga[i, 1]) @ gb[i, 1]))
        mlp.down_proj = _Plus(mlp.down_proj, lambda x, i=i: fs * ((x @ la[i]) @ lb[i]))


def lora_reference(m, tree, attn_scale, ffn_scale=None):
    """A LoRA model: the base model with openpi's LoRA terms added, unmerged. attn_scale / ffn_scale: per stack
    suffix ("" llm, "_1" expert) or one number; ffn_scale None = openpi's rule (1)."""
    ref = copy.deepcopy(m)
    per = lambda v, sfx: v[sfx] if isinstance(v, dict) else v  # noqa: E731
    gemmas = {"": ref.paligemma_with_expert.paligemma.model.language_model, "_1": ref.paligemma_with_expert.gemma_expert.model}
    for sfx, gm in gemmas.items():
        if f"{LLM}attn/q_einsum{sfx}/lora_a" in tree:
            _wrap_stack(gm, tree, sfx, per(attn_scale, sfx), 1.0 if ffn_scale is None else per(ffn_scale, sfx))
    return ref.eval()


def _sample(model, cfg, seed=3):
    imgs, im, tok, tm, state, noise = random_inputs(cfg, batch=2, seed=seed)
    with torch.no_grad():
        return model.sample_actions(imgs, im, tok, tm, state, noise).numpy()


def _merged_model(m, merged):
    mm = Pi0Model(m.cfg).eval()
    W.load_state(mm, W.jax_to_torch(merged, m.cfg), "merged")
    return mm


def _maxdiff(a, b):
    return float(np.max(np.abs(a - b)))


def test_merge_equations_follow_openpi():
    """openpi's _make_lora_eqns rule turned into merge equations; attn_vec sums lora_b over the heads."""
    eqs = {k: L.lora_merge_equation(v) for k, v in L.ATTN_EINSUMS.items()}
    assert eqs == {"qkv_einsum": "CKDL,CKLH->CKDH", "q_einsum": "NDL,NLH->NDH", "kv_einsum": "CKDL,CKLH->CKDH", "attn_vec_einsum": "NHL,MLD->NHD"}
    rng = np.random.RandomState(0)
    x = rng.randn(2, 3, 4, 5)  # B T N H
    w, a, b = rng.randn(4, 5, 6), rng.randn(4, 5, 2), rng.randn(4, 2, 6)
    lora = np.einsum("BTL,NLD->BTD", np.einsum("BTNH,NHL->BTL", x, a), b)
    merged = w + np.einsum(eqs["attn_vec_einsum"], a, b)
    np.testing.assert_allclose(np.einsum("BTNH,NHD->BTD", x, merged), np.einsum("BTNH,NHD->BTD", x, w) + lora, atol=1e-10)
    per_head = w + a @ b  # a per-head merge is not what openpi computes for this einsum
    assert _maxdiff(np.einsum("BTNH,NHD->BTD", x, per_head), np.einsum("BTNH,NHD->BTD", x, merged)) > 1.0


@pytest.mark.parametrize("pi05", [False, True], ids=["pi0", "pi05"])
def test_merged_weights_equal_lora_model_and_ffn_is_unscaled(pi05):
    m = tiny_model(pi05, vocab=VOCAB)
    tree = lora_tree(m)
    merged, report = L.merge_lora(tree, {"llm": L.LoraSpec(alpha=8.0), "expert": L.LoraSpec(alpha=6.0, rslora=True)}, log=lambda s: None)
    assert not L.has_lora_leaves(merged)
    assert report["llm"]["rank"] == 4 and report["llm"]["attn_scaling"] == 2.0 and report["llm"]["ffn_scaling"] == 1.0
    assert report["expert"]["attn_scaling"] == 3.0 and report["expert"]["rslora"] is True
    assert f"{LLM}attn/attn_vec_einsum_1/w" in report["expert"]["merged"] and f"{LLM}mlp_1/linear" in report["expert"]["merged"]
    s = {"": 2.0, "_1": 3.0}
    got = _sample(_merged_model(m, merged), m.cfg)
    want = _sample(lora_reference(m, tree, s), m.cfg)
    d = _maxdiff(got, want)
    print(f"merged vs LoRA reference ({'pi05' if pi05 else 'pi0'}, s = 2 / 3): max abs diff {d:.2e}")
    assert d <= 2e-5
    # the references that a wrong rule would match are far away: FFN scaled like attention, attention unscaled
    assert _maxdiff(got, _sample(lora_reference(m, tree, s, ffn_scale=s), m.cfg)) > 1e-2
    assert _maxdiff(got, _sample(lora_reference(m, tree, 1.0), m.cfg)) > 1e-2
    assert _maxdiff(got, _sample(m, m.cfg)) > 1e-2  # and the LoRA terms matter at all


def _write(root, m, tree):
    ck = root / "ckpt"
    ck.mkdir()
    # training-saved layout: "params" root, trailing "value"
    np.savez(ck / "params.npz", **{f"params/{k}/value": v for k, v in tree.items()})
    (root / "assets" / "trossen").mkdir(parents=True)
    (root / "assets" / "trossen" / "norm_stats.json").write_text(json.dumps({"norm_stats": aloha_norm_stats()}))
    mc = root / "model_config.json"
    mc.write_text(json.dumps(m.cfg.to_json()))
    return ck, mc


def _check_bundle(out, m, ref, pi05):
    g = json.loads((out / "golden.json").read_text())
    mi = {k: decode_array(v) for k, v in g["model_inputs"].items()}
    noise = decode_array(g["noise"])
    with torch.no_grad():
        want = ref.sample_actions([torch.from_numpy(mi[s].copy()) for s in IMAGE_SLOTS], torch.from_numpy(mi["image_mask"].copy()),
                                  torch.from_numpy(mi["tokenized_prompt"].copy()), torch.from_numpy(mi["tokenized_prompt_mask"].copy()),
                                  torch.from_numpy(mi["state"].copy()), torch.from_numpy(noise.copy())).numpy()
    d_golden = _maxdiff(decode_array(g["model_actions"]), want)
    got = ort_sample(str(out), {k: mi[k] for k in PREFIX_INPUTS}, mi["state"], noise, g["num_steps"], pi05)
    d_ort = _maxdiff(got, want)
    return d_golden, d_ort


@pytest.mark.parametrize(
    "pi05,flags,scale",
    [(False, [], 1.0), (True, ["--lora-alpha", "8"], 2.0), (False, ["--lora-alpha", "6", "--lora-rank", "4", "--lora-rslora"], 3.0)],
    ids=["pi0-default", "pi05-alpha8", "pi0-rslora"],
)
def test_export_of_lora_checkpoint(tmp_path, tokenizer, capsys, pi05, flags, scale):
    m = tiny_model(pi05, vocab=VOCAB)
    tree = lora_tree(m, seed=21)
    ck, mc = _write(tmp_path, m, tree)
    out = tmp_path / "bundle"
    rc = cli.main(["export", "--config", "my_lora", "--checkpoint", str(ck), "--out", str(out), "--tokenizer", tokenizer,
                   "--robot", "aloha", "--model-config", str(mc), *flags])
    assert rc == 0
    err = capsys.readouterr().err
    assert f"LoRA llm: merged 5 weights" in err and f"attention scaling {scale:g}" in err and "feed-forward unscaled" in err
    prov = json.loads((out / "manifest.json").read_text())["provenance"]["lora"]
    for stack in ("llm", "expert"):
        assert prov[stack]["rank"] == 4 and prov[stack]["attn_scaling"] == pytest.approx(scale) and prov[stack]["ffn_scaling"] == 1.0
        assert len(prov[stack]["merged"]) == 5
    assert prov["llm"]["scaling_source"].startswith("default" if not flags else "--lora-alpha")
    d_golden, d_ort = _check_bundle(out, m, lora_reference(m, tree, scale), pi05)
    print(f"export vs LoRA reference (scaling {scale}): golden {d_golden:.2e}, onnxruntime {d_ort:.2e}")
    assert d_golden <= 2e-5 and d_ort <= 1e-4


def test_bad_lora_leaves_are_named(tmp_path, tokenizer):
    m = tiny_model(False, vocab=VOCAB)
    quiet = lambda s: None  # noqa: E731
    tree = lora_tree(m)
    bad = dict(tree)
    bad[f"{LLM}attn/q_einsum/lora_c"] = np.ones(3, np.float32)
    bad["PaliGemma/img/head/lora_a"] = np.ones(2, np.float32)
    bad[f"{LLM}mlp_1/linear_lora_b"] = bad[f"{LLM}mlp_1/linear_lora_b"][:, :3]  # rank 3 vs lora_a's 4
    del bad[f"{LLM}attn/kv_einsum_1/lora_b"]
    with pytest.raises(W.CheckpointError) as e:
        L.merge_lora(bad, {}, quiet)
    msg = str(e.value)
    assert f"{LLM}attn/q_einsum/lora_c [3]" in msg and "PaliGemma/img/head/lora_a [2]" in msg
    assert f"{LLM}mlp_1/linear_lora_a [2, 64, 4] / {LLM}mlp_1/linear_lora_b [2, 3, 32]" in msg
    assert f"missing (1): {LLM}attn/kv_einsum_1/lora_b (pairs with {LLM}attn/kv_einsum_1/lora_a)" in msg
    # a rank given by flag / openpi config that the leaves do not have
    with pytest.raises(W.CheckpointError, match=r"q_einsum/lora_a.*rank 4 in the checkpoint, rank 8 from --lora-rank"):
        L.merge_lora(tree, {"llm": L.LoraSpec(rank=8, source="--lora-rank")}, quiet)
    # unmerged leaves reaching the loader are named with a pointer to the merge
    with pytest.raises(W.CheckpointError, match=r"(?s)LoRA leaves.*q_einsum/lora_a"):
        W.jax_to_torch(tree, m.cfg)
    # through the CLI
    ck, mc = _write(tmp_path, m, tree)
    args = ["export", "--config", "x", "--checkpoint", str(ck), "--out", str(tmp_path / "b"), "--tokenizer", tokenizer,
            "--robot", "aloha", "--model-config", str(mc)]
    with pytest.raises(W.CheckpointError, match=r"attn_vec_einsum/lora_a.*rank 4 in the checkpoint, rank 2 from --lora-rank 2"):
        cli.main(args + ["--lora-rank", "2"])
    with pytest.raises(ValueError, match="--lora-alpha vision=3: unknown stack 'vision'"):
        cli.main(args + ["--lora-alpha", "vision=3"])


def test_flags_over_openpi_config_field_by_field():
    found = {"llm": L.LoraSpec(alpha=16.0, rank=16, ffn_rank=16, source="openpi's gemma_2b_lora LoRAConfig")}
    logs = []
    specs = L.resolve_specs(found, L.parse_stack_values(["expert=4", "llm=32"], "--lora-alpha", float), {}, None, logs.append)
    assert specs["llm"].alpha == 32.0 and specs["llm"].rank == 16 and "over openpi's gemma_2b_lora" in specs["llm"].source
    assert specs["expert"].alpha == 4.0 and specs["expert"].rank is None
    assert logs == ["LoRA llm: --lora-alpha 32 over openpi's gemma_2b_lora LoRAConfig"]
    assert L.resolve_specs({}, {}, {}, None)["llm"] == L.LoraSpec()
    assert L.scaling_value(16.0, 16, False) == 1.0 and L.scaling_value(8.0, 16, True) == 2.0


GEMMA = {
    "openpi/models/__init__.py": "",
    "openpi/models/gemma.py": '''
        import dataclasses
        @dataclasses.dataclass(frozen=True)
        class LoRAConfig:
            rank: int
            alpha: float = 1.0
            rslora: bool = False
        @dataclasses.dataclass
        class Config:
            lora_configs: dict
        def get_config(variant):
            if variant == "gemma_2b_lora":
                return Config({"attn": LoRAConfig(4, 8.0), "ffn": LoRAConfig(4, 8.0)})
            if variant == "gemma_300m_lora":
                return Config({"attn": LoRAConfig(4, 6.0, rslora=True), "ffn": LoRAConfig(4, 6.0, rslora=True)})
            return Config({})
    ''',
}
REGISTRY = """
_CONFIGS = [TrainConfig("pi0_aloha_lora", Pi0Config(paligemma_variant="gemma_2b_lora", action_expert_variant="gemma_300m_lora"),
                        LeRobotAlohaDataConfig(repo_id="x", assets=AssetsConfig(asset_id="trossen")))]
"""


def test_scaling_from_openpi_config(tmp_path, tokenizer, capsys, fake_openpi_package):
    fake_openpi_package(REGISTRY, GEMMA)
    m = tiny_model(False, vocab=VOCAB)
    tree = lora_tree(m, seed=31)
    ck, mc = _write(tmp_path, m, tree)
    out = tmp_path / "bundle"
    # sizes from --model-config (tiny), the LoRA variants' configs from the registry
    assert cli.main(["export", "--config", "pi0_aloha_lora", "--checkpoint", str(ck), "--out", str(out), "--tokenizer", tokenizer,
                     "--model-config", str(mc)]) == 0
    prov = json.loads((out / "manifest.json").read_text())["provenance"]["lora"]
    assert prov["llm"]["scaling_source"] == "openpi's gemma_2b_lora LoRAConfig" and prov["llm"]["attn_scaling"] == 2.0
    assert prov["expert"]["scaling_source"] == "openpi's gemma_300m_lora LoRAConfig" and prov["expert"]["attn_scaling"] == 3.0
    assert prov["expert"]["rslora"] is True
    d_golden, d_ort = _check_bundle(out, m, lora_reference(m, tree, {"": 2.0, "_1": 3.0}), False)
    print(f"export vs LoRA reference (openpi config: llm 2, expert 3): golden {d_golden:.2e}, onnxruntime {d_ort:.2e}")
    assert d_golden <= 2e-5 and d_ort <= 1e-4
