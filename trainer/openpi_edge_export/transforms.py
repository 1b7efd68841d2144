"""Host-side transforms of openpi's `Policy.infer` (numpy), used to build the golden file.

Robot adapters (ALOHA, LIBERO, DROID, UR5), z-score / quantile normalization, PaliGemma-style tokenization.
Constants from openpi `aloha_policy.py`, `transforms.py`, `models/tokenizer.py`.
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np

ALOHA_FLIP = np.array([1, -1, -1, 1, 1, 1, 1, 1, -1, -1, 1, 1, 1, 1], dtype=np.float64)
ALOHA_CAMERAS = ("cam_high", "cam_low", "cam_left_wrist", "cam_right_wrist")
# Delta masks, openpi `make_bool_mask(6, -1, 6, -1)` and `(6, -1)`.
ALOHA_DELTA_MASK = [True] * 6 + [False] + [True] * 6 + [False]
SEVEN_DOF_DELTA_MASK = [True] * 6 + [False]
ALOHA_DEFAULT_RESET_POSE = [0.0, -0.96, 1.16, 0.0, -0.3, 0.0]


def _normalize(x, lo, hi):  # type: ignore[no-untyped-def]
    return (x - lo) / (hi - lo)


def _unnormalize(x, lo, hi):  # type: ignore[no-untyped-def]
    return x * (hi - lo) + lo


def gripper_to_angular(v: np.ndarray) -> np.ndarray:
    a = _unnormalize(v, 0.01844, 0.05800)
    r = np.arcsin(np.clip((0.022**2 + a**2 - 0.036**2) / (2 * 0.022 * a), -1.0, 1.0))
    return _normalize(r, 0.5476, 1.6296)


def gripper_from_angular(v: np.ndarray) -> np.ndarray:
    return _normalize(v + 0.5476, -0.6213, 1.4910)


def robot_options(kind: str, *, adapt_to_pi: bool = True, delta: bool = True) -> Dict[str, Any]:
    """Adapter options recorded in manifest.robot.options (see docs/bundle-format.md). `none` is 32 wide here
    (openpi's action_dim); the exporter sets it to the model's action_dim (cli.cmd_export)."""
    if kind == "aloha":
        return {"adapt_to_pi": adapt_to_pi, "delta_action_mask": ALOHA_DELTA_MASK if delta else None, "state_dim": 14, "output_dim": 14}
    if kind == "libero":
        return {"delta_action_mask": SEVEN_DOF_DELTA_MASK if delta else None, "state_dim": 8, "output_dim": 7}
    if kind == "droid":
        return {"delta_action_mask": None, "state_dim": 8, "output_dim": 8}
    if kind == "ur5":
        return {"delta_action_mask": SEVEN_DOF_DELTA_MASK if delta else None, "state_dim": 7, "output_dim": 7}
    if kind == "none":
        return {"delta_action_mask": None, "state_dim": 32, "output_dim": 32}
    raise ValueError(f"unknown robot kind {kind!r}; expected aloha|libero|droid|ur5|none")


def _hwc_u8(img: np.ndarray, chw: bool) -> np.ndarray:
    if np.issubdtype(img.dtype, np.floating):
        img = (255 * img).astype(np.uint8)
    if chw or (img.ndim == 3 and img.shape[0] == 3):
        img = np.transpose(img, (1, 2, 0))
    return img


def robot_inputs(kind: str, options: Dict[str, Any], obs: Dict[str, Any]) -> Dict[str, Any]:
    """Robot observation -> {state, image{slot}, image_mask{slot}, prompt?} (openpi *Inputs)."""
    out: Dict[str, Any] = {}
    if kind == "aloha":
        images = obs["images"]
        bad = set(images) - set(ALOHA_CAMERAS)
        if bad:
            raise ValueError(f"unexpected ALOHA cameras {sorted(bad)}; expected a subset of {ALOHA_CAMERAS}")
        base = _hwc_u8(images["cam_high"], True)
        slots = {"base_0_rgb": base}
        masks = {"base_0_rgb": True}
        for cam, slot in (("cam_left_wrist", "left_wrist_0_rgb"), ("cam_right_wrist", "right_wrist_0_rgb")):
            if cam in images:
                slots[slot], masks[slot] = _hwc_u8(images[cam], True), True
            else:
                slots[slot], masks[slot] = np.zeros_like(base), False
        state = np.asarray(obs["state"], dtype=np.float64)
        if options.get("adapt_to_pi", True):
            state = ALOHA_FLIP * state
            state[[6, 13]] = gripper_to_angular(state[[6, 13]])
        out = {"state": state, "image": slots, "image_mask": masks}
    else:
        if kind == "libero":
            base, wrist, state = obs["observation/image"], obs["observation/wrist_image"], obs["observation/state"]
        elif kind == "droid":
            base, wrist = obs["observation/exterior_image_1_left"], obs["observation/wrist_image_left"]
            state = np.concatenate([np.asarray(obs["observation/joint_position"]), np.atleast_1d(obs["observation/gripper_position"])])
        elif kind == "ur5":
            base, wrist = obs["base_rgb"], obs["wrist_rgb"]
            state = np.concatenate([np.asarray(obs["joints"]), np.atleast_1d(obs["gripper"])])
        else:
            raise ValueError(f"robot_inputs: unsupported kind {kind!r}")
        b = _hwc_u8(np.asarray(base), False)
        out = {
            "state": np.asarray(state, dtype=np.float64),
            "image": {"base_0_rgb": b, "left_wrist_0_rgb": _hwc_u8(np.asarray(wrist), False), "right_wrist_0_rgb": np.zeros_like(b)},
            "image_mask": {"base_0_rgb": True, "left_wrist_0_rgb": True, "right_wrist_0_rgb": False},
        }
    if "prompt" in obs:
        out["prompt"] = obs["prompt"]
    return out


def robot_outputs(kind: str, options: Dict[str, Any], actions: np.ndarray, state: np.ndarray) -> np.ndarray:
    """Unnormalized model actions [H, action_dim] -> robot actions: AbsoluteActions then the *Outputs adapter.
    `state` is the adapter-space state before normalization."""
    actions = np.array(actions, dtype=np.float64)
    mask = options.get("delta_action_mask")
    if mask is not None:
        m = np.asarray(mask, dtype=bool)
        d = m.shape[0]
        actions[:, :d] += np.where(m, state[:d], 0.0)[None, :]
    out = actions[:, : options["output_dim"]]
    if kind == "aloha" and options.get("adapt_to_pi", True):
        out = ALOHA_FLIP * out
        out[:, [6, 13]] = gripper_from_angular(out[:, [6, 13]])
    return out


def normalize(x: np.ndarray, stats: Dict[str, Any], mode: str) -> np.ndarray:
    d = x.shape[-1]
    if mode == "zscore":
        return (x - np.asarray(stats["mean"])[:d]) / (np.asarray(stats["std"])[:d] + 1e-6)
    q01, q99 = np.asarray(stats["q01"])[:d], np.asarray(stats["q99"])[:d]
    return (x - q01) / (q99 - q01 + 1e-6) * 2.0 - 1.0


def unnormalize(x: np.ndarray, stats: Dict[str, Any], mode: str) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    d = x.shape[-1]
    if mode == "zscore":
        mean = np.zeros(d)
        std = np.ones(d)
        m, s = np.asarray(stats["mean"]), np.asarray(stats["std"])
        mean[: m.shape[0]], std[: s.shape[0]] = m[:d], s[:d]
        return x * (std + 1e-6) + mean
    q01, q99 = np.asarray(stats["q01"]), np.asarray(stats["q99"])
    n = q01.shape[0]
    out = x.copy()
    out[..., :n] = (x[..., :n] + 1.0) / 2.0 * (q99 - q01 + 1e-6) + q01
    return out


def pad_to_dim(x: np.ndarray, target: int) -> np.ndarray:
    if x.shape[-1] >= target:
        return x
    return np.concatenate([x, np.zeros(x.shape[:-1] + (target - x.shape[-1],), dtype=x.dtype)], axis=-1)


def discretize_state(state: np.ndarray) -> np.ndarray:
    """openpi: digitize(state, linspace(-1, 1, 257)[:-1]) - 1 (NaN and >= 1 -> 255, < -1 -> -1)."""
    return np.digitize(state, bins=np.linspace(-1, 1, 256 + 1)[:-1]) - 1


def clean_prompt(prompt: str) -> str:
    return prompt.strip().replace("_", " ").replace("\n", " ")


def prompt_text(prompt: str, state: Optional[np.ndarray], discrete_state: bool) -> str:
    """The exact text handed to the tokenizer (pi05 with discrete state); pi0 format uses the cleaned prompt."""
    cleaned = clean_prompt(prompt)
    if not discrete_state:
        return cleaned
    assert state is not None
    s = " ".join(str(int(v)) for v in discretize_state(state))
    return f"Task: {cleaned}, State: {s};\nAction: "


def tokenize(sp: Any, prompt: str, max_len: int, state: Optional[np.ndarray], discrete_state: bool) -> Tuple[np.ndarray, np.ndarray, str]:
    """PaligemmaTokenizer.tokenize: returns (ids int32 [max_len], mask bool [max_len], text)."""
    text = prompt_text(prompt, state, discrete_state)
    if discrete_state:
        ids: List[int] = [sp.bos_id()] + list(sp.encode(text))
    else:
        ids = [sp.bos_id()] + list(sp.encode(text)) + list(sp.encode("\n"))
    ids = ids[:max_len]
    mask = [True] * len(ids) + [False] * (max_len - len(ids))
    ids = ids + [0] * (max_len - len(ids))
    return np.asarray(ids, dtype=np.int32), np.asarray(mask, dtype=bool), text


def model_inputs(
    kind: str,
    options: Dict[str, Any],
    obs: Dict[str, Any],
    norm_stats: Dict[str, Any],
    mode: str,
    sp: Any,
    *,
    max_len: int,
    action_dim: int,
    discrete_state: bool,
    default_prompt: Optional[str],
    slots: Sequence[str],
) -> Tuple[Dict[str, np.ndarray], np.ndarray, str]:
    """Full input pipeline for batch 1. Returns (model inputs, adapter-space state, prompt text).
    Images must already be at the model resolution (resize-with-pad is the identity then)."""
    data = robot_inputs(kind, options, obs)
    prompt = data.get("prompt", default_prompt)
    if prompt is None:
        raise ValueError("Prompt is required")
    raw_state = data["state"]
    state = normalize(raw_state, norm_stats["state"], mode)
    ids, mask, text = tokenize(sp, str(prompt), max_len, state, discrete_state)
    out = {slot: data["image"][slot][None] for slot in slots}
    out["image_mask"] = np.asarray([[data["image_mask"][s] for s in slots]], dtype=bool)
    out["tokenized_prompt"] = ids[None]
    out["tokenized_prompt_mask"] = mask[None]
    out["state"] = pad_to_dim(state, action_dim).astype(np.float32)[None]
    return out, raw_state, text
