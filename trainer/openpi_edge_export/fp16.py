"""ONNX-only fp32 -> fp16 pass (torch 1.13 cannot trace fp16 on CPU), keeping model.py's float32 islands.

model.py computes RoPE, the time embedding, RMSNorm and the attention softmax in float32 whatever its compute dtype,
with explicit casts (`to_fp32(x)` into an island, `to_compute(x, dtype)` out of it). In the float32 graph those casts are
float->float no-ops; this pass replays the graph as if the compute dtype were float16 and gives every float value a
region:

- float32 (island): graph float inputs (float32 at the boundary), Cast(int/bool -> float) (positions), a
  float->float Cast of a float16 value (`to_fp32`), and anything computed only from island values;
- float16 (compute): a float->float Cast of an island value (`to_compute`, rewritten to Cast(to=FLOAT16)), anything
  computed from float16 values, and float values computed from no float value at all (token embedding gather, ...).

Initializers and Constant nodes take the region of each consumer (an fp16 copy clipped to +-65504 for fp16 consumers,
so the -2.38e38 mask value is only clipped where it is used in fp16; the fp32 value for island consumers). A node
mixing the two regions is an error, except a rank-0 island input (shape arithmetic such as SigLIP's head_dim**-0.5),
which is cast to fp16 like torch's 0-dim promotion rule; a MatMul/Gemm/Conv in an island is an error too (a missing
cast in model.py would otherwise silently run the model in fp32). Float outputs computed in fp16 get a Cast back to
float32, so graph inputs and outputs stay float32.

`fp32_islands=False` is the pass this module had before the islands (every float op in fp16, graph float inputs
cast to fp16 at the boundary); `precision_report.py` uses it for the "before" figures.
"""

from __future__ import annotations

import os
from typing import Any, Dict, List, Optional, Set, Tuple

import numpy as np

FP16_MAX = 65504.0
HALF, FULL, CONST = "fp16", "fp32", "const"
_WEIGHT_OPS = {"MatMul", "Gemm", "Conv", "ConvTranspose", "MatMulInteger", "Einsum"}


def _to_fp16_tensor(t):  # type: ignore[no-untyped-def]
    from onnx import TensorProto, numpy_helper

    if t.data_type != TensorProto.FLOAT:
        return t
    a = numpy_helper.to_array(t)
    new = numpy_helper.from_array(np.clip(a, -FP16_MAX, FP16_MAX).astype(np.float16), t.name)
    return new


def _convert_all_fp16(m):  # type: ignore[no-untyped-def]
    """Every float initializer, constant and Cast to float becomes fp16; boundary Casts keep the I/O float32."""
    from onnx import TensorProto, helper

    g = m.graph
    for i, t in enumerate(list(g.initializer)):
        if t.data_type == TensorProto.FLOAT:
            g.initializer[i].CopyFrom(_to_fp16_tensor(t))
    for node in g.node:
        for a in node.attribute:
            if node.op_type == "Cast" and a.name == "to" and a.i == TensorProto.FLOAT:
                a.i = TensorProto.FLOAT16
            if a.type == helper.AttributeProto.TENSOR and a.t.data_type == TensorProto.FLOAT:
                a.t.CopyFrom(_to_fp16_tensor(a.t))
    del g.value_info[:]
    new_nodes = []
    for inp in g.input:
        if inp.type.tensor_type.elem_type == TensorProto.FLOAT:
            casted = inp.name + "__fp16"
            for node in g.node:
                for j, n in enumerate(node.input):
                    if n == inp.name:
                        node.input[j] = casted
            new_nodes.append(helper.make_node("Cast", [inp.name], [casted], to=TensorProto.FLOAT16, name=casted + "_cast"))
    nodes = new_nodes + list(g.node) + _output_casts(g, set(o.name for o in g.output))
    del g.node[:]
    g.node.extend(nodes)
    return m


