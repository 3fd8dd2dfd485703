"""000's training augmentation: flips are flips, warps keep the shape, jitter acts in pixel units, seeded."""

from __future__ import annotations

import pytest
import torch

from graphstore.nn.augment import Augmenter
from graphstore.nn.config import TrainConfig, parse_augment


def test_names_parse_and_unknown_ones_are_refused():
    assert parse_augment("") == () and parse_augment("none") == ()
    assert parse_augment("rotate, flip") == ("flip", "rotate")
    assert parse_augment("paper") == ("flip", "rotate", "affine", "jitter")
    with pytest.raises(ValueError, match="unknown augmentation crop"):
        TrainConfig(augment="crop")


def test_flip_flips_about_half_of_the_samples_reproducibly():
    x = torch.arange(400 * 2 * 4 * 4, dtype=torch.float32).reshape(400, 2, 4, 4)
    out = Augmenter(("flip",), torch.Generator().manual_seed(1))(x)
    same = (out == x).flatten(1).all(1)
    flipped = (out == x.flip(-1)).flatten(1).all(1)
    assert bool((same ^ flipped).all()) and 150 < int(flipped.sum()) < 250
    again = Augmenter(("flip",), torch.Generator().manual_seed(1))(x)
    assert torch.equal(out, again)


def test_warp_keeps_shape_and_a_constant_image_inside():
    x = torch.ones(8, 1, 16, 16)
    out = Augmenter(("rotate", "affine"), torch.Generator().manual_seed(0))(x)
    assert out.shape == x.shape and torch.allclose(out[:, :, 7:9, 7:9], torch.ones(8, 1, 2, 2), atol=1e-5)
    assert not torch.equal(out, x)  # border pixels come from outside: 0 in normalised units


def test_jitter_scales_pixel_values_not_normalised_ones():
    mult, shift = torch.tensor(0.5).view(1, 1, 1, 1), torch.tensor(-2.0).view(1, 1, 1, 1)
    pixels = torch.full((64, 1, 4, 4), 4.0)  # a flat image: contrast does nothing, brightness scales it
    out = Augmenter(("jitter",), torch.Generator().manual_seed(0), (mult, shift))(pixels * mult + shift)
    back = (out - shift) / mult
    factor = back[:, 0, 0, 0] / 4.0
    assert bool(((factor >= 0.8 - 1e-6) & (factor <= 1.2 + 1e-6)).all()) and factor.std() > 0.05
    assert torch.allclose(back, back[:, :, :1, :1].expand_as(back))


def test_vectors_are_refused():
    with pytest.raises(ValueError, match="image batches"):
        Augmenter(("flip",), torch.Generator())(torch.zeros(4, 10))
