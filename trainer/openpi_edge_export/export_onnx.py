"""ONNX export of the prefix and denoise graphs (opset 17, dynamic batch, external data over 2 GB)."""

from __future__ import annotations

import inspect
import os
import shutil
import tempfile
from typing import Any, Callable, Dict, List, Optional, Sequence

import torch
from torch import nn

from .config import IMAGE_SLOTS, ModelConfig
from .model import Pi0Model

OPSET = 17
BATCH = "batch"
# Protobuf's hard limit is 2 GiB; stay clear of it.
EXTERNAL_DATA_THRESHOLD = 1_900_000_000


class PrefixGraph(nn.Module):
    def __init__(self, model: Pi0Model):
        super().__init__()
        self.model = model

    def forward(self, base, left, right, image_mask, tokenized_prompt, tokenized_prompt_mask):  # type: ignore[no-untyped-def]
        return self.model.prefix_kv([base, left, right], image_mask, tokenized_prompt, tokenized_prompt_mask)


class DenoiseGraphPi0(nn.Module):
    def __init__(self, model: Pi0Model):
        super().__init__()
        self.model = model

    def forward(self, x_t, time, state, kv_keys, kv_values, prefix_mask):  # type: ignore[no-untyped-def]
        return self.model.denoise_step(x_t, time, state, kv_keys, kv_values, prefix_mask)


class DenoiseGraphPi05(nn.Module):
    def __init__(self, model: Pi0Model):
        super().__init__()
        self.model = model

    def forward(self, x_t, time, kv_keys, kv_values, prefix_mask):  # type: ignore[no-untyped-def]
        return self.model.denoise_step(x_t, time, None, kv_keys, kv_values, prefix_mask)


def io_spec(cfg: ModelConfig) -> Dict[str, Dict[str, List[Dict[str, Any]]]]:
    """Graph I/O names, dtypes and shapes ("batch" = dynamic axis), as recorded in manifest.json."""
    L, H, A = cfg.max_token_len, cfg.action_horizon, cfg.action_dim
    kv = [cfg.llm.depth, BATCH, cfg.llm.num_kv_heads, cfg.prefix_len, cfg.llm.head_dim]
    s = cfg.vision.image_size
    prefix_in = [{"name": n, "dtype": "uint8", "shape": [BATCH, s, s, 3]} for n in IMAGE_SLOTS]
    prefix_in += [
        {"name": "image_mask", "dtype": "bool", "shape": [BATCH, len(IMAGE_SLOTS)]},
        {"name": "tokenized_prompt", "dtype": "int32", "shape": [BATCH, L]},
        {"name": "tokenized_prompt_mask", "dtype": "bool", "shape": [BATCH, L]},
    ]
    cache = [
        {"name": "kv_keys", "dtype": "float32", "shape": kv},
        {"name": "kv_values", "dtype": "float32", "shape": kv},
        {"name": "prefix_mask", "dtype": "bool", "shape": [BATCH, cfg.prefix_len]},
    ]
    den_in = [
        {"name": "x_t", "dtype": "float32", "shape": [BATCH, H, A]},
        {"name": "time", "dtype": "float32", "shape": [BATCH]},
    ]
    if not cfg.pi05:
        den_in.append({"name": "state", "dtype": "float32", "shape": [BATCH, A]})
    den_in += cache
    return {
        "prefix": {"inputs": prefix_in, "outputs": cache},
        "denoise": {"inputs": den_in, "outputs": [{"name": "v_t", "dtype": "float32", "shape": [BATCH, H, A]}]},
    }


_TORCH_DTYPES = {"uint8": torch.uint8, "bool": torch.bool, "int32": torch.int32, "float32": torch.float32}


def example_inputs(cfg: ModelConfig, spec: Sequence[Dict[str, Any]], batch: int = 2, seed: int = 0) -> List[torch.Tensor]:
    """Valid-looking tensors for tracing (batch 2 so no dimension is specialised to 1)."""
    g = torch.Generator().manual_seed(seed)
    out = []
    for io in spec:
        shape = [batch if d == BATCH else d for d in io["shape"]]
        dt = io["dtype"]
        if dt == "uint8":
            t = torch.randint(0, 256, shape, generator=g, dtype=torch.uint8)
        elif dt == "bool":
            t = torch.ones(shape, dtype=torch.bool)
        elif dt == "int32":
            t = torch.randint(0, cfg.vocab_size, shape, generator=g).to(torch.int32)
        else:
            t = torch.randn(shape, generator=g)
        out.append(t)
    return out


def _export_kwargs() -> Dict[str, Any]:
    params = inspect.signature(torch.onnx.export).parameters
    kw: Dict[str, Any] = {}
    if "dynamo" in params:
        kw["dynamo"] = False  # the TorchScript exporter: same path on torch 1.13 and 2.x
    return kw


