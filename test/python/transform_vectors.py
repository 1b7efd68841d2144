"""Reference vectors for @openpi-edge/edge-agent's transforms, computed with numpy and Python sentencepiece.

Each function below transcribes openpi's formula (its normalize and model transforms, openpi commit 15a9616)
with the same numpy dtypes and operation order, so the TypeScript port can be compared bit for bit.

Run from the repo root:  .venv/bin/python test/python/transform_vectors.py
Writes packages/edge-agent/test/transforms/vectors.json (non-finite floats as the strings "NaN", "Infinity",
"-Infinity"; everything else as exact float64 reprs), then formats it with biome as the repo's lint expects.
"""

from __future__ import annotations

import json
import math
import pathlib
import subprocess

import numpy as np
import sentencepiece

ROOT = pathlib.Path(__file__).resolve().parents[2]
OUT = ROOT / "packages/edge-agent/test/transforms/vectors.json"
TOKENIZER_DIR = ROOT / "packages/edge-agent/test/fixtures/tokenizer"

# ---------------------------------------------------------------------------------------------------------------
# openpi formulas


def normalize_zscore(x, mean, std):
    d = x.shape[-1]
    return (x - mean[..., :d]) / (std[..., :d] + 1e-6)


def normalize_quantile(x, q01, q99):
    d = x.shape[-1]
    q01, q99 = q01[..., :d], q99[..., :d]
    return (x - q01) / (q99 - q01 + 1e-6) * 2.0 - 1.0


def pad_to_dim(x, target_dim, value=0.0):
    if x.shape[-1] < target_dim:
        pad_width = [(0, 0)] * len(x.shape)
        pad_width[-1] = (0, target_dim - x.shape[-1])
        return np.pad(x, pad_width, constant_values=value)
    return x


def unnormalize_zscore(x, mean, std):
    mean = pad_to_dim(mean, x.shape[-1], value=0.0)
    std = pad_to_dim(std, x.shape[-1], value=1.0)
    return x * (std + 1e-6) + mean


def unnormalize_quantile(x, q01, q99):
    dim = q01.shape[-1]
    if dim < x.shape[-1]:
        return np.concatenate([(x[..., :dim] + 1.0) / 2.0 * (q99 - q01 + 1e-6) + q01, x[..., dim:]], axis=-1)
    return (x + 1.0) / 2.0 * (q99 - q01 + 1e-6) + q01


def _normalize(x, min_val, max_val):
    return (x - min_val) / (max_val - min_val)


def _unnormalize(x, min_val, max_val):
    return x * (max_val - min_val) + min_val


def gripper_to_angular(value):
    value = _unnormalize(value, min_val=0.01844, max_val=0.05800)

    def linear_to_radian(linear_position, arm_length, horn_radius):
        value = (horn_radius**2 + linear_position**2 - arm_length**2) / (2 * horn_radius * linear_position)
        return np.arcsin(np.clip(value, -1.0, 1.0))

    value = linear_to_radian(value, arm_length=0.036, horn_radius=0.022)
    return _normalize(value, min_val=0.5476, max_val=1.6296)


def gripper_from_angular(value):
    value = value + 0.5476
    return _normalize(value, min_val=-0.6213, max_val=1.4910)


def gripper_from_angular_inv(value):
    value = _unnormalize(value, min_val=-0.6213, max_val=1.4910)
    return value - 0.5476


def joint_flip_mask():
    return np.array([1, -1, -1, 1, 1, 1, 1, 1, -1, -1, 1, 1, 1, 1])


def aloha_decode_state(state):
    state = joint_flip_mask() * state
    state[[6, 13]] = gripper_to_angular(state[[6, 13]])
    return state


def aloha_encode_actions(actions):
    actions = joint_flip_mask() * actions
    actions[:, [6, 13]] = gripper_from_angular(actions[:, [6, 13]])
    return actions


def make_bool_mask(*dims):
    result = []
    for dim in dims:
        result.extend([dim > 0] * abs(dim))
    return tuple(result)


def absolute_actions(actions, state, mask):
    mask = np.asarray(mask)
    dims = mask.shape[-1]
    actions = actions.copy()
    actions[..., :dims] += np.expand_dims(np.where(mask, state[..., :dims], 0), axis=-2)
    return actions


def discretize(state):
    return np.digitize(state, bins=np.linspace(-1, 1, 256 + 1)[:-1]) - 1


def clean(prompt):
    return prompt.strip().replace("_", " ").replace("\n", " ")


