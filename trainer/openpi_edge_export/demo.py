"""The demo bundle: tiny random-weight π0/π0.5 (fixed seed) with a tiny sentencepiece tokenizer from spm_train."""

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


def aloha_norm_stats() -> Dict[str, Any]:
    """Synthetic but plausible ALOHA (trossen) stats in pi space: state after AlohaInputs, actions after DeltaActions
    (joint deltas, absolute grippers)."""
    pose = np.array([0.0, -0.96, 1.16, 0.0, -0.3, 0.0])
    flip = T.ALOHA_FLIP
    s_mean = np.concatenate([pose, [0.5], pose, [0.5]]) * flip
    s_std = np.array([0.3, 0.35, 0.35, 0.4, 0.35, 0.6, 0.3] * 2)
    a_mean = np.array([0.0] * 6 + [0.5] + [0.0] * 6 + [0.5])
    a_std = np.array([0.05, 0.06, 0.06, 0.08, 0.07, 0.1, 0.3] * 2)

    def stats(mean: np.ndarray, std: np.ndarray) -> Dict[str, Any]:
        return {
            "mean": [round(float(v), 6) for v in mean],
            "std": [round(float(v), 6) for v in std],
            "q01": [round(float(v), 6) for v in mean - 2.5 * std],
            "q99": [round(float(v), 6) for v in mean + 2.5 * std],
        }

    return {"state": stats(s_mean, s_std), "actions": stats(a_mean, a_std)}


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


def build_demo(out_dir: str, *, model_type: str, robot: str = "aloha", log: Callable[[str], None] = print) -> Dict[str, Any]:
    from .bundle import write_bundle

    if robot != "aloha":
        raise ValueError("the demo bundle supports --robot aloha only (its norm stats and golden observation are ALOHA's)")
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
    return write_bundle(
        model,
        out_dir,
        norm_stats=aloha_norm_stats(),
        tokenizer_path=tok,
        robot_kind="aloha",
        robot_opts=T.robot_options("aloha", adapt_to_pi=True, delta=True),
        default_prompt="fold the towel",
        metadata={"reset_pose": list(T.ALOHA_DEFAULT_RESET_POSE)},
        provenance={
            "config_name": f"demo_{model_type}_aloha",
            "checkpoint": None,
            "checkpoint_format": "random",
            "asset_id": "trossen",
            "created_by": "demo",
        },
        golden_obs=aloha_golden_observation(DEMO_SEED),
        seed=DEMO_SEED,
        log=log,
    )
