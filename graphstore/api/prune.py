"""`gs.prune`: magnitude pruning, IMP and T-IMP on the Linear and Conv layers of any torch.nn.Module.

    masks = gs.prune.magnitude_masks(model, 0.5, layers="layer*.conv*")   # one step, pure: True = keep
    result = gs.prune.imp(model, train_fn, rounds=3, rate=0.2)            # train_fn(model) -> {"test_acc": ...}
    gs.prune.save_masks(result.masks, "masks.pt")                         # + masks.pt.sha256
    gs.prune.apply_masks(fresh_model, "masks.pt")                         # checked digest, names and shapes

The work is graphstore.pruning.foreign (the rounds) and graphstore.pruning.mask_files (the files); the kernels are
IMP's (graphstore.pruning.imp). Structured, layer and sculpt pruning stay on graphstore's registry models.
"""

from graphstore.pruning.common import PruningError
from graphstore.pruning.foreign import (
    PruneResult,
    PruneRound,
    expected_sparsity,
    imp,
    magnitude_masks,
    masks_held,
    prunable_layers,
    topology_imp,
)
from graphstore.pruning.mask_files import apply_masks, load_masks, save_masks

__all__ = [
    "PruneResult",
    "PruneRound",
    "PruningError",
    "apply_masks",
    "expected_sparsity",
    "imp",
    "load_masks",
    "magnitude_masks",
    "masks_held",
    "prunable_layers",
    "save_masks",
    "topology_imp",
]
