"""Memory-lean export of the two graphs, for models that barely fit in RAM (full-size π0 is 3.24 B params = 13 GB).

Six things keep peak memory near the weights of one graph:
- torch's tracer (`torch.jit._trace.ONNXTracedModule.forward`, torch 1.13) clones every traced input, the
  parameters included, into a list only used with `_return_inputs=True`, which torch.onnx never sets: a full
  second copy of the weights for the length of the trace. `_parameters_not_cloned` makes `Tensor.clone` return the
  parameter itself for the module's parameters while the graph is exported.
- torch.onnx's whole-graph shape inference holds a copy of all weights; it gets an empty parameter map
  (`_shape_inference_without_weights`), the shapes it needs are on the graph inputs.
- `MatMulLinear` stores each Linear weight transposed ([in, out]), so the exporter emits `MatMul(x, W)` on the
  initializer itself. With `nn.Linear` the exporter writes `MatMul(x, Transpose(W))` for 3-D inputs and constant
  folding materialises a transposed copy of every weight while the original is still held: twice the weights.
- Each graph is exported from its own model copy holding only the weights that graph reads; the others are
  replaced by empty tensors and never allocated (the prefix graph has no action expert, the denoise graph no
  SigLIP, projector or PaliGemma LLM). The model is dropped before the next graph.
- For random weights (`full-size`) the skeleton is built without the modules' default initialisation
  (`torch.empty` pages stay untouched until written) and each used parameter is filled in place with a seeded
  normal, so initialisation allocates no temporaries.
- The weights are freed as soon as torch has written them (`after_trace`), before its per-tensor files are merged
  into one `.data` file.

Same math as `model.py`: the graphs' outputs equal the normal export's within float32 rounding (tests/test_lean_export.py).
"""

from __future__ import annotations

import contextlib
import gc
import math
import os
from typing import Any, Callable, Dict, Iterator, List, Optional

import torch
from torch import nn

from .config import ModelConfig
from .export_onnx import OPSET, DenoiseGraphPi0, DenoiseGraphPi05, PrefixGraph, export_graph, io_spec
from .model import Pi0Model

GRAPHS = ("prefix", "denoise")


class MatMulLinear(nn.Module):
    """y = x @ weight_t + bias, weight_t [in_features, out_features] (nn.Linear's weight transposed)."""

    def __init__(self, weight_t: torch.Tensor, bias: Optional[torch.Tensor]):
        super().__init__()
        self.weight_t = nn.Parameter(weight_t, requires_grad=False)
        self.bias = nn.Parameter(bias, requires_grad=False) if bias is not None else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = torch.matmul(x, self.weight_t)
        return y if self.bias is None else y + self.bias


def uses_param(cfg: ModelConfig, graph: str, name: str) -> bool:
    """Whether `graph` ("prefix" | "denoise") reads parameter `name` (a `Pi0Model.state_dict()` key, either layout)."""
    pg = "paligemma_with_expert.paligemma."
    if graph == "prefix":
        # The prefix cache stops before the LLM's final norm (model.prefix_kv).
        return name.startswith(pg) and not name.startswith(pg + "model.language_model.norm.")
    if graph == "denoise":
        return not name.startswith(pg)
    raise ValueError(f"unknown graph {graph!r}; expected one of {GRAPHS}")


@contextlib.contextmanager
def _skip_default_init() -> Iterator[None]:
    """Module constructors leave parameters as uninitialised `torch.empty` (no kaiming pass over 13 GB)."""
    classes = (nn.Linear, nn.Embedding, nn.Conv2d, nn.LayerNorm)
    saved = [(c, c.reset_parameters) for c in classes]
    try:
        for c in classes:
            c.reset_parameters = lambda self: None  # type: ignore[method-assign]
        yield
    finally:
        for c, f in saved:
            c.reset_parameters = f  # type: ignore[method-assign]


def _linears(model: nn.Module) -> List[tuple]:
    return [(parent, child_name, child) for parent in model.modules() for child_name, child in parent.named_children() if isinstance(child, nn.Linear)]


