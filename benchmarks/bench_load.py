"""Load, pre-process and reduce a 20M-row ML-20M-shaped ratings.csv; compare with pandas.

One command::

    python benchmarks/bench_load.py            # 20,000,263 rows (ML-20M shape)
    python benchmarks/bench_load.py --rows 2000000

generates the seeded surrogate ``ratings.csv`` once (cached under ``bench-data/``, see
``surrogate.py``) and measures, each configuration in a fresh Python process:

* ``read/load``: ``daskfractal.load(path)`` (pyarrow reader, validation, contiguous re-index);
* ``preprocess``: ``daskfractal.preprocess`` with the defaults (binarize, leave-last-out);
* ``reduce 16x32 antialias`` / ``legacy``: ``daskfractal.reduce(split, (16, 32), resize=...)``;
* baseline for the load row: ``pandas.read_csv(path)`` with the default settings (C engine,
  inferred dtypes) followed by ``np.unique(..., return_inverse=True)`` re-indexing of the user
  and item columns.

Wall is the stage itself; peak RSS is the child's ``ru_maxrss`` at the end of the stage (the
process ran the earlier stages too, so it is the peak of the pipeline up to that stage).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from _benchutil import BENCH_DATA, Stages, emit, machine, run_child, table, wait_until_idle
from surrogate import ML20M_SHAPE, write_ratings_csv

FACTORS = (16, 32)
CONFIGS = ("load", "preprocess", "reduce-antialias", "reduce-legacy", "baseline-load")
LABELS = {
    "load": "read/load",
    "preprocess": "preprocess",
    "reduce-antialias": "reduce 16x32 antialias",
    "reduce-legacy": "reduce 16x32 legacy",
}


def input_shape(rows: int) -> tuple[int, int, int]:
    """(users, items, rows): ML-20M's shape, users scaled down for fewer rows."""
    users, items, full = ML20M_SHAPE
    if rows == full:
        return users, items, rows
    return max(1, round(users * rows / full)), items, rows


def input_path(rows: int) -> Path:
    if rows == ML20M_SHAPE[2]:
        return BENCH_DATA / "ml20m-surrogate" / "ratings.csv"
    return BENCH_DATA / f"ml20m-surrogate-{rows}" / "ratings.csv"


# --------------------------------------------------------------------------------------
# child
# --------------------------------------------------------------------------------------


def child(config: str, path: str) -> None:
    st = Stages()
    if config == "baseline-load":
        import numpy as np
        import pandas as pd

        st.start("read/load")
        df = pd.read_csv(path)
        user_ids, _ = np.unique(df["userId"].to_numpy(), return_inverse=True)
        item_ids, _ = np.unique(df["movieId"].to_numpy(), return_inverse=True)
        st.stop()
        emit(
            "result",
            times=st.times,
            peaks=st.peaks,
            rows=len(df),
            users=len(user_ids),
            items=len(item_ids),
        )
        return

    import daskfractal as dfr

    st.start("read/load")
    data = dfr.load(path)
    st.stop()
    info = {"rows": len(data.users), "users": int(data.n_users), "items": int(data.n_items)}
    if config != "load":
        st.start("preprocess")
        split = dfr.preprocess(data)
        st.stop()
        del data
        info.update(train=int(split.train.nnz), test=int(split.test.nnz))
        if config.startswith("reduce-"):
            mode = config.split("-", 1)[1]
            st.start(LABELS[config])
            red = dfr.reduce(split, FACTORS, resize=mode)
            st.stop()
            exp = red.expected_interactions(split.train.nnz, split.test.nnz)
            info["expected"] = {k: float(v) for k, v in dict(exp).items()}
    emit("result", times=st.times, peaks=st.peaks, **info)


