"""Models nobody here wrote, named on the command line: `--model MODULE:CALLABLE [--model-opt k=v] --weights FILE`.

The callable (a class or a function, e.g. torchvision.models:resnet18 or mypkg.nets:Net) is imported with
importlib and called with the --model-opt values, each parsed as a Python literal where it parses (10, 0.5, True,
(3, 3), 'text') and kept as text otherwise. The module it returns gets the weights of FILE
(graphstore.nn.weights_file), after a check that names the first key whose shape differs and the keys missing or
unexpected. `ingest --model` uses this, and so can any command that takes a foreign model (prune imp/topology).
"""

from __future__ import annotations

import ast
import difflib
import importlib
import inspect
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from graphstore import params as P
from graphstore.errors import GraphstoreError
from graphstore.nn.weights_file import WeightsError, WeightsFile, first_line, read_weights

PATH_HINT = (
    "Check the spelling, and that the package is installed in this environment or its folder is on PYTHONPATH "
    "(the current folder is not searched)."
)


class ForeignError(GraphstoreError):
    """A MODULE:CALLABLE does not import, is not callable, raises, or does not build what was asked."""


@dataclass
class ForeignModel:
    """A model built by a MODULE:CALLABLE with options, holding the weights of a file."""

    model: nn.Module
    source: str
    options: dict[str, Any]
    weights: WeightsFile
    extra: dict[str, Any] = field(default_factory=dict)

    def record(self) -> dict[str, Any]:
        """What a run records beside the model itself: its options and the weights file (path, format, digest)."""
        return {"model_options": {k: repr(v) for k, v in self.options.items()}, "weights": self.weights.record()}


def literal(text: str) -> Any:
    """A Python literal when `text` is one (10, 0.5, True, None, (3, 3), 'a'), else the text itself."""
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return text


def parse_options(items: Iterable[str], flag: str) -> dict[str, Any]:
    """KEY=VALUE items as keyword arguments, values parsed as Python literals where they parse."""
    return {k: literal(v) for k, v in P.parse_assignments(items, flag).items()}


def import_callable(spec: str, flag: str = "--model") -> Callable[..., Any]:
    """The callable `MODULE:NAME` (NAME may be dotted) names; each way it can fail is named with the fix."""
    module_name, sep, attr = spec.partition(":")
    if not sep or not module_name.strip() or not attr.strip():
        raise ForeignError(f"{flag} {spec!r} is not MODULE:CALLABLE.", f"Example: {flag} torchvision.models:resnet18")
    try:
        target: Any = importlib.import_module(module_name.strip())
    except (Exception, SystemExit) as exc:  # noqa: BLE001 - any error while importing the user's module
        raise ForeignError(
            f"Cannot import module {module_name!r} ({flag} {spec}): {type(exc).__name__}: {first_line(exc)}",
            PATH_HINT,
        ) from None
    where = module_name
    for part in attr.strip().split("."):
        if not hasattr(target, part):
            public = [n for n in dir(target) if not n.startswith("_")]
            close = difflib.get_close_matches(part, public, n=5, cutoff=0.5)
            raise ForeignError(
                f"{where} has no attribute {part!r} ({flag} {spec}).",
                f"Close names: {', '.join(close)}." if close else f"Names in {where}: {', '.join(public[:15])}.",
            )
        target, where = getattr(target, part), f"{where}.{part}"
    if not callable(target):
        raise ForeignError(
            f"{flag} {spec} is a {type(target).__name__}, not callable.",
            "Name a class or a function that returns the object (e.g. a model factory).",
        )
    return target


def call(fn: Callable[..., Any], spec: str, options: Mapping[str, Any], flag: str) -> Any:
    """fn(**options); whatever it raises becomes an error naming the call and the callable's signature."""
    try:
        return fn(**options)
    except Exception as exc:  # noqa: BLE001 - the user's code may raise anything
        try:
            signature = f"{spec}{inspect.signature(fn)}"
        except (TypeError, ValueError):
            signature = spec
        given = ", ".join(f"{k}={v!r}" for k, v in options.items())
        raise ForeignError(
            f"{spec}({given}) raised {type(exc).__name__}: {first_line(exc)}",
            f"Check the {flag}-opt names and values against {signature}.",
        ) from None


def build_model(spec: str, options: Mapping[str, Any]) -> nn.Module:
    """The torch.nn.Module `spec(**options)` returns (anything else is refused)."""
    made = call(import_callable(spec, "--model"), spec, options, "--model")
    if not isinstance(made, nn.Module):
        raise ForeignError(
            f"{spec} returned a {type(made).__name__}, not a torch.nn.Module.",
            "Name a class or factory that returns the network (load weights with --weights, not in the callable).",
        )
    return made


def fit_weights(model: nn.Module, weights: WeightsFile, spec: str) -> None:
    """Load the file's state dict strictly; a mismatch names the first key whose shape differs and lists the
    keys missing from the file or unknown to the model."""
    own, theirs = model.state_dict(), weights.state
    missing = [k for k in own if k not in theirs]
    unexpected = [k for k in theirs if k not in own]
    shape = next(
        (
            (k, tuple(theirs[k].shape), tuple(own[k].shape))
            for k in own
            if isinstance(own[k], torch.Tensor)
            and isinstance(theirs.get(k), torch.Tensor)
            and own[k].shape != theirs[k].shape
        ),
        None,
    )
    if shape is None and not missing and not unexpected:
        model.load_state_dict(theirs, strict=True)
        return
    parts = [f"{shape[0]!r} is {shape[1]} in the file but {shape[2]} in the model"] if shape else []
    parts += [f"missing from the file: {listed(missing)}"] if missing else []
    parts += [f"not in the model: {listed(unexpected)}"] if unexpected else []
    raise WeightsError(f"The weights in {weights.path} do not fit {spec}: {'; '.join(parts)}.", fit_hint(unexpected))


def listed(keys: list[str], most: int = 6) -> str:
    """Up to `most` keys, then how many more."""
    return ", ".join(keys[:most]) + (f" (+{len(keys) - most} more)" if len(keys) > most else "")


def fit_hint(unexpected: list[str]) -> str:
    """The likely fix for weights that do not fit."""
    if unexpected and all(k.startswith("module.") for k in unexpected):
        return "The file's keys start with 'module.' (saved from DataParallel/DDP): save model.module.state_dict()."
    return (
        "Pass the --model-opt values the weights were trained with (e.g. num_classes=10), or weights saved from "
        "this architecture with torch.save(model.state_dict(), FILE)."
    )


def load_foreign_model(spec: str, options: Mapping[str, Any], weights: str | Path) -> ForeignModel:
    """Build `spec(**options)`, load the weights of `weights` into it strictly, and put it in eval mode."""
    model = build_model(spec, options)
    loaded = read_weights(weights)
    fit_weights(model, loaded, spec)
    model.eval()
    return ForeignModel(model, spec, dict(options), loaded)