def to_matmul_linears(model: Pi0Model, *, copy_weights: bool = True) -> Pi0Model:
    """Replaces every nn.Linear of `model` (in place) by a MatMulLinear. copy_weights=False allocates the transposed
    weights uninitialised (for a skeleton about to be filled) instead of copying them."""
    for parent, child_name, lin in _linears(model):
        if copy_weights:
            wt = lin.weight.detach().t().contiguous()
            b = lin.bias.detach().clone() if lin.bias is not None else None
        else:
            wt = torch.empty(lin.in_features, lin.out_features)
            b = torch.empty(lin.out_features) if lin.bias is not None else None
        setattr(parent, child_name, MatMulLinear(wt, b))
    return model


def release_unused(model: Pi0Model, graph: str) -> int:
    """Replaces the parameters `graph` does not read by empty tensors; returns the number of elements released."""
    released = 0
    for mod_name, mod in model.named_modules():
        for pname, p in list(mod._parameters.items()):
            if p is None:
                continue
            full = f"{mod_name}.{pname}" if mod_name else pname
            if not uses_param(model.cfg, graph, full):
                released += p.numel()
                mod._parameters[pname] = nn.Parameter(torch.empty(0), requires_grad=False)
    return released


def fill_random_(name: str, p: torch.Tensor, g: torch.Generator) -> None:
    """In-place seeded random values with the scales of `model.init_random` (no temporaries):
    LayerNorm weight ~ 1 + 0.05 N, other norm weights 0.1 N, biases 0.02 N, embeddings small normal,
    matrices N(0, 1/fan_in) (MatMulLinear's fan_in is dim 0 of weight_t)."""
    if "layer_norm" in name or "post_layernorm" in name:
        p.normal_(1.0 if name.endswith("weight") else 0.0, 0.05, generator=g)
    elif name.endswith("norm.weight"):
        p.normal_(0.0, 0.1, generator=g)
    elif name.endswith("bias"):
        p.normal_(0.0, 0.02, generator=g)
    elif name.endswith("embed_tokens.weight"):
        p.normal_(0.0, 0.2 / math.sqrt(p.shape[1]), generator=g)
    elif name.endswith("position_embedding.weight"):
        p.normal_(0.0, 0.02, generator=g)
    else:
        fan_in = p.shape[0] if name.endswith("weight_t") else (p[0].numel() if p.dim() > 1 else p.shape[0])
        p.normal_(0.0, 1.0 / math.sqrt(fan_in), generator=g)


def random_graph_model(cfg: ModelConfig, graph: str, seed: int) -> Pi0Model:
    """A Pi0Model in MatMulLinear layout holding seeded random values in exactly the parameters `graph` reads
    (others empty). The same (seed, name) always gives the same tensor, whichever graph it is built for."""
    with _skip_default_init():
        model = Pi0Model(cfg).eval()
    to_matmul_linears(model, copy_weights=False)
    release_unused(model, graph)
    with torch.no_grad():
        for i, (name, p) in enumerate(sorted(model.named_parameters())):
            if p.numel():
                fill_random_(name, p, torch.Generator().manual_seed(seed * 1_000_003 + i))
    return model


def _free_weights(model: nn.Module) -> None:
    """Drops the storage of every parameter (torch has written them to disk), whoever still holds the module."""
    for p in model.parameters():
        p.data = torch.empty(0)
    gc.collect()


@contextlib.contextmanager
def _shape_inference_without_weights() -> Iterator[None]:
    """torch.onnx's whole-graph shape inference (`_jit_pass_onnx_graph_shape_type_inference`, torch 1.13) is given
    the weights and holds a copy of all of them at once (+4.3 GB for 3.1 GB of weights, measured). It only needs
    their types and shapes, which the graph inputs carry, so the pass gets an empty parameter map (as torch itself
    does when it exports a bare trace graph)."""
    original = torch._C._jit_pass_onnx_graph_shape_type_inference

    def without_weights(graph: Any, params_dict: Any, opset: int) -> Any:
        return original(graph, {}, opset)

    torch._C._jit_pass_onnx_graph_shape_type_inference = without_weights
    try:
        yield
    finally:
        torch._C._jit_pass_onnx_graph_shape_type_inference = original