# --------------------------------------------------------------------------------------
# parent
# --------------------------------------------------------------------------------------


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=ML20M_SHAPE[2], help="rows of the surrogate")
    ap.add_argument("--configs", nargs="+", choices=CONFIGS, default=list(CONFIGS))
    ap.add_argument("--json", type=Path, help="also write the raw results here")
    ap.add_argument("--repeat", type=int, default=1, help="runs per configuration; fastest kept")
    ap.add_argument(
        "--idle-wait",
        type=float,
        default=600.0,
        help="before each run wait up to this many s for other processes to go quiet",
    )
    ap.add_argument("--child", nargs=2, metavar=("CONFIG", "PATH"), help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.child:
        child(*a.child)
        return

    users, items, rows = input_shape(a.rows)
    path = input_path(rows)
    t = time.perf_counter()
    cached = path.exists()
    write_ratings_csv(path, n_users=users, n_items=items, n_interactions=rows, seed=0)
    made = "cached" if cached else f"generated in {time.perf_counter() - t:.0f} s"
    print(f"machine: {machine()}")
    print(
        f"input:   ML-20M-shaped surrogate (benchmarks/surrogate.py, seed 0), {users:,} users x "
        f"{items:,} items, {rows:,} rows, {path.stat().st_size / 1e6:.0f} MB "
        f"({path.relative_to(BENCH_DATA.parent)}, {made})"
    )
    print(
        f"each configuration in a fresh process (best of {a.repeat}); "
        "peak RSS = child ru_maxrss after the stage;"
    )
    print("other load = mean cores used by other processes during the run (ours / pandas)\n")

    res: dict[str, dict] = {}
    for cfg in a.configs:
        label = LABELS.get(cfg, "read/load")
        for k in range(a.repeat):
            print(f"  running {cfg} ({k + 1}/{a.repeat}) ...", flush=True)
            wait_until_idle(a.idle_wait)
            out = run_child([__file__, "--child", cfg, str(path)])
            if out["result"] is None:
                sys.exit(f"{cfg} failed (exit code {out['returncode']})")
            r = dict(out["result"], other_load=out["other_load"])
            if cfg not in res or r["times"][label] < res[cfg]["times"][label]:
                res[cfg] = r  # keep the fastest run

    rows_out = []
    base = res.get("baseline-load")
    for cfg in ("load", "preprocess", "reduce-antialias", "reduce-legacy"):
        if cfg not in res:
            continue
        r = res[cfg]
        label = LABELS[cfg]
        wall, peak = r["times"][label], r["peaks"][label]
        line = [label, f"{wall:.2f}", f"{peak:,.0f}", f"{rows / wall / 1e6:.2f} M"]
        if cfg == "load" and base:
            bw, bp = base["times"]["read/load"], base["peaks"]["read/load"]
            line += [f"{bw:.2f}", f"{bp:,.0f}", f"{wall / bw:.2f}", f"{peak / bp:.2f}"]
            line.append(f"{r['other_load']:.2f} / {base['other_load']:.2f}")
        else:
            line += ["—"] * 4 + [f"{r['other_load']:.2f}"]
        rows_out.append(line)
    headers = [
        "stage",
        "wall s",
        "peak RSS MB",
        "rows/s",
        "pandas s",
        "pandas MB",
        "wall ours/pd",
        "RSS ours/pd",
        "other load",
    ]
    print()
    print(table(headers, rows_out))
    if "reduce-antialias" in res or "reduce-legacy" in res:
        total = sum(res["reduce-antialias"]["times"].values()) if "reduce-antialias" in res else 0
        print(f"\nload + preprocess + reduce (antialias), one process: {total:.1f} s")
    for cfg in ("reduce-antialias", "reduce-legacy"):
        if cfg in res and "expected" in res[cfg]:
            e = res[cfg]["expected"]
            print(
                f"{LABELS[cfg]}: expected output {e.get('train', 0):,.0f} train / "
                f"{e.get('test', 0):,.0f} test interactions"
            )
    if "preprocess" in res:
        r = res["preprocess"]
        print(
            f"after preprocess: {r['users']:,} users x {r['items']:,} items, "
            f"{r['train']:,} train + {r['test']:,} test"
        )
    if a.json:
        a.json.write_text(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
