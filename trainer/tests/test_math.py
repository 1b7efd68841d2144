"""Component math against hand-computed values (openpi pi0.py / gemma.py formulas)."""

import math

import numpy as np
import torch

from openpi_edge_export.model import RMSNorm, apply_rope, gelu_tanh, make_attn_mask, positions_from_mask, posemb_sincos


def test_posemb_sincos_hand_values():
    # dim 4: fraction [0, 1], period [4e-3, 4.0]
    t = torch.tensor([0.0, 0.5])
    e = posemb_sincos(t, 4).numpy()
    w = [2 * math.pi / 4e-3, 2 * math.pi / 4.0]
    want = np.array([[0, 0, 1, 1], [math.sin(0.5 * w[0]), math.sin(0.5 * w[1]), math.cos(0.5 * w[0]), math.cos(0.5 * w[1])]])
    # 0.5 * 2pi / 4e-3 = 785 rad: float32 rounding of the argument allows ~1e-4
    np.testing.assert_allclose(e, want, atol=2e-4)


def test_attn_mask_prefix_and_pi0_suffix():
    # prefix: 2 valid + 1 padding token, all ar 0; suffix state (ar 1) + 2 actions (ar 1, 0)
    valid = torch.tensor([[True, True, False, True, True, True]])
    ar = torch.tensor([0, 0, 0, 1, 1, 0])
    m = make_attn_mask(valid, ar)[0].int().numpy()
    want = np.array(
        [
            [1, 1, 0, 0, 0, 0],
            [1, 1, 0, 0, 0, 0],
            [0, 0, 0, 0, 0, 0],
            [1, 1, 0, 1, 0, 0],  # state sees prefix + itself
            [1, 1, 0, 1, 1, 1],  # actions see prefix, state and all actions
            [1, 1, 0, 1, 1, 1],
        ]
    )
    np.testing.assert_array_equal(m, want)


def test_positions_skip_padding():
    valid = torch.tensor([[True, False, True, True, False, True]])
    np.testing.assert_array_equal(positions_from_mask(valid)[0].numpy(), [0, 0, 1, 2, 2, 3])


def test_rope_rotate_half():
    # head_dim 4: timescales 10000^(0), 10000^(0.5) = 1, 100
    x = torch.tensor([1.0, 2.0, 3.0, 4.0]).reshape(1, 1, 1, 4)
    np.testing.assert_allclose(apply_rope(x, torch.tensor([[0]])).reshape(-1).numpy(), [1, 2, 3, 4], atol=1e-6)
    p = 2.0
    r = apply_rope(x, torch.tensor([[2]])).reshape(-1).numpy()
    a0, a1 = p / 1.0, p / 100.0
    want = [
        1 * math.cos(a0) - 3 * math.sin(a0),
        2 * math.cos(a1) - 4 * math.sin(a1),
        3 * math.cos(a0) + 1 * math.sin(a0),
        4 * math.cos(a1) + 2 * math.sin(a1),
    ]
    np.testing.assert_allclose(r, want, atol=1e-5)


@torch.no_grad()
def test_rmsnorm_one_plus_scale_and_adarms():
    n = RMSNorm(2)
    with torch.no_grad():
        n.weight.copy_(torch.tensor([0.5, -1.0]))
    y, gate = n(torch.tensor([[[3.0, 4.0]]]))
    rms = math.sqrt((9 + 16) / 2 + 1e-6)
    np.testing.assert_allclose(y.reshape(-1).numpy(), [3 / rms * 1.5, 0.0], atol=1e-6)
    assert gate is None
    a = RMSNorm(2, cond_dim=1)
    with torch.no_grad():
        a.dense.weight.zero_()
        a.dense.bias.copy_(torch.tensor([1.0, 0.0, 0.5, 0.5, 2.0, 3.0]))  # scale, shift, gate
    y, gate = a(torch.tensor([[[3.0, 4.0]]]), torch.zeros(1, 1))
    np.testing.assert_allclose(y.reshape(-1).numpy(), [3 / rms * 2 + 0.5, 4 / rms * 1 + 0.5], atol=1e-6)
    np.testing.assert_allclose(gate.reshape(-1).numpy(), [2.0, 3.0])


def test_gelu_tanh_value():
    # tanh-approximate GELU at 1.0 = 0.8411920
    assert abs(gelu_tanh(torch.tensor(1.0)).item() - 0.8411920) < 1e-6
