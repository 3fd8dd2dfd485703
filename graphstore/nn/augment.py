"""Training-time data augmentation on device-resident image batches (000 section 4.4.1), each sample drawn apart.

000 trains with "random horizontal flips, random rotations, random affine, color jitter, after which we normalize"
and gives no magnitudes; ours are torchvision's usual ones:
- flip: horizontal flip with probability 0.5;
- rotate: rotation by an angle uniform in [-15, 15] degrees;
- affine: translation uniform in +-10% of each side and scale uniform in [0.9, 1.1];
- jitter: brightness, contrast and (3 channels) saturation factors uniform in [0.8, 1.2], in the stored pixel units
  (the batch is un-normalised with the dataset's normaliser, jittered, and normalised again).
rotate and affine are one bilinear grid_sample per batch; pixels from outside the image are 0 in normalised units
(the channel mean). `paper` = all four. Batches of vectors are refused: the operations are for images.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from graphstore.nn.config import parse_augment

__all__ = ["Augmenter", "parse_augment"]

DEGREES, TRANSLATE, SCALE, JITTER = 15.0, 0.1, (0.9, 1.1), 0.2


@dataclass
class Augmenter:
    """Draws each sample's flip, rotation, affine and jitter from its own generator (seeded: reproducible)."""

    operations: tuple[str, ...]
    generator: torch.Generator
    norm: tuple[torch.Tensor, torch.Tensor] | None = None  # (mult, shift): normalised = stored * mult + shift

    def _uniform(self, n: int, lo: float, hi: float, device: torch.device) -> torch.Tensor:
        return (torch.rand(n, generator=self.generator) * (hi - lo) + lo).to(device)

    def __call__(self, xb: torch.Tensor) -> torch.Tensor:
        if not self.operations:
            return xb
        if xb.ndim != 4:
            raise ValueError("data augmentation applies to image batches (N, C, H, W), not vectors")
        if "jitter" in self.operations:
            xb = self.jitter(xb)
        if "rotate" in self.operations or "affine" in self.operations:
            xb = self.warp(xb)
        if "flip" in self.operations:
            flip = (torch.rand(len(xb), generator=self.generator) < 0.5).to(xb.device)
            xb = torch.where(flip[:, None, None, None], xb.flip(-1), xb)
        return xb

    def warp(self, xb: torch.Tensor) -> torch.Tensor:
        """Per-sample rotation and/or translation + scale as one affine grid_sample."""
        n, device = len(xb), xb.device
        angle = torch.zeros(n, device=device)
        scale, tx, ty = torch.ones(n, device=device), torch.zeros(n, device=device), torch.zeros(n, device=device)
        if "rotate" in self.operations:
            angle = self._uniform(n, -DEGREES, DEGREES, device) * (math.pi / 180)
        if "affine" in self.operations:
            scale = self._uniform(n, *SCALE, device)
            tx = self._uniform(n, -2 * TRANSLATE, 2 * TRANSLATE, device)  # grid units span 2 per side
            ty = self._uniform(n, -2 * TRANSLATE, 2 * TRANSLATE, device)
        cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
        theta = torch.stack([torch.stack([cos, -sin, tx], 1), torch.stack([sin, cos, ty], 1)], 1)
        grid = F.affine_grid(theta, list(xb.shape), align_corners=False)
        return F.grid_sample(xb, grid, mode="bilinear", padding_mode="zeros", align_corners=False)

    def jitter(self, xb: torch.Tensor) -> torch.Tensor:
        """Brightness, contrast and saturation factors in [1 - 0.2, 1 + 0.2], in stored pixel units."""
        n, device = len(xb), xb.device
        x = (xb - self.norm[1]) / self.norm[0] if self.norm is not None else xb
        shape = (n, 1, 1, 1)
        x = x * self._uniform(n, 1 - JITTER, 1 + JITTER, device).view(shape)
        mean = x.mean(dim=(1, 2, 3), keepdim=True)
        x = (x - mean) * self._uniform(n, 1 - JITTER, 1 + JITTER, device).view(shape) + mean
        if x.shape[1] == 3:
            gray = (0.299 * x[:, 0:1] + 0.587 * x[:, 1:2] + 0.114 * x[:, 2:3]).expand_as(x)
            x = (x - gray) * self._uniform(n, 1 - JITTER, 1 + JITTER, device).view(shape) + gray
        return x * self.norm[0] + self.norm[1] if self.norm is not None else x
