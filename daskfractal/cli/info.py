"""``daskfractal info``: counts, density and degree summary of a data set."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from .codes import EXIT_OK

if TYPE_CHECKING:
    from ..store import ExpansionStore, ExportStore
from .options import (
    add_input_options,
    add_output_options,
    add_storage_options,
    fmt,
    load_split,
    print_json,
)

__all__ = ["register", "run"]


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``info`` sub-command to the ``daskfractal`` parser."""
    p = subparsers.add_parser(
        "info",
        help="counts, density and degree summary of a data set (or the format and counts of a "
        "daskfractal store or export)",
    )
    add_input_options(p)
    add_output_options(p, "print JSON")
    add_storage_options(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Handler of ``daskfractal info``; returns the exit code (0).

    A daskfractal output (Zarr or Parquet store, ``mlperf`` or ``meta-csv`` export) is
    described from its metadata (checked against its manifest) instead of read as input.
    """
    from ..store import is_remote, store_format

    # an object-store URL is only ever a store (data sets are read from local files)
    if is_remote(args.input) or (args.input != "default" and store_format(args.input)):
        return _output_info(args)
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


def _output_info(args: argparse.Namespace) -> int:
    """``info`` of a daskfractal output: format, counts and the main parameters."""
    from ..store import EXPORT_FORMATS, open_export, open_store, store_format

    store: ExpansionStore | ExportStore = (
        open_export(args.input)
        if store_format(args.input) in EXPORT_FORMATS
        else open_store(args.input)
    )
    c = store.counts()
    params = store.attrs.get("params", {})
    keys = (
        "factors",
        "seed",
        "shuffle",
        "dropout",
        "test_policy",
        "carry",
        "timeline",
        "rows",
        "preset",
    )
    shown = {k: params[k] for k in keys if k in params}
    if args.json:
        print_json({"store": str(store.path), "format": store.format, **c, "params": shown})
        return EXIT_OK
    print(f"output: {store.path} ({store.format}, complete)")
    print(
        f"  users {fmt(c['n_users'])}, items {fmt(c['n_items'])}, "
        f"train {fmt(c['nnz_train'])}, test {fmt(c['nnz_test'])}"
    )
    print("  " + ", ".join(f"{k} {v}" for k, v in shown.items() if k != "preset"))
    if "preset" in params:  # stores written with --preset (older stores have no such key)
        preset = params["preset"]
        over = preset.get("overridden") or {}
        changed = ", ".join(f"{k}={v}" for k, v in over.items())
        print(f"  preset {preset.get('name')}" + (f" (overridden: {changed})" if changed else ""))
    return EXIT_OK
