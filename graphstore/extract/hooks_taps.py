"""Where a forward hook reads each recorded value (docs/METHODS.md C1b): the module, which of its calls, what after.

"pre" reads a unit layer's output. "post" follows the fx trace from the layer through norms, dropout and identities
(each the only consumer of the step before) to an elementwise activation: a module is hooked at that call (a
module reused, like resnet's `relu`, is told apart by its call number), a function is applied to the value hooked
before it. With no activation there (a residual add first, the output layer), "post" reads the layer's output.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

import torch
import torch.fx as fx
from torch import nn

from graphstore.errors import GraphstoreError
from graphstore.extract.dataflow_flow import UnitLayer, op_name
from graphstore.extract.hooks_data import close_modules

WHERE = ("pre", "post")
ACTIVATION_MODULES = (
    nn.ReLU, nn.ReLU6, nn.LeakyReLU, nn.PReLU, nn.ELU, nn.SELU, nn.CELU, nn.GELU, nn.SiLU, nn.Mish, nn.Hardswish,
    nn.Hardsigmoid, nn.Hardtanh, nn.Sigmoid, nn.Tanh, nn.Softplus,
)  # fmt: skip
ACTIVATION_OPS = {
    "relu", "relu_", "relu6", "leaky_relu", "leaky_relu_", "elu", "elu_", "selu", "celu", "gelu", "silu", "mish",
    "hardswish", "hardsigmoid", "hardtanh", "hardtanh_", "sigmoid", "sigmoid_", "tanh", "tanh_", "softplus",
}  # fmt: skip
KEEP_MODULES = (
    nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d, nn.SyncBatchNorm, nn.LayerNorm, nn.GroupNorm, nn.InstanceNorm1d,
    nn.InstanceNorm2d, nn.InstanceNorm3d, nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.Dropout3d, nn.AlphaDropout,
    nn.Identity,
)  # fmt: skip
KEEP_OPS = {"dropout", "dropout1d", "dropout2d", "dropout3d", "alpha_dropout", "contiguous", "clone"}


class HookError(GraphstoreError):
    """A layer or latent cannot be recorded through a forward hook."""


@dataclass
class Tap:
    """Where one recorded value is read: the `call`-th call of `module` per forward, then `replay` applied."""

    module: str
    call: int
    replay: list[fx.Node] = field(default_factory=list)
    conv: bool = False
    units: int = 0
    pre: bool = False  # the module's input (the latent "input:NAME"), not its output


def step_kind(gm: fx.GraphModule, node: fx.Node) -> str | None:
    """The kind of a step after a unit: an elementwise activation ("act"), a norm/dropout/identity ("keep"), or None."""
    if node.op == "call_module":
        m = gm.get_submodule(str(node.target))
        return "act" if isinstance(m, ACTIVATION_MODULES) else "keep" if isinstance(m, KEEP_MODULES) else None
    if node.op in ("call_function", "call_method"):
        name = op_name(node)
        return "act" if name in ACTIVATION_OPS else "keep" if name in KEEP_OPS else None
    return None


def post_chain(gm: fx.GraphModule, node: fx.Node) -> list[fx.Node] | None:
    """The steps from a unit node to the activation directly consuming it (through norms/dropout), or None."""
    chain, current = [], node
    while len(current.users) == 1:
        nxt = next(iter(current.users))
        kind = step_kind(gm, nxt) if nxt.all_input_nodes == [current] and nxt.args[:1] == (current,) else None
        if kind is None:
            return None
        chain.append(nxt)
        if kind == "act":
            return chain
        current = nxt
    return None


def call_index(gm: fx.GraphModule, node: fx.Node) -> int:
    """Which call of its module a call_module node is, per forward (fx records calls in execution order)."""
    same = [n for n in gm.graph.nodes if n.op == "call_module" and n.target == node.target]
    return same.index(node)


def unit_tap(gm: fx.GraphModule, name: str, kind: str, units: int, where: str) -> tuple[Tap, str]:
    """The tap reading layer `name` ("pre": its output; "post": its activation's) and what it reads, in words."""
    node = next(n for n in gm.graph.nodes if n.op == "call_module" and n.target == name)
    chain = post_chain(gm, node) if where == "post" else None
    steps = [node, *(chain or [])]
    hooked = max(i for i, n in enumerate(steps) if n.op == "call_module")
    tap = Tap(str(steps[hooked].target), call_index(gm, steps[hooked]), steps[hooked + 1 :], kind == "conv", units)
    if where == "pre":
        return tap, f"{name} output"
    if chain is None:
        return tap, f"{name} output (no activation directly follows)"
    return tap, " -> ".join([name, *(str(n.target) if n.op == "call_module" else op_name(n) for n in chain)])


def replayed(value: torch.Tensor, steps: Sequence[fx.Node]) -> torch.Tensor:
    """Apply the functional steps after the hooked module (on a copy: the model's own tensor stays as it is)."""
    value = value.clone() if steps else value
    for n in steps:
        if n.op == "call_method":
            value = getattr(value, str(n.target))(*n.args[1:], **n.kwargs)
        else:
            value = cast(Callable[..., torch.Tensor], n.target)(value, *n.args[1:], **n.kwargs)
    return value


def unit_values(tap: Tap, out: Any, rows: int) -> torch.Tensor:
    """(rows, units): a conv channel's mean over positions, a Linear feature's mean over tokens."""
    if not isinstance(out, torch.Tensor) or out.ndim < 2 or out.shape[0] != rows:
        got = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
        raise HookError(
            f"Module {tap.module} gives {got} for a batch of {rows}; expected the batch first.",
            "Batch-first inputs only (e.g. batch_first=True for transformer layers).",
        )
    out = replayed(out.detach(), tap.replay).float()
    if tap.conv:  # positions flattened into one axis: the same values as mean(dim=(2, 3)), not slower at 1 x 1 maps
        return out.flatten(2).mean(-1) if out.ndim > 2 else out
    dims = tuple(range(1, out.ndim - 1))
    return out.mean(dim=dims) if dims else out


def hookable(gm: fx.GraphModule, chosen: list[UnitLayer], explicit: bool) -> tuple[list[UnitLayer], list[str]]:
    """The chosen layers a hook can read (modules the trace calls); attention projections are skipped by default
    and refused by name."""
    called = {str(n.target) for n in gm.graph.nodes if n.op == "call_module"}
    skipped = [layer.name for layer in chosen if layer.name not in called]
    if skipped and explicit:
        raise HookError(
            f"{', '.join(skipped)} are computed inside an attention call (nn.MultiheadAttention, swin's "
            "shifted_window_attention): no module output to hook.",
            "Choose the block's Linear modules instead (e.g. the encoder layer's linear1), or leave layers= unset.",
        )
    return [layer for layer in chosen if layer.name in called], skipped


def latent_tap(model: nn.Module, gm: fx.GraphModule | None, latent: str | None) -> tuple[Tap | None, str | None]:
    """The latent's tap: `latent` ("NAME" = its output, "input:NAME" = its input) or the last Linear's input."""
    if latent is None:
        linears = [
            n for n in (gm.graph.nodes if gm is not None else []) if n.op == "call_module"
            and isinstance(gm.get_submodule(str(n.target)), nn.Linear)  # type: ignore[union-attr]
        ]  # fmt: skip
        if not linears:
            return None, None
        return Tap(str(linears[-1].target), call_index(cast(fx.GraphModule, gm), linears[-1]), pre=True), (
            f"input:{linears[-1].target}"
        )
    name = latent.removeprefix("input:")
    try:
        model.get_submodule(name)
    except AttributeError:
        raise HookError(f"No module named {name!r} (latent={latent!r}).", close_modules(model, name)) from None
    return Tap(name, 0, pre=latent.startswith("input:")), latent


def calls_per_forward(gm: fx.GraphModule | None, modules: Sequence[str]) -> dict[str, int]:
    """How often each tapped module runs per forward: its calls in the trace (1 for a module traced through)."""
    nodes = [str(n.target) for n in gm.graph.nodes if n.op == "call_module"] if gm is not None else []
    return {m: nodes.count(m) or 1 for m in dict.fromkeys(modules)}
