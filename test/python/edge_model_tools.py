"""Model-side helpers for the edge-agent tests and bench, run in the trainer environment (trainer/.venv, torch).
Uses trainer/'s package `openpi_edge_export` (read-only) to build bundles the demo CLI does not offer, and to time
the same model in PyTorch eager. Prints one JSON object on stdout; progress goes to stderr.

  export --robot {aloha,libero,droid} --model-type {pi0,pi05} --size {tiny,deep} --out DIR
      tiny: the demo sizes; deep: "depth-realistic" (18 Gemma layers, reduced widths; see DEEP below).
      Weights: init_random(SEED); tokenizer: the demo's (spm_train); synthetic norm stats of the robot's dims;
      golden file from the trainer's reference (so adapters other than ALOHA get pipeline parity too).
  torch-bench --bundle DIR --threads T --n N [--warmup W]
      rebuilds the bundle's model from manifest.model_config + provenance.seed (same weights as the exported
      graphs), runs its sample_actions on the golden model inputs with torch.set_num_threads(T); prints per-stage
      samples in ms (prefix, each denoise step, total).
"""

import argparse
import json
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "trainer"))

SEED = 1234

# 18 layers like Gemma 2B / 300M, widths cut so a 2-core CPU runs a chunk in about a second.
DEEP = {
    "llm": {"width": 256, "depth": 18, "mlp_dim": 1024, "num_heads": 8, "num_kv_heads": 1, "head_dim": 32},
    "expert": {"width": 128, "depth": 18, "mlp_dim": 512, "num_heads": 8, "num_kv_heads": 1, "head_dim": 32},
    "vision": {"width": 128, "depth": 12, "mlp_dim": 512, "num_heads": 4, "patch_size": 14, "image_size": 224},
}


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def norm_stats_for(state_dim: int, action_dim: int) -> dict:
    rng = np.random.RandomState(7)

    def stats(n: int) -> dict:
        mean = rng.uniform(-0.3, 0.3, n)
        std = rng.uniform(0.05, 0.5, n)
        return {
            "mean": [round(float(v), 6) for v in mean],
            "std": [round(float(v), 6) for v in std],
            "q01": [round(float(v), 6) for v in mean - 2.5 * std],
            "q99": [round(float(v), 6) for v in mean + 2.5 * std],
        }

    return {"state": stats(state_dim), "actions": stats(action_dim)}


def build_config(model_type: str, size: str, vocab: int):
    from openpi_edge_export.config import GemmaConfig, ModelConfig, VisionConfig, tiny_config

    pi05 = model_type == "pi05"
    if size == "tiny":
        return tiny_config(pi05=pi05, vocab_size=vocab)
    return ModelConfig(
        pi05=pi05,
        action_dim=32,
        action_horizon=50,
        max_token_len=200 if pi05 else 48,
        discrete_state_input=pi05,
        vocab_size=vocab,
        llm=GemmaConfig(**DEEP["llm"]),
        expert=GemmaConfig(**DEEP["expert"]),
        vision=VisionConfig(**DEEP["vision"]),
    )


def cmd_export(args) -> dict:
    import sentencepiece as spm
    import torch

    from openpi_edge_export import transforms as T
    from openpi_edge_export.bundle import write_bundle
    from openpi_edge_export.cli import synthetic_observation
    from openpi_edge_export.demo import aloha_norm_stats, train_tokenizer
    from openpi_edge_export.model import Pi0Model, init_random

    torch.set_grad_enabled(False)
    os.makedirs(args.out, exist_ok=True)
    tok = os.path.join(args.out, "tokenizer.model")
    train_tokenizer(tok)
    sp = spm.SentencePieceProcessor()
    sp.Load(tok)
    cfg = build_config(args.model_type, args.size, sp.GetPieceSize())
    model = Pi0Model(cfg).eval()
    init_random(model, SEED)
    opts = T.robot_options(args.robot)
    ns = aloha_norm_stats() if args.robot == "aloha" else norm_stats_for(opts["state_dim"], opts["output_dim"])
    metadata = {"reset_pose": list(T.ALOHA_DEFAULT_RESET_POSE)} if args.robot == "aloha" else {}
    t0 = time.time()
    write_bundle(
        model,
        args.out,
        norm_stats=ns,
        tokenizer_path=tok,
        robot_kind=args.robot,
        robot_opts=opts,
        default_prompt=None,
        metadata=metadata,
        provenance={"config_name": f"test_{args.model_type}_{args.robot}_{args.size}", "checkpoint": None,
                    "checkpoint_format": "random", "asset_id": None, "created_by": "demo"},
        golden_obs=synthetic_observation(args.robot, opts["state_dim"], SEED),
        seed=SEED,
        log=log,
    )
    return {"out": os.path.abspath(args.out), "export_s": time.time() - t0,
            "params": int(sum(p.numel() for p in model.parameters()))}


