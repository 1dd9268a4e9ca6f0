"""``daskfractal info``: counts, density and degree summary of a data set."""

from __future__ import annotations

import argparse

from .codes import EXIT_OK
from .options import add_input_options, add_output_options, fmt, load_split, print_json

__all__ = ["register", "run"]


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``info`` sub-command to the ``daskfractal`` parser."""
    p = subparsers.add_parser("info", help="counts, density and degree summary of a data set")
    add_input_options(p)
    add_output_options(p, "print JSON")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Handler of ``daskfractal info``; returns the exit code (0)."""
    data, split = load_split(args)
    raw, pre = data.summary(), split.summary()
    if args.json:
        print_json({"input": raw, "split": pre})
        return EXIT_OK
    print(f"input: {raw['source']}")
    print(
        f"  interactions {fmt(raw['interactions'])}, users {fmt(raw['users'])}, "
        f"items {fmt(raw['items'])}, density {raw['density']:.3e}"
    )
    print(
        f"  ratings: {'yes' if raw['has_ratings'] else 'no'}, "
        f"timestamps: {'yes' if raw['has_timestamps'] else 'no'}, "
        f"given split: {'yes' if raw['given_split'] else 'no'}"
    )
    for who in ("user", "item"):
        d = raw[f"{who}_degree"]
        print(
            f"  {who} degree: min {d['min']}, median {fmt(d['median'])}, mean "
            f"{fmt(d['mean'])}, p90 {fmt(d['p90'])}, p99 {fmt(d['p99'])}, max {d['max']}"
        )
    print(f"after pre-processing ({split.params['split']}):")
    print(
        f"  users {fmt(pre['users'])}, items {fmt(pre['items'])}, "
        f"train {fmt(pre['train_interactions'])}, test {fmt(pre['test_interactions'])}"
    )
    removed = {k[len("removed_") :]: v for k, v in pre.items() if k.startswith("removed_")}
    print("  removed: " + ", ".join(f"{k} {fmt(v)}" for k, v in removed.items()))
    return EXIT_OK