def export_graph(
    module: nn.Module,
    cfg: ModelConfig,
    spec: Dict[str, List[Dict[str, Any]]],
    out_path: str,
    *,
    verbose: bool = False,
    after_trace: Optional[Callable[[], None]] = None,
    inputs: Optional[Sequence[torch.Tensor]] = None,
) -> Optional[str]:
    """Exports one graph to out_path. Returns the external data file name (relative) or None.
    after_trace (default None) runs once torch has written the graph, before its data is rewritten into one file
    (the lean exporter frees the weights there). inputs (default: example_inputs of the spec) are the trace's."""
    if inputs is None:
        inputs = example_inputs(cfg, spec["inputs"])
    in_names = [io["name"] for io in spec["inputs"]]
    out_names = [io["name"] for io in spec["outputs"]]
    dyn = {}
    for io in spec["inputs"] + spec["outputs"]:
        axes = {i: BATCH for i, d in enumerate(io["shape"]) if d == BATCH}
        if axes:
            dyn[io["name"]] = axes
    tmpdir = tempfile.mkdtemp(prefix="openpi-edge-export-", dir=os.path.dirname(os.path.abspath(out_path)))
    try:
        tmp = os.path.join(tmpdir, "graph.onnx")
        with torch.no_grad():
            torch.onnx.export(
                module,
                tuple(inputs),
                tmp,
                input_names=in_names,
                output_names=out_names,
                dynamic_axes=dyn,
                opset_version=OPSET,
                do_constant_folding=True,
                verbose=verbose,
                **_export_kwargs(),
            )
        if after_trace is not None:
            after_trace()
        others = [f for f in os.listdir(tmpdir) if f != "graph.onnx"]
        if not others and os.path.getsize(tmp) < EXTERNAL_DATA_THRESHOLD:
            shutil.move(tmp, out_path)
            return None
        data_name = os.path.basename(out_path) + ".data"
        consolidate_external_data(tmp, tmpdir, out_path, data_name, remove_sources=True)
        return data_name
    finally:
        shutil.rmtree(tmpdir, ignore_errors=True)


def consolidate_external_data(src: str, src_dir: str, out_path: str, data_name: str, *, remove_sources: bool = False) -> None:
    """Rewrites a graph so that every initializer lives in one external data file next to out_path.
    Streams tensor by tensor, so peak memory stays near the largest single tensor. remove_sources (default False)
    deletes each source data file once copied, so a 12 GB graph needs about 12 GB of disk, not 24."""
    import onnx
    from onnx import TensorProto

    m = onnx.load(src, load_external_data=False)
    data_path = os.path.join(os.path.dirname(os.path.abspath(out_path)), data_name)
    offset = 0
    refs: Dict[str, int] = {}  # source file -> initializers still to copy from it
    for t in m.graph.initializer:
        for e in t.external_data:
            if e.key == "location":
                refs[e.value] = refs.get(e.value, 0) + 1
    with open(data_path, "wb") as f:
        for t in m.graph.initializer:
            if t.data_location == TensorProto.EXTERNAL:
                info = {e.key: e.value for e in t.external_data}
                src_file = os.path.join(src_dir, info["location"])
                with open(src_file, "rb") as g:
                    g.seek(int(info.get("offset", "0")))
                    n = int(info["length"]) if "length" in info else -1
                    blob = g.read(n)
                refs[info["location"]] -= 1
                if remove_sources and not refs[info["location"]]:
                    os.remove(src_file)
            elif t.raw_data:
                blob = t.raw_data
                t.ClearField("raw_data")
            else:
                continue  # small typed-field tensors stay inline
            pad = (-offset) % 64
            f.write(b"\0" * pad)
            offset += pad
            f.write(blob)
            del t.external_data[:]
            for k, v in (("location", data_name), ("offset", str(offset)), ("length", str(len(blob)))):
                e = t.external_data.add()
                e.key, e.value = k, v
            t.data_location = TensorProto.EXTERNAL
            offset += len(blob)
    with open(out_path, "wb") as f:
        f.write(m.SerializeToString())


def export_model(model: Pi0Model, out_dir: str, *, rtc_guidance: bool = True, log=print) -> Dict[str, Dict[str, Any]]:  # type: ignore[no-untyped-def]
    """Writes prefix.onnx and denoise.onnx (and, with rtc_guidance, default True, guidance.onnx: rtc_export.py)
    into out_dir; returns the manifest's `graphs` entry."""
    cfg = model.cfg
    spec = io_spec(cfg)
    model.eval()
    graphs: Dict[str, Dict[str, Any]] = {}
    den = DenoiseGraphPi05(model) if cfg.pi05 else DenoiseGraphPi0(model)
    for name, mod in (("prefix", PrefixGraph(model)), ("denoise", den)):
        log(f"exporting {name} graph ...")
        path = os.path.join(out_dir, f"{name}.onnx")
        ext = export_graph(mod, cfg, spec[name], path)
        size = os.path.getsize(path) + (os.path.getsize(os.path.join(out_dir, ext)) if ext else 0)
        log(f"  {name}.onnx: {size / 1e6:.1f} MB{' (external data ' + ext + ')' if ext else ''}")
        graphs[name] = {
            "file": f"{name}.onnx",
            "external_data": ext,
            "opset": OPSET,
            "precision": "float32",
            "inputs": spec[name]["inputs"],
            "outputs": spec[name]["outputs"],
        }
    if rtc_guidance:
        from .rtc_export import GUIDANCE_GRAPH, export_guidance

        graphs[GUIDANCE_GRAPH] = export_guidance(model, out_dir, log=log)
    return graphs