def tokenize(sp, prompt, max_len, state=None):
    cleaned = clean(prompt)
    if state is not None:
        state_str = " ".join(map(str, discretize(state)))
        full = f"Task: {cleaned}, State: {state_str};\nAction: "
        tokens = sp.encode(full, add_bos=True)
        text = full
    else:
        tokens = sp.encode(cleaned, add_bos=True) + sp.encode("\n")
        text = cleaned
    n = len(tokens)
    if n < max_len:
        mask = [True] * n + [False] * (max_len - n)
        tokens = tokens + [0] * (max_len - n)
    else:
        tokens = tokens[:max_len]
        mask = [True] * max_len
    return {"tokens": [int(t) for t in tokens], "mask": mask, "text": text, "length": n}


# ---------------------------------------------------------------------------------------------------------------
# JSON helpers


def enc(x):
    """float64 values (or a nested list) as JSON-safe numbers; non-finite as strings."""
    if isinstance(x, np.ndarray):
        return [enc(v) for v in x.tolist()]
    if isinstance(x, list):
        return [enc(v) for v in x]
    if isinstance(x, (float, np.floating)):
        f = float(x)
        if math.isnan(f):
            return "NaN"
        if math.isinf(f):
            return "Infinity" if f > 0 else "-Infinity"
        return f
    if isinstance(x, (np.integer,)):
        return int(x)
    return x


# ---------------------------------------------------------------------------------------------------------------
# Vector sets


def norm_vectors(rng):
    stats = {
        "mean": rng.normal(0, 2, 14),
        "std": rng.uniform(0.01, 3, 14),
        "q01": rng.uniform(-3, -1, 14),
        "q99": rng.uniform(1, 3, 14),
    }
    x14 = rng.normal(0, 2, 14)
    x10 = rng.normal(0, 2, 10)
    y32 = rng.normal(0, 1, (4, 32)).astype(np.float32)  # model output, float32
    return {
        "stats": {k: enc(v) for k, v in stats.items()},
        "x14": enc(x14),
        "x10": enc(x10),
        "zscore_norm_x14": enc(normalize_zscore(x14, stats["mean"], stats["std"])),
        "zscore_norm_x10": enc(normalize_zscore(x10, stats["mean"], stats["std"])),
        "quantile_norm_x14": enc(normalize_quantile(x14, stats["q01"], stats["q99"])),
        "quantile_norm_x10": enc(normalize_quantile(x10, stats["q01"], stats["q99"])),
        "y32": enc(y32.astype(np.float64)),
        "zscore_unnorm_y32": enc(unnormalize_zscore(y32, stats["mean"], stats["std"])),
        "quantile_unnorm_y32": enc(unnormalize_quantile(y32, stats["q01"], stats["q99"])),
        "zscore_unnorm_x14": enc(unnormalize_zscore(x14, stats["mean"], stats["std"])),
        "quantile_unnorm_x14": enc(unnormalize_quantile(x14, stats["q01"], stats["q99"])),
    }


def aloha_vectors(rng):
    grip = np.concatenate([np.linspace(-0.2, 1.2, 29), [0.0, 1.0, 0.5, np.nan]])
    state = rng.normal(0, 1, 14).astype(np.float32)
    state[6], state[13] = 0.3, 0.9
    actions = rng.normal(0, 1, (5, 32)).astype(np.float64)
    return {
        "gripper_in": enc(grip),
        "to_angular": enc(gripper_to_angular(grip.copy())),
        "from_angular": enc(gripper_from_angular(grip.copy())),
        "from_angular_inv": enc(gripper_from_angular_inv(grip.copy())),
        "state_f32": enc(state.astype(np.float64)),
        "decoded_state": enc(aloha_decode_state(state)),
        "actions": enc(actions),
        "encoded_actions": enc(aloha_encode_actions(np.asarray(actions[:, :14]))),
    }


