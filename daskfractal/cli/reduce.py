"""``daskfractal reduce``: the reduced matrix R̂ and the expected size of the expansion."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from ..errors import OutputError
from .codes import EXIT_OK
from .options import (
    add_input_options,
    add_output_options,
    add_reduce_options,
    fmt,
    json_default,
    load_split,
    print_json,
    reduce_from_args,
)

__all__ = ["register", "run"]


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``reduce`` sub-command to the ``daskfractal`` parser."""
    p = subparsers.add_parser("reduce", help="compute the reduced matrix R̂ and the expected size")
    add_input_options(p)
    add_reduce_options(p)
    p.add_argument("--out", metavar="FILE", help="write R̂ and its metadata as JSON")
    add_output_options(p, "print JSON")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Handler of ``daskfractal reduce``; returns the exit code (0)."""
    _, split = load_split(args)
    red = reduce_from_args(args, split)
    exp = red.expected_interactions(split.train.nnz, split.test.nnz)
    out = red.to_dict()
    out["expected"] = exp
    if args.out:
        path = Path(args.out)
        try:
            path.write_text(json.dumps(out, indent=2, default=json_default) + "\n")
        except OSError as e:
            raise OutputError(f"cannot write {path}: {e.strerror or e}") from e
    if args.json:
        print_json(out)
        return EXIT_OK
    mp, np_ = red.factors
    keep = red.keep
    print(
        f"R̂: {mp} x {np_} (k = {min(mp, np_)}), resize {red.params['resize']}, "
        f"rescale {red.params['rescale']}, scale {red.params['scale']:.6g}"
    )
    sv = ", ".join(f"{s:.4g}" for s in red.singular_values[:8])
    more = " ..." if len(red.singular_values) > 8 else ""
    print(f"  top singular values of R_train: {sv}{more}")
    print(
        f"  keep probabilities: min {keep.min():.4f}, mean {keep.mean():.4f}, max {keep.max():.4f}"
    )
    print(
        f"  expected output: users {fmt(exp['users'])}, items {fmt(exp['items'])}, "
        f"train {fmt(exp['train'])}, test {fmt(exp['test'])}"
    )
    if args.out:
        print(f"  written to {args.out}")
    return EXIT_OK
