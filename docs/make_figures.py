"""Generate the validation figures of the docs (docs/images/validation-*.png).

One command, deterministic (fixed seeds; only the embedded MovieLens ml-latest-small, so it
runs anywhere)::

    python docs/make_figures.py

It expands ml-latest-small by 4 x 8 with each shuffle mode (none, block, stratified) into a
temporary folder, validates each store with :func:`daskfractal.validate`, copies the
papers'-layout figures of the block-shuffled expansion (the papers' method) and draws one figure
comparing the three modes. Needs matplotlib (``pip install 'daskfractal[report]'``).
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
from pathlib import Path

IMAGES = Path(__file__).resolve().parent / "images"
FACTORS = (4, 8)
MODES = ("block", "stratified", "none")


def main(argv: list[str] | None = None) -> int:
    """Expand, validate and draw; print the files written."""
    import daskfractal as dfr
    from daskfractal import validate
    from daskfractal.validation.render import shuffle_comparison_figure

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=IMAGES, help="folder of the PNGs")
    parser.add_argument("--k", type=int, default=64, help="singular values (64)")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)

    split = dfr.preprocess(dfr.load("default"))
    red = dfr.reduce(split, FACTORS)
    reports = {}
    with tempfile.TemporaryDirectory(prefix="daskfractal-figures-") as tmp:
        for mode in MODES:
            store = dfr.expand(split, reduced=red, shuffle=mode, seed=0).to_zarr(
                Path(tmp) / f"{mode}.zarr", progress=False, scheduler="threads"
            )
            rep_dir = Path(tmp) / f"report-{mode}"
            reports[mode] = validate(
                store, split, k=args.k, report_dir=rep_dir, progress=False, scheduler="threads"
            )
            if mode == "block":
                for name in ("fidelity", "overlay", "blocks"):
                    dst = args.out / f"validation-{name}.png"
                    shutil.copyfile(rep_dir / f"{name}.png", dst)
                    print(dst)
                shutil.copyfile(rep_dir / "report.md", Path(tmp) / "report-block.md")
    dst = shuffle_comparison_figure(reports, args.out / "validation-shuffle-modes.png")
    print(dst)
    for mode, rep in reports.items():
        n = rep.numbers
        print(
            f"{mode:10s} KS items {n['degrees']['items']['ks']['standardized']:.4f} users "
            f"{n['degrees']['users']['ks']['standardized']:.4f}  Gini items "
            f"{n['degrees']['items']['expansion']['gini']:.3f}  σ1 "
            f"{n['spectrum']['expansion'][0]:.2f} (Theorem 1 {n['spectrum']['prediction'][0]:.2f})"
            f"  rank-1 share {n['blocks']['rank1_energy_share']:.3f}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