def _output_casts(g, half_outputs: Set[str]) -> List[Any]:  # type: ignore[no-untyped-def]
    """Renames each float16-computed graph output to `<name>__fp16` and returns the Casts back to float32."""
    from onnx import TensorProto, helper

    tail = []
    for out in g.output:
        if out.type.tensor_type.elem_type != TensorProto.FLOAT or out.name not in half_outputs:
            continue
        inner = out.name + "__fp16"
        for node in g.node:
            for j, n in enumerate(node.output):
                if n == out.name:
                    node.output[j] = inner
            for j, n in enumerate(node.input):
                if n == out.name:
                    node.input[j] = inner
        tail.append(helper.make_node("Cast", [inner], [out.name], to=TensorProto.FLOAT, name=out.name + "_cast"))
    return tail


def _value_types(m) -> Dict[str, Tuple[int, int]]:  # type: ignore[no-untyped-def]
    """(elem_type, rank) of every value of m's graph, from ONNX type inference over a weightless copy (initializers
    become typed inputs, so a 12 GB graph is neither copied nor over protobuf's 2 GB limit)."""
    import onnx
    from onnx import helper

    g = m.graph
    ins = list(g.input) + [helper.make_tensor_value_info(t.name, t.data_type, list(t.dims)) for t in g.initializer]
    light = helper.make_model(helper.make_graph(list(g.node), "types", ins, list(g.output)), opset_imports=list(m.opset_import))
    light.ir_version = m.ir_version
    lg = onnx.shape_inference.infer_shapes(light).graph
    out: Dict[str, Tuple[int, int]] = {}
    for v in list(lg.value_info) + list(lg.input) + list(lg.output):
        tt = v.type.tensor_type
        out[v.name] = (tt.elem_type, len(tt.shape.dim) if tt.HasField("shape") else -1)
    return out


def assign_regions(m) -> Tuple[Dict[str, str], List[str]]:  # type: ignore[no-untyped-def]
    """Region (HALF / FULL / CONST) of every float value of the float32 graph m, and each node's compute region
    (HALF or FULL, in graph order); see the module docstring for the rules."""
    from onnx import TensorProto

    g = m.graph
    types = _value_types(m)
    region: Dict[str, str] = {t.name: CONST for t in g.initializer if t.data_type == TensorProto.FLOAT}
    for inp in g.input:
        if inp.type.tensor_type.elem_type == TensorProto.FLOAT and inp.name not in region:
            region[inp.name] = FULL
    node_region: List[str] = []
    for node in g.node:
        if any(a.type in (a.GRAPH, a.GRAPHS) for a in node.attribute):
            raise ValueError(f"fp16 pass: node {node.name!r} ({node.op_type}) has a subgraph; not supported")
        float_outs = [o for o in node.output if o and types.get(o, (0, 0))[0] == TensorProto.FLOAT]
        ins = [region[i] for i in node.input if i in region]
        if node.op_type == "Constant":
            r = CONST
        elif node.op_type == "Cast" and next(a.i for a in node.attribute if a.name == "to") == TensorProto.FLOAT:
            # int/bool -> float: an island input (positions); float -> float: to_fp32 enters, to_compute leaves.
            r = HALF if ins and ins[0] == FULL else FULL
        else:
            live = set(ins) - {CONST}
            if live == {HALF, FULL}:
                bad = [i for i in node.input if region.get(i) == FULL and types.get(i, (0, -1))[1] != 0]
                if bad:
                    raise ValueError(
                        f"fp16 pass: node {node.name!r} ({node.op_type}) mixes float32-island inputs {bad} with float16 "
                        "inputs; model.py must cast explicitly (`to_compute` to leave an island)"
                    )
                r = HALF
            else:
                r = FULL if live == {FULL} else HALF
            if r == FULL and node.op_type in _WEIGHT_OPS:
                raise ValueError(
                    f"fp16 pass: {node.op_type} node {node.name!r} would run in float32 (its input comes from a float32 "
                    "island without a `to_compute` in model.py)"
                )
        node_region.append(r)
        for o in float_outs:
            region[o] = r
    return region, node_region


