"""ONNX-only fp32 -> fp16 pass (torch 1.13 cannot trace fp16 on CPU): float initializers and constants become fp16
(clipped to +-65504, so the -2.38e38 mask value becomes -65504), Casts to float become Casts to float16, and graph
float inputs/outputs keep float32 through boundary Casts."""

from __future__ import annotations

import os
from typing import Optional

import numpy as np

FP16_MAX = 65504.0


def _to_fp16_tensor(t):  # type: ignore[no-untyped-def]
    from onnx import TensorProto, numpy_helper

    if t.data_type != TensorProto.FLOAT:
        return t
    a = numpy_helper.to_array(t)
    new = numpy_helper.from_array(np.clip(a, -FP16_MAX, FP16_MAX).astype(np.float16), t.name)
    return new


def convert_model_to_fp16(m):  # type: ignore[no-untyped-def]
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
    tail = []
    for out in g.output:
        if out.type.tensor_type.elem_type == TensorProto.FLOAT:
            inner = out.name + "__fp16"
            for node in g.node:
                for j, n in enumerate(node.output):
                    if n == out.name:
                        node.output[j] = inner
                for j, n in enumerate(node.input):
                    if n == out.name:
                        node.input[j] = inner
            tail.append(helper.make_node("Cast", [inner], [out.name], to=TensorProto.FLOAT, name=out.name + "_cast"))
    nodes = new_nodes + list(g.node) + tail
    del g.node[:]
    g.node.extend(nodes)
    return m


def convert_file_to_fp16(path: str) -> Optional[str]:
    """Converts path in place. Returns the external data file name (when the fp16 graph is still over 1.9 GB)."""
    import onnx

    m = onnx.load(path)
    convert_model_to_fp16(m)
    d = os.path.dirname(os.path.abspath(path))
    data_name = os.path.basename(path) + ".data"
    if os.path.exists(os.path.join(d, data_name)):
        os.remove(os.path.join(d, data_name))
    if sum(len(t.raw_data) for t in m.graph.initializer) > 1_900_000_000:
        onnx.save_model(m, path, save_as_external_data=True, all_tensors_to_one_file=True, location=data_name)
        return data_name
    onnx.save_model(m, path)
    return None