def pipeline_vectors(rng):
    """End-to-end ALOHA (adapt_to_pi, delta mask) for pi0 z-score and pi05 quantile, JAX policy semantics."""
    out = {}
    state = rng.uniform(-1, 1, 14).astype(np.float32)
    state[6], state[13] = np.float32(0.25), np.float32(0.8)
    stats = {
        "mean": rng.normal(0, 0.5, 14),
        "std": rng.uniform(0.1, 1.5, 14),
        "q01": rng.uniform(-2, -1.2, 14),
        "q99": rng.uniform(1.2, 2, 14),
    }
    act_stats = {
        "mean": rng.normal(0, 0.5, 14),
        "std": rng.uniform(0.1, 1.5, 14),
        "q01": rng.uniform(-2, -1.2, 14),
        "q99": rng.uniform(1.2, 2, 14),
    }
    raw = rng.normal(0, 1, (6, 32)).astype(np.float32)
    mask = make_bool_mask(6, -1, 6, -1)
    for mode in ("zscore", "quantile"):
        pi_state = aloha_decode_state(state)
        if mode == "zscore":
            norm = normalize_zscore(pi_state, stats["mean"], stats["std"])
        else:
            norm = normalize_quantile(pi_state, stats["q01"], stats["q99"])
        model_state = pad_to_dim(norm, 32).astype(np.float32)  # jnp.asarray on float64 -> float32 (no x64)
        if mode == "zscore":
            actions = unnormalize_zscore(raw, act_stats["mean"], act_stats["std"])
            out_state = unnormalize_zscore(model_state, stats["mean"], stats["std"])
        else:
            actions = unnormalize_quantile(raw, act_stats["q01"], act_stats["q99"])
            out_state = unnormalize_quantile(model_state, stats["q01"], stats["q99"])
        actions = absolute_actions(actions, out_state, mask)
        final = aloha_encode_actions(np.asarray(actions[:, :14]))
        out[mode] = {
            "normalized_state": enc(norm),
            "model_state": enc(model_state.astype(np.float64)),
            "discretized": enc(discretize(norm)),
            "actions": enc(final),
            "dtype": str(final.dtype),
        }
    out["state_f32"] = enc(state.astype(np.float64))
    out["state_stats"] = {k: enc(v) for k, v in stats.items()}
    out["action_stats"] = {k: enc(v) for k, v in act_stats.items()}
    out["raw_actions_f32"] = enc(raw.astype(np.float64))
    return out


def digitize_vectors():
    edges = np.linspace(-1, 1, 257)[:-1]
    xs = [
        np.nan, -np.inf, np.inf, -1.0000001, -1.0, -0.9921875, np.nextafter(-0.9921875, -2), 0.0, -0.0,
        -1e-17, 1e-17, np.nextafter(0.5, 0), 0.5, 0.9921875, np.nextafter(0.9921875, 0), 0.9999, 1.0, 1.5,
        -0.5, 0.1, 0.3, -2.0,
    ]
    xs += list(edges[::17]) + [np.nextafter(e, -2) for e in edges[1::17]]
    rng = np.random.default_rng(3)
    xs += list(rng.uniform(-1.1, 1.1, 200))
    x = np.array(xs, dtype=np.float64)
    return {"x": enc(x), "bins": enc(discretize(x))}


PROMPTS = [
    "pick up the red cube",
    "  fold_the_towel  ",
    "open the tupperware\nand put the food on the plate",
    "Transfer cube",
    "",
    "   ",
    "Ferme le tiroir, s'il te plaît",
    "把杯子放在桌子上",
    "grab the 🍎 and ☕",
    "\ttab\tseparated\t",
    "multiple   spaces   here",
    "\u3000ideographic space\u3000",
    "\x1cfile separator\x1d",
    "\ufeffbyte order mark",
    "\x85next line\x85",
    "digits 12345 and 6.78",
    "x" * 300,
    "a_b_c\n\nd__e",
]


def tokenizer_vectors(rng):
    out = {}
    for name in ("gemma_like", "unigram"):
        sp = sentencepiece.SentencePieceProcessor(model_file=str(TOKENIZER_DIR / f"{name}.model"))
        states = [
            np.array([-1.0, -0.5, 0.0, 0.5, 0.99, 1.0, 1.5, -1.5, np.nan]),
            rng.uniform(-1, 1, 14),
            np.array([], dtype=np.float64),
        ]
        cases = []
        for prompt in PROMPTS:
            for max_len in (48, 12):
                cases.append({"prompt": prompt, "max_len": max_len, "state": None, **tokenize(sp, prompt, max_len)})
        for i, prompt in enumerate(PROMPTS[:6]):
            state = states[i % len(states)]
            for max_len in (200, 20):
                cases.append(
                    {"prompt": prompt, "max_len": max_len, "state": enc(state), **tokenize(sp, prompt, max_len, state)}
                )
        out[name] = {
            "bos_id": sp.bos_id(),
            "eos_id": sp.eos_id(),
            "plain": [{"text": p, "ids": sp.encode(p)} for p in PROMPTS + ["\n", "Task: x, State: 1 2;\nAction: "]],
            "cases": cases,
        }
    return out


def main():
    rng = np.random.default_rng(20260615)
    vectors = {
        "generator": "test/python/transform_vectors.py",
        "numpy": np.__version__,
        "sentencepiece": sentencepiece.__version__,
        "norm": norm_vectors(rng),
        "aloha": aloha_vectors(rng),
        "pipeline": pipeline_vectors(rng),
        "digitize": digitize_vectors(),
        "tokenizer": tokenizer_vectors(rng),
    }
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(vectors, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    subprocess.run(["pnpm", "exec", "biome", "format", "--write", str(OUT)], cwd=ROOT, check=True, capture_output=True)
    print(f"wrote {OUT.relative_to(ROOT)} ({OUT.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
