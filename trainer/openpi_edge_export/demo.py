"""The demo bundles: tiny random-weight π0/π0.5 (fixed seed) with a tiny sentencepiece tokenizer from spm_train,
for the ALOHA or the UR5 adapter."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from typing import Any, Callable, Dict

import numpy as np

from . import transforms as T
from .config import tiny_config
from .model import Pi0Model, init_random

DEMO_SEED = 1234
DEMO_VOCAB = 400
DEMO_ROBOTS = ("aloha", "ur5")
# A common UR "home", [0, -pi/2, pi/2, -pi/2, -pi/2, 0] rounded to 0.01 rad (examples/ur5/ur5-driver.ts UR5_HOME_POSE).
UR5_HOME_POSE = [0.0, -1.57, 1.57, -1.57, -1.57, 0.0]
UR5_DEMO_PROMPT = "pick up the cube"
DEMO_PROMPTS = [
    "fold the towel",
    "open the tupperware and put the food on the plate",
    "Transfer cube",
    "pick up the red block and place it in the bowl",
    "put the cup on the saucer",
    "do something",
    "stack the blocks",
    "close the drawer",
    "wipe the table with the sponge",
    "hand over the marker to the other arm",
]


def _corpus_lines() -> list:
    lines = list(DEMO_PROMPTS)
    rng = np.random.RandomState(0)
    for p in DEMO_PROMPTS:
        for _ in range(5):
            s = " ".join(str(v) for v in rng.randint(0, 256, size=14))
            lines.append(f"Task: {p}, State: {s};")
            lines.append("Action: ")
    lines += [" ".join(str(i) for i in range(j, 256, 7)) for j in range(7)]
    return lines


def train_tokenizer(out_path: str, vocab_size: int = DEMO_VOCAB) -> None:
    """Trains the demo tokenizer with Debian's `spm_train` (Gemma id layout: pad 0, eos 1, bos 2, unk 3;
    `\\n` a user-defined piece; no dummy prefix; identity normalization; byte fallback for anything else)."""
    exe = shutil.which("spm_train")
    if exe is None:
        raise RuntimeError("spm_train not found: install Debian/Ubuntu package `sentencepiece`")
    with tempfile.TemporaryDirectory() as d:
        corpus = os.path.join(d, "corpus.txt")
        with open(corpus, "w") as f:
            f.write("\n".join(_corpus_lines()) + "\n")
        prefix = os.path.join(d, "tok")
        args = [
            exe,
            # relative names: the trainer spec stored in the .model records them, so bytes stay reproducible
            "--input=corpus.txt",
            "--model_prefix=tok",
            f"--vocab_size={vocab_size}",
            "--model_type=bpe",
            "--character_coverage=1.0",
            "--pad_id=0",
            "--eos_id=1",
            "--bos_id=2",
            "--unk_id=3",
            "--byte_fallback=true",
            "--add_dummy_prefix=false",
            "--normalization_rule_name=identity",
            "--remove_extra_whitespaces=false",
            "--split_digits=true",
            "--hard_vocab_limit=false",
            "--num_threads=1",
            "--user_defined_symbols=\n",
            "--minloglevel=2",
        ]
        subprocess.run(args, check=True, cwd=d, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        shutil.copyfile(prefix + ".model", out_path)


def _stats(mean: np.ndarray, std: np.ndarray) -> Dict[str, Any]:
    return {
        "mean": [round(float(v), 6) for v in mean],
        "std": [round(float(v), 6) for v in std],
        "q01": [round(float(v), 6) for v in mean - 2.5 * std],
        "q99": [round(float(v), 6) for v in mean + 2.5 * std],
    }


def aloha_norm_stats() -> Dict[str, Any]:
    """Synthetic but plausible ALOHA (trossen) stats in pi space: state after AlohaInputs, actions after DeltaActions
    (joint deltas, absolute grippers)."""
    pose = np.array([0.0, -0.96, 1.16, 0.0, -0.3, 0.0])
    flip = T.ALOHA_FLIP
    s_mean = np.concatenate([pose, [0.5], pose, [0.5]]) * flip
    s_std = np.array([0.3, 0.35, 0.35, 0.4, 0.35, 0.6, 0.3] * 2)
    a_mean = np.array([0.0] * 6 + [0.5] + [0.0] * 6 + [0.5])
    a_std = np.array([0.05, 0.06, 0.06, 0.08, 0.07, 0.1, 0.3] * 2)
    return {"state": _stats(s_mean, s_std), "actions": _stats(a_mean, a_std)}


def ur5_norm_stats() -> Dict[str, Any]:
    """Synthetic but plausible UR5 stats in pi space: state = 6 joints (rad) near the home pose + gripper (0 open ..
    1 closed); actions after DeltaActions with mask (6, -1) (joint deltas, absolute gripper). 7 values each."""
    s_mean = np.array(UR5_HOME_POSE + [0.5])
    s_std = np.array([0.4, 0.3, 0.3, 0.35, 0.3, 0.5, 0.4])
    a_mean = np.array([0.0] * 6 + [0.5])
    # Gripper std 0.15: a random-weight model's outputs (|z| up to ~4) stay within the gate's [0, 1] + 0.5 margin.
    a_std = np.array([0.04, 0.04, 0.05, 0.05, 0.05, 0.06, 0.15])
    return {"state": _stats(s_mean, s_std), "actions": _stats(a_mean, a_std)}


def aloha_golden_observation(seed: int) -> Dict[str, Any]:
    """A fixed ALOHA observation: 14-dim qpos near the reset pose, four 224x224 CHW uint8 cameras
    (smooth gradients plus noise), right wrist present, prompt given."""
    rng = np.random.RandomState(seed)
    pose = np.array(T.ALOHA_DEFAULT_RESET_POSE)
    state = np.concatenate([pose, [0.4], pose, [0.7]]) + rng.normal(0, 0.05, 14)
    yy, xx = np.mgrid[0:224, 0:224]
    images = {}
    for i, cam in enumerate(T.ALOHA_CAMERAS):
        chans = [(xx * (c + 1) + yy * (i + 1) * 2 + 40 * c) % 256 for c in range(3)]
        img = np.stack(chans).astype(np.int64) + rng.randint(-8, 9, size=(3, 224, 224))
        images[cam] = np.clip(img, 0, 255).astype(np.uint8)
    return {"state": state.astype(np.float32), "images": images, "prompt": "fold the towel"}


def ur5_golden_observation(seed: int) -> Dict[str, Any]:
    """A fixed observation in openpi's UR5 layout: `joints` float32 [6] near the home pose, `gripper` float32 [1],
    `base_rgb` / `wrist_rgb` uint8 HWC [224, 224, 3] (smooth gradients plus noise), prompt given."""
    rng = np.random.RandomState(seed)
    joints = np.array(UR5_HOME_POSE) + rng.normal(0, 0.05, 6)
    gripper = np.array([0.3]) + rng.normal(0, 0.05, 1)
    yy, xx = np.mgrid[0:224, 0:224]
    images = {}
    for i, cam in enumerate(("base_rgb", "wrist_rgb")):
        chans = [(xx * (c + 1) + yy * (i + 1) * 2 + 40 * c) % 256 for c in range(3)]
        img = np.stack(chans, axis=-1).astype(np.int64) + rng.randint(-8, 9, size=(224, 224, 3))
        images[cam] = np.clip(img, 0, 255).astype(np.uint8)
    return {
        "joints": joints.astype(np.float32),
        "gripper": gripper.astype(np.float32),
        "base_rgb": images["base_rgb"],
        "wrist_rgb": images["wrist_rgb"],
        "prompt": UR5_DEMO_PROMPT,
    }


def build_demo(out_dir: str, *, model_type: str, robot: str = "aloha", log: Callable[[str], None] = print) -> Dict[str, Any]:
    """Writes the demo bundle of `model_type` for `robot`'s adapter into out_dir (the committed ones:
    packages/edge-agent/assets/demo-bundle-{pi0,pi05} for aloha, demo-bundle-ur5 for ur5 with pi0)."""
    from .bundle import write_bundle

    if robot not in DEMO_ROBOTS:
        raise ValueError(f"the demo bundle supports --robot {'|'.join(DEMO_ROBOTS)}, not {robot!r} (it has norm stats and a golden observation for those only)")
    pi05 = model_type == "pi05"
    os.makedirs(out_dir, exist_ok=True)
    tok = os.path.join(out_dir, "tokenizer.model")
    log("training demo tokenizer (spm_train) ...")
    train_tokenizer(tok)
    import sentencepiece as spm

    sp = spm.SentencePieceProcessor()
    sp.Load(tok)
    cfg = tiny_config(pi05=pi05, vocab_size=sp.GetPieceSize())
    model = Pi0Model(cfg).eval()
    init_random(model, DEMO_SEED)
    if robot == "ur5":
        robot_opts = T.robot_options("ur5", delta=True)
        norm_stats = ur5_norm_stats()
        default_prompt = UR5_DEMO_PROMPT
        metadata: Dict[str, Any] = {}
        asset_id = "ur5"
        golden_obs = ur5_golden_observation(DEMO_SEED)
    else:
        robot_opts = T.robot_options("aloha", adapt_to_pi=True, delta=True)
        norm_stats = aloha_norm_stats()
        default_prompt = "fold the towel"
        metadata = {"reset_pose": list(T.ALOHA_DEFAULT_RESET_POSE)}
        asset_id = "trossen"
        golden_obs = aloha_golden_observation(DEMO_SEED)
    return write_bundle(
        model,
        out_dir,
        norm_stats=norm_stats,
        tokenizer_path=tok,
        robot_kind=robot,
        robot_opts=robot_opts,
        default_prompt=default_prompt,
        metadata=metadata,
        provenance={
            "config_name": f"demo_{model_type}_{robot}",
            "checkpoint": None,
            "checkpoint_format": "random",
            "asset_id": asset_id,
            "created_by": "demo",
        },
        golden_obs=golden_obs,
        seed=DEMO_SEED,
        log=log,
    )