@contextlib.contextmanager
def _parameters_not_cloned(module: nn.Module) -> Iterator[None]:
    """While active, `t.clone()` of one of `module`'s parameters (matched by storage address) returns `t` itself.
    Nothing in model.py clones a parameter, so only the tracer's unused input copies are affected."""
    ptrs = {p.data_ptr() for p in module.parameters() if p.numel()}  # data_ptr() is not traced; numel() would be
    original = torch.Tensor.clone

    def clone(self: torch.Tensor, *args: Any, **kwargs: Any) -> torch.Tensor:
        if self.data_ptr() in ptrs:
            return self
        return original(self, *args, **kwargs)

    torch.Tensor.clone = clone  # type: ignore[method-assign]
    try:
        yield
    finally:
        torch.Tensor.clone = original  # type: ignore[method-assign]


def _wrapper(model: Pi0Model, graph: str) -> nn.Module:
    if graph == "prefix":
        return PrefixGraph(model)
    return DenoiseGraphPi05(model) if model.cfg.pi05 else DenoiseGraphPi0(model)


def _graph_entry(cfg: ModelConfig, graph: str, ext: Optional[str]) -> Dict[str, Any]:
    spec = io_spec(cfg)[graph]
    return {"file": f"{graph}.onnx", "external_data": ext, "opset": OPSET, "precision": "float32", "inputs": spec["inputs"], "outputs": spec["outputs"]}


def export_lean(
    make_model: Callable[[str], Pi0Model], cfg: ModelConfig, out_dir: str, *, log: Callable[[str], None] = print
) -> Dict[str, Dict[str, Any]]:
    """Exports prefix.onnx then denoise.onnx into out_dir, each from `make_model(graph)` (a model holding at least
    that graph's weights, in either Linear layout), which is dropped before the next graph is built.
    Returns the manifest's `graphs` entry, like export_onnx.export_model."""
    spec = io_spec(cfg)
    graphs: Dict[str, Dict[str, Any]] = {}
    for graph in GRAPHS:
        log(f"{graph}: building weights ...")
        model = make_model(graph)
        if any(isinstance(m, nn.Linear) for m in model.modules()):
            to_matmul_linears(model)
        release_unused(model, graph)
        n = sum(p.numel() for p in model.parameters())
        log(f"{graph}: {n / 1e9:.3f} B parameters; exporting ...")
        path = os.path.join(out_dir, f"{graph}.onnx")
        with _parameters_not_cloned(model), _shape_inference_without_weights():
            ext = export_graph(_wrapper(model, graph), cfg, spec[graph], path, after_trace=lambda: _free_weights(model))
        del model
        gc.collect()
        size = os.path.getsize(path)
        data = os.path.getsize(os.path.join(out_dir, ext)) if ext else 0
        log(f"{graph}: {graph}.onnx {size / 1e6:.1f} MB" + (f" + {ext} {data / 1e6:.1f} MB" if ext else ""))
        graphs[graph] = _graph_entry(cfg, graph, ext)
    return graphs


def lean_copy(model: Pi0Model, graph: str) -> Pi0Model:
    """A MatMulLinear-layout copy of the weights `graph` reads (others empty); `model` is left unchanged."""
    with _skip_default_init():
        lean = Pi0Model(model.cfg).eval()
    to_matmul_linears(lean, copy_weights=False)
    release_unused(lean, graph)
    src = model.state_dict()
    with torch.no_grad():
        for name, p in lean.named_parameters():
            if not p.numel():
                continue
            if name.endswith(".weight_t"):
                p.copy_(src[name[: -len("weight_t")] + "weight"].t())
            else:
                p.copy_(src[name])
    return lean


def export_model_lean(model: Pi0Model, out_dir: str, *, log: Callable[[str], None] = print) -> Dict[str, Dict[str, Any]]:
    """export_lean over per-graph copies of an existing model (peak: `model` plus one graph's weights)."""
    return export_lean(lambda graph: lean_copy(model, graph), model.cfg, out_dir, log=log)


def export_random_lean(cfg: ModelConfig, out_dir: str, seed: int, *, log: Callable[[str], None] = print) -> Dict[str, Dict[str, Any]]:
    """Random-weight export (full-size check): each graph's weights are generated just before its export."""
    return export_lean(lambda graph: random_graph_model(cfg, graph, seed), cfg, out_dir, log=log)