def golden_array(a: dict) -> np.ndarray:
    import base64

    if "base64" in a:
        return np.frombuffer(base64.b64decode(a["base64"]), dtype=np.uint8).reshape(a["shape"])
    return np.array(a["data"], dtype=a["dtype"]).reshape(a["shape"])


def cmd_torch_bench(args) -> dict:
    import torch

    from openpi_edge_export.config import ModelConfig
    from openpi_edge_export.model import Pi0Model, init_random

    torch.set_grad_enabled(False)
    torch.set_num_threads(args.threads)
    with open(os.path.join(args.bundle, "manifest.json")) as f:
        man = json.load(f)
    with open(os.path.join(args.bundle, "golden.json")) as f:
        g = json.load(f)
    cfg = ModelConfig.from_json(man["model_config"])
    model = Pi0Model(cfg).eval()
    init_random(model, int(man["provenance"]["seed"]))
    mi = {k: torch.from_numpy(np.array(golden_array(v))) for k, v in g["model_inputs"].items()}
    images = [mi[s] for s in man["images"]["slots"]]
    state = mi.get("state") if not cfg.pi05 else None
    noise = torch.from_numpy(golden_array(g["noise"]).astype(np.float32))
    steps = int(man["num_steps"])

    def once():
        t0 = time.perf_counter()
        kk, vv, pm = model.prefix_kv(images, mi["image_mask"], mi["tokenized_prompt"], mi["tokenized_prompt_mask"])
        t1 = time.perf_counter()
        dt = torch.tensor(-1.0 / steps, dtype=torch.float32)
        t = torch.tensor(1.0, dtype=torch.float32)
        x = noise
        step_ms = []
        while t >= -dt / 2:
            s0 = time.perf_counter()
            v = model.denoise_step(x, t.expand(x.shape[0]), state, kk, vv, pm)
            x = x + dt * v
            t = t + dt
            step_ms.append((time.perf_counter() - s0) * 1000)
        return (t1 - t0) * 1000, step_ms, (time.perf_counter() - t0) * 1000, x

    for _ in range(args.warmup):
        once()
    prefix, step, total = [], [], []
    x = None
    for _ in range(args.n):
        p, s, tt, x = once()
        prefix.append(p)
        step.extend(s)
        total.append(tt)
    ref = golden_array(g["model_actions"])
    return {"torch_version": torch.__version__, "threads": torch.get_num_threads(), "prefix_ms": prefix,
            "step_ms": step, "total_ms": total, "max_abs_diff_vs_golden": float(np.abs(x.numpy() - ref).max())}


def main() -> None:
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    e = sub.add_parser("export")
    e.add_argument("--robot", choices=["aloha", "libero", "droid"], default="aloha")
    e.add_argument("--model-type", choices=["pi0", "pi05"], default="pi0")
    e.add_argument("--size", choices=["tiny", "deep"], default="tiny")
    e.add_argument("--out", required=True)
    b = sub.add_parser("torch-bench")
    b.add_argument("--bundle", required=True)
    b.add_argument("--threads", type=int, default=1)
    b.add_argument("--n", type=int, default=5)
    b.add_argument("--warmup", type=int, default=1)
    args = p.parse_args()
    out = cmd_export(args) if args.cmd == "export" else cmd_torch_bench(args)
    json.dump(out, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
