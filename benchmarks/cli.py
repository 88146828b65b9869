"""Benchmark command lines as dataclasses (the CleanRL ``Args`` style), parsed with argparse.

A benchmark declares its options once, as a typed, documented dataclass::

    @dataclass
    class Args:
        seeds: int = opt(10, "number of seeds (0, 1, ...)")
        quick: bool = opt(False, "2 seeds, 60-slot episodes")

    args = parse(Args, argv, description=__doc__)

Each field becomes ``--field-name`` (underscores as dashes). The argparse action follows the
annotation: ``bool`` is a flag, ``list[X]`` takes one or more values, ``X | None`` takes one value
or stays None. argparse (stdlib) does the parsing, so ``--help``, errors and abbreviations behave
as in every other Python CLI; the one extra is ``const`` for an option whose value may be left
out (``--ray`` alone, or ``--ray ADDRESS``).
"""

from __future__ import annotations

import argparse
import dataclasses
import types
import typing
from collections.abc import Sequence
from typing import Any, TypeVar

T = TypeVar("T")


def opt(
    default: Any,
    help: str,
    *,
    const: Any = None,
    choices: Sequence[Any] | None = None,
    group: str = "",
    metavar: str | None = None,
) -> Any:
    """A dataclass field with its command-line help. ``const``: the value when the option is given
    without one (the option then takes zero or one value). ``group``: the ``--help`` section.
    ``metavar``: the value's name in ``--help``."""
    meta = {"help": help, "const": const, "choices": choices, "group": group, "metavar": metavar}
    if isinstance(default, list):
        return dataclasses.field(default_factory=lambda: list(default), metadata=meta)
    return dataclasses.field(default=default, metadata=meta)


def _unwrap(tp: Any) -> tuple[Any, bool]:
    """(the type inside ``X | None``, whether None is allowed)."""
    args = typing.get_args(tp)
    if typing.get_origin(tp) in (typing.Union, types.UnionType) and type(None) in args:
        (inner,) = [a for a in args if a is not type(None)]
        return inner, True
    return tp, False


def _argument(parser: argparse._ActionsContainer, f: dataclasses.Field[Any], tp: Any) -> None:
    meta = f.metadata
    default = f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default
    kw: dict[str, Any] = {"dest": f.name, "default": default, "help": meta.get("help", "")}
    inner, _ = _unwrap(tp)
    if inner is bool:
        kw["action"] = "store_true"
    elif typing.get_origin(inner) is list:
        kw.update(nargs="+", type=typing.get_args(inner)[0])
    else:
        kw["type"] = inner
    if meta.get("const") is not None:
        kw.update(nargs="?", const=meta["const"])
    if meta.get("choices"):
        kw["choices"] = meta["choices"]
    if meta.get("metavar"):
        kw["metavar"] = meta["metavar"]
    parser.add_argument("--" + f.name.replace("_", "-"), **kw)


def build_parser(cls: type[Any], description: str | None = None) -> argparse.ArgumentParser:
    """The argparse parser for dataclass ``cls`` (fields in declaration order, grouped by ``group``)."""
    parser = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    hints = typing.get_type_hints(cls)
    groups: dict[str, argparse._ActionsContainer] = {"": parser}
    for f in dataclasses.fields(cls):
        title = f.metadata.get("group", "")
        if title not in groups:
            groups[title] = parser.add_argument_group(title)
        _argument(groups[title], f, hints[f.name])
    return parser


def parse(cls: type[T], argv: Sequence[str] | None = None, description: str | None = None) -> T:
    """Parse ``argv`` (default: ``sys.argv[1:]``) into an instance of dataclass ``cls``. A
    ``ValueError`` from its ``__post_init__`` (a bad combination of values) exits with argparse's
    usage message and status 2, like any other command-line error."""
    parser = build_parser(cls, description)
    namespace = parser.parse_args(argv)
    try:
        return cls(**vars(namespace))
    except ValueError as exc:
        parser.error(str(exc))