def _convert_with_islands(m):  # type: ignore[no-untyped-def]
    from onnx import TensorProto, helper

    g = m.graph
    region, node_region = assign_regions(m)
    # The regions that consume each CONST value (initializer or Constant output).
    wants: Dict[str, Set[str]] = {}
    for node, r in zip(g.node, node_region):
        for i in node.input:
            if region.get(i) == CONST:
                wants.setdefault(i, set()).add(r)
    half_name = {name: (name if rs == {HALF} else name + "__fp16") for name, rs in wants.items() if HALF in rs}
    for t in list(g.initializer):
        new = half_name.get(t.name)
        if new == t.name:
            t.CopyFrom(_to_fp16_tensor(t))
        elif new is not None:
            t16 = _to_fp16_tensor(t)
            t16.name = new
            g.initializer.append(t16)
    scalar_casts: Dict[str, str] = {}  # rank-0 island value -> its fp16 cast
    new_nodes = []
    for node, r in zip(g.node, node_region):
        if r == CONST:
            out = node.output[0]
            val = next(a for a in node.attribute if a.name == "value")
            if val.type != val.TENSOR:
                raise ValueError(f"fp16 pass: Constant {node.name!r} holds a float value that is not a tensor")
            new = half_name.get(out)
            if new == out:
                val.t.CopyFrom(_to_fp16_tensor(val.t))
            new_nodes.append(node)
            if new is not None and new != out:
                new_nodes.append(helper.make_node("Constant", [], [new], name=node.name + "__fp16", value=_to_fp16_tensor(val.t)))
            continue
        if r == HALF:
            for j, i in enumerate(node.input):
                if region.get(i) == CONST:
                    node.input[j] = half_name[i]
                elif region.get(i) == FULL and node.op_type != "Cast":
                    if i not in scalar_casts:
                        scalar_casts[i] = i + "__fp16"
                        new_nodes.append(helper.make_node("Cast", [i], [scalar_casts[i]], to=TensorProto.FLOAT16, name=i + "__fp16_cast"))
                    node.input[j] = scalar_casts[i]
            for a in node.attribute:
                if node.op_type == "Cast" and a.name == "to" and a.i == TensorProto.FLOAT:
                    a.i = TensorProto.FLOAT16  # to_compute: leaves an island
                if a.type == helper.AttributeProto.TENSOR and a.t.data_type == TensorProto.FLOAT:
                    a.t.CopyFrom(_to_fp16_tensor(a.t))
        new_nodes.append(node)
    half_outputs = {o.name for o in g.output if region.get(o.name) == HALF}
    del g.value_info[:]
    del g.node[:]
    g.node.extend(new_nodes)
    g.node.extend(_output_casts(g, half_outputs))
    return m


def convert_model_to_fp16(m, *, fp32_islands: bool = True):  # type: ignore[no-untyped-def]
    """Converts an exported float32 ModelProto in place (and returns it). fp32_islands (default True) keeps model.py's
    float32 islands (RoPE, time embedding, RMSNorm, attention softmax); False casts every float op to fp16."""
    return _convert_with_islands(m) if fp32_islands else _convert_all_fp16(m)


def convert_file_to_fp16(path: str, *, fp32_islands: bool = True) -> Optional[str]:
    """Converts path in place. Returns the external data file name (when the fp16 graph is still over 1.9 GB)."""
    import onnx

    m = onnx.load(path)
    convert_model_to_fp16(m, fp32_islands=fp32_islands)
    d = os.path.dirname(os.path.abspath(path))
    data_name = os.path.basename(path) + ".data"
    if os.path.exists(os.path.join(d, data_name)):
        os.remove(os.path.join(d, data_name))
    if sum(len(t.raw_data) for t in m.graph.initializer) > 1_900_000_000:
        onnx.save_model(m, path, save_as_external_data=True, all_tensors_to_one_file=True, location=data_name)
        return data_name
    onnx.save_model(m, path)
    return None
