"""The bench's peer networks (`hpun_edge.peers`): IMDN against the paper's counts, its parts against
the authors' formulation, seeded weights, shapes; the dense-conv references' Multi-Adds."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from hpun_edge.app.artifacts import state_sha256
from hpun_edge.peers import (
    CONV_SPEC, IMDB, IMDN_PAPER, IMDN_SPEC, ContrastChannelAttention, DenseConvReference, conv_multi_adds, create_peer,
)

HR_FRAME = (720, 1280)


def n_params(m: torch.nn.Module) -> int:
    return sum(p.numel() for p in m.parameters())


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_imdn_parameters_match_the_paper(scale):
    # the paper's table: 694K (x2), 703K (x3), 715K (x4); only the upsampling conv (64 -> 3 s^2) differs
    got = n_params(create_peer(IMDN_SPEC.name, scale))
    paper = IMDN_PAPER[scale][0]
    assert abs(got - paper) / paper < 0.01, f"x{scale}: {got} parameters, the paper {paper:.0f}"
    assert got == {2: 694_404, 3: 703_059, 4: 715_176}[scale]  # every conv with a bias, as the authors' code


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_imdn_multi_adds_match_the_paper(scale):
    """Multi-Adds for a 1280x720 HR output (IMDN's convention: weight.numel() x output pixels per conv).
    x3's LR frame is 240 x 426.67: counted at 240x426 and scaled to the paper's 102,400 LR pixels."""
    h, w = HR_FRAME[0] // scale, HR_FRAME[1] // scale
    macs = conv_multi_adds(create_peer(IMDN_SPEC.name, scale), (h, w))
    macs *= HR_FRAME[0] * HR_FRAME[1] / (scale * scale) / (h * w)
    paper = IMDN_PAPER[scale][1]
    assert abs(macs - paper) / paper < 0.01, f"x{scale}: {macs / 1e9:.2f}G, the paper {paper / 1e9:.1f}G"
    if scale == 2:
        assert macs == pytest.approx(158.77e9, rel=1e-4)


def test_multi_adds_count_every_conv_at_its_output_size():
    # the dense reference: one 3x3 conv 64->64 over the map, as its own closed form
    ref = create_peer(CONV_SPEC.name)
    assert conv_multi_adds(ref, (36, 64)) == DenseConvReference.macs((36, 64))
    # IMDN: linear in the pixels but for CCA's 1x1 convs on a 1x1 map (6 blocks x 2 x 64 x 4 weights)
    imdn = create_peer(IMDN_SPEC.name, 2)
    a, b = conv_multi_adds(imdn, (16, 16)), conv_multi_adds(imdn, (32, 32))
    cca = 6 * 2 * 64 * 4
    assert (b - cca) == pytest.approx(4 * (a - cca))
    assert next(imdn.parameters()).device.type == "cpu"  # counted on a copy: the network is untouched


def test_imdn_weights_are_seeded_by_name_and_scale():
    a, b = create_peer(IMDN_SPEC.name, 2), create_peer(IMDN_SPEC.name, 2)
    assert state_sha256(a) == state_sha256(b)
    assert state_sha256(create_peer(IMDN_SPEC.name, 3)) != state_sha256(a)
    torch.manual_seed(123)  # the global generator plays no part
    assert state_sha256(create_peer(IMDN_SPEC.name, 2)) == state_sha256(a)
    # every conv was drawn (no PyTorch default init left): weights with std ~ 1/sqrt(fan_in)
    c1 = a.blocks[0].c1.weight
    assert c1.std().item() == pytest.approx((64 * 9) ** -0.5, rel=0.05)


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_imdn_forward_shapes(scale):
    m = create_peer(IMDN_SPEC.name, scale)
    x = torch.rand(1, 3, 13, 22, generator=torch.Generator().manual_seed(0))  # odd sizes: no unshuffle
    with torch.no_grad():
        y = m(x)
    assert y.shape == (1, 3, 13 * scale, 22 * scale) and torch.isfinite(y).all()
    assert m.spec == IMDN_SPEC and m.scale == scale and m.forward_even == m.forward
    assert IMDN_SPEC.in_channels == 3 and IMDN_SPEC.calibration == "patches"


def test_imdn_structure():
    m = create_peer(IMDN_SPEC.name, 4)
    assert len(m.blocks) == 6
    blk = m.blocks[0]
    shapes = [tuple(c.weight.shape) for c in (blk.c1, blk.c2, blk.c3, blk.c4, blk.fuse)]
    assert shapes == [(64, 64, 3, 3), (64, 48, 3, 3), (64, 48, 3, 3), (16, 48, 3, 3), (64, 64, 1, 1)]
    assert tuple(blk.cca.squeeze.weight.shape) == (4, 64, 1, 1) and tuple(blk.cca.excite.weight.shape) == (64, 4, 1, 1)
    assert tuple(m.collect.weight.shape) == (64, 384, 1, 1) and tuple(m.upsample.weight.shape) == (48, 64, 3, 3)
    assert blk.act.negative_slope == 0.05 and m.act.negative_slope == 0.05


def test_imdb_against_the_authors_formulation():
    """One IMDB written as the authors' code does (stdv_channels with sums, torch.split, cat, CCA)."""
    blk = IMDB().eval()
    x = torch.randn(1, 64, 9, 11, generator=torch.Generator().manual_seed(3))

    def lrelu(t):
        return F.leaky_relu(t, 0.05)

    def stdv(t):
        n = t.size(2) * t.size(3)
        mean = t.sum(3, keepdim=True).sum(2, keepdim=True) / n
        return ((t - mean).pow(2).sum(3, keepdim=True).sum(2, keepdim=True) / n).pow(0.5)

    with torch.no_grad():
        d1, r1 = torch.split(lrelu(blk.c1(x)), (16, 48), dim=1)
        d2, r2 = torch.split(lrelu(blk.c2(r1)), (16, 48), dim=1)
        d3, r3 = torch.split(lrelu(blk.c3(r2)), (16, 48), dim=1)
        out = torch.cat([d1, d2, d3, blk.c4(r3)], dim=1)
        y = stdv(out) + F.adaptive_avg_pool2d(out, 1)
        y = torch.sigmoid(blk.cca.excite(torch.relu(blk.cca.squeeze(y))))
        want = blk.fuse(out * y) + x
        got = blk(x)
    assert torch.allclose(got, want, atol=1e-5), (got - want).abs().max()


def test_cca_scales_each_channel_by_its_contrast():
    cca = ContrastChannelAttention(64)
    x = torch.zeros(1, 64, 4, 4)
    x[:, :, 0, 0] = 4.0  # one bright pixel per channel: mean 0.25, population std sqrt(0.9375)
    with torch.no_grad():
        y = cca(x)
        contrast = torch.full((1, 64, 1, 1), float(x[0, 0].std(unbiased=False) + x[0, 0].mean()))
        gate = torch.sigmoid(cca.excite(torch.relu(cca.squeeze(contrast))))
    assert torch.allclose(y, x * gate)


def test_unknown_peer_lists_the_valid_ones():
    with pytest.raises(ValueError, match="unknown peer network 'edsr'.*imdn"):
        create_peer("edsr")
    with pytest.raises(ValueError, match="IMDN scale 5"):
        create_peer(IMDN_SPEC.name, 5)
