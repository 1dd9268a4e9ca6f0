"""Files of a validation report: ``report.json``, ``report.md`` and the PNG figures.

Figures follow the papers' layout (Belletti et al., Figures 1, 3, 4): rows are item popularity
(column sums), user engagement (row sums) and singular values; columns are ``R``, ``R̂`` and
the expansion, each a ranked log-log curve. Drawn with matplotlib's object-oriented API on the
Agg canvas (no pyplot, no global backend change); without matplotlib only the numbers are
written.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from .report import ValidationReport

FIGURES = ("fidelity.png", "overlay.png", "blocks.png")

_ROWS = (
    ("items", "Item popularity", "interactions per item"),
    ("users", "User engagement", "interactions per user"),
    ("spectrum", "Singular values", "singular value σᵢ"),
)
_COLS = (
    ("R", "R (original train)"),
    ("R_hat", "R̂ (keep probabilities)"),
    ("expansion", "R̂ ⊗rand R (expansion)"),
)
_STYLE = {
    "R": {"color": "tab:blue", "label": "R"},
    "R_hat": {"color": "tab:green", "label": "R̂"},
    "expansion": {"color": "tab:red", "label": "expansion"},
    "prediction": {"color": "black", "label": "Prop. 1 / Thm 1 prediction", "ls": "--"},
}


def write_report(rep: ValidationReport, out: Path, *, figures: bool = True) -> dict[str, Path]:
    """Write the report files into ``out``; return them by kind."""
    out.mkdir(parents=True, exist_ok=True)
    files: dict[str, Path] = {}
    drawn: list[str] = []
    why_not = None
    if figures:
        try:
            import matplotlib  # noqa: F401
        except ImportError:
            why_not = (
                "figures skipped: matplotlib is not installed (pip install 'daskfractal[report]')"
            )
        else:
            for name, draw in (
                ("fidelity.png", _fidelity_figure),
                ("overlay.png", _overlay_figure),
                ("blocks.png", _blocks_figure),
            ):
                fig = draw(rep)
                if fig is None:
                    continue
                path = out / name
                fig.savefig(path, dpi=110, metadata={"Software": None})
                files[name.removesuffix(".png")] = path
                drawn.append(name)
    else:
        why_not = "figures skipped (figures=False / --no-figures)"
    json_path = out / "report.json"
    doc = rep.to_dict()
    doc["figures"] = drawn
    import json

    json_path.write_text(json.dumps(doc, indent=2, allow_nan=False) + "\n", encoding="utf-8")
    md_path = out / "report.md"
    md_path.write_text(_markdown(rep, drawn, why_not), encoding="utf-8")
    files["json"] = json_path
    files["markdown"] = md_path
    return files


# --------------------------------------------------------------------------------------
# figures
# --------------------------------------------------------------------------------------


def _figure(nrows: int, ncols: int, size: tuple[float, float]) -> Any:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=size, layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(nrows, ncols, squeeze=False)
    return fig, axes


def _ranked(values: Any) -> np.ndarray:
    v = np.asarray(values, dtype=np.float64).ravel()
    return np.sort(v[v > 0])[::-1]


def _thin(v: np.ndarray, points: int = 2000) -> tuple[np.ndarray, np.ndarray]:
    """Ranks (1-based) and values of a ranked curve on at most ``points`` log-spaced ranks."""
    n = v.size
    if n <= points:
        r = np.arange(1, n + 1)
        return r, v
    idx = np.unique(np.round(np.logspace(0, math.log10(n), points)).astype(np.int64)) - 1
    idx = np.unique(np.concatenate([idx, [n - 1]]))
    return idx + 1, v[idx]


def _plot_ranked(ax: Any, values: Any, key: str, *, label: str | None = None, **kw: Any) -> bool:
    v = _ranked(values) if values is not None else np.zeros(0)
    if v.size == 0:
        return False
    r, y = _thin(v)
    style = dict(_STYLE[key])
    style.update(kw)
    if label is not None:
        style["label"] = label
    marker = "o" if v.size <= 64 else None
    ax.plot(r, y, marker=marker, ms=3, lw=1.4, **style)
    return True


def _spectrum(rep: ValidationReport) -> dict[str, Any]:
    spec = rep.numbers.get("spectrum") or {}
    return {
        "R": spec.get("R"),
        "R_hat": spec.get("R_hat"),
        "expansion": spec.get("expansion"),
        "prediction": spec.get("prediction"),
    }


def _series(rep: ValidationReport, row: str) -> dict[str, Any]:
    return _spectrum(rep) if row == "spectrum" else rep.degrees[row]


def _tidy_log_axes(ax: Any) -> None:
    """Plain tick labels at 1, 2, 5 × 10ᵏ (1 × 10ᵏ over wide ranges), no minor labels."""
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    box = ax.dataLim
    for axis, lo, hi in ((ax.xaxis, box.x0, box.x1), (ax.yaxis, box.y0, box.y1)):
        if not (lo > 0 and hi > 0 and math.isfinite(lo) and math.isfinite(hi)):
            continue
        decades = math.log10(hi / lo) if hi > lo else 0.0
        subs = (1, 1.5, 2, 3, 5, 7) if decades < 0.7 else (1, 2, 5) if decades < 2.5 else (1,)
        axis.set_major_locator(LogLocator(base=10, subs=subs))
        axis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
        axis.set_minor_formatter(NullFormatter())


def _missing(ax: Any, text: str) -> None:
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes, fontsize=9)
    ax.set_xticks([])
    ax.set_yticks([])


def _fidelity_figure(rep: ValidationReport) -> Any:
    fig, axes = _figure(3, 3, (13.5, 11.0))
    store = rep.numbers["store"]
    fig.suptitle(
        f"Fidelity of {Path(store['path']).name}: {store['n_users']:,} users × "
        f"{store['n_items']:,} items, {store['nnz_train']:,} train interactions "
        f"(factors {store['factors'][0]}×{store['factors'][1]}, "
        f"shuffle {store['shuffle'] or 'not recorded'})",
        fontsize=12,
    )
    for r, (row, row_title, ylabel) in enumerate(_ROWS):
        data = _series(rep, row)
        for c, (col, col_title) in enumerate(_COLS):
            ax = axes[r, c]
            ax.set_title(f"{row_title} — {col_title}", fontsize=10)
            drawn = _plot_ranked(ax, data.get(col), col)
            if col == "expansion" and data.get("prediction") is not None:
                label = "Theorem 1 prediction" if row == "spectrum" else "Proposition 1 prediction"
                _plot_ranked(ax, data["prediction"], "prediction", label=label)
            if not drawn:
                _missing(ax, "not available\n(pass --original INPUT)")
                continue
            ax.set_xscale("log")
            ax.set_yscale("log")
            ax.set_xlabel("rank i" if row == "spectrum" else "rank (sorted decreasing)")
            if col == "R_hat" and row != "spectrum":
                ax.set_ylabel("sum of keep probabilities")
            else:
                ax.set_ylabel(ylabel)
            ax.grid(True, which="major", alpha=0.3)
            ax.legend(fontsize=8, loc="lower left")
            _tidy_log_axes(ax)
    return fig


def _overlay_figure(rep: ValidationReport) -> Any:
    fig, axes = _figure(1, 3, (15.0, 4.8))
    fig.suptitle(
        "Normalized curves: value / max against rank / count (singular values: σᵢ / σ₁ against i)",
        fontsize=11,
    )
    deg = rep.numbers.get("degrees", {})
    for c, (row, row_title, _) in enumerate(_ROWS):
        ax = axes[0, c]
        data = _series(rep, row)
        any_drawn = False
        for key in ("R", "R_hat", "expansion", "prediction"):
            v = _ranked(data.get(key)) if data.get(key) is not None else np.zeros(0)
            if v.size == 0:
                continue
            r, y = _thin(v)
            x = r if row == "spectrum" else r / v.size
            style = dict(_STYLE[key])
            if key == "prediction":
                style["label"] = "prediction"
            ax.plot(x, y / v[0], marker="o" if v.size <= 64 else None, ms=3, lw=1.4, **style)
            any_drawn = True
        title = row_title
        if row != "spectrum":
            ks = (deg.get(row) or {}).get("ks", {}).get("log_normalized")
            if ks is not None:
                title += f" (KS R vs expansion: {ks:.3f})"
        ax.set_title(title, fontsize=10)
        if not any_drawn:
            _missing(ax, "not available")
            continue
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("rank i" if row == "spectrum" else "rank / count")
        ax.set_ylabel("σᵢ / σ₁" if row == "spectrum" else "value / max")
        ax.grid(True, which="major", alpha=0.3)
        ax.legend(fontsize=8, loc="lower left")
        _tidy_log_axes(ax)
    return fig


def _blocks_figure(rep: ValidationReport) -> Any:
    if rep.gram is None:
        return None
    keep_arr = rep.keep
    fig, axes = _figure(1, 2, (12.0, 5.2))
    b = rep.numbers.get("blocks") or {}
    fig.suptitle(
        f"Block structure left: rank-1 energy share {b.get('rank1_energy_share', math.nan):.3f}"
        f" (expected {b.get('expected_share_none', math.nan):.3f} without shuffles, "
        f"{b.get('expected_share_shuffled', math.nan):.3f} with full shuffles)",
        fontsize=11,
    )
    ax = axes[0, 0]
    if keep_arr is not None:
        im = ax.imshow(keep_arr, cmap="viridis", vmin=0, vmax=1, aspect="auto")
        fig.colorbar(im, ax=ax, label="keep probability")
        ax.set_title("R̂: keep probability of each block (i, j)", fontsize=10)
        ax.set_xlabel("item block j")
        ax.set_ylabel("user block i")
        for axis, size in ((ax.xaxis, keep_arr.shape[1]), (ax.yaxis, keep_arr.shape[0])):
            step = max(1, size // 8)
            axis.set_ticks(range(0, size, step))
    else:
        _missing(ax, "R̂ not recorded")
    ax = axes[0, 1]
    g = rep.gram
    d = np.sqrt(np.clip(np.diag(g), 1e-300, None))
    cos = g / np.outer(d, d)
    im = ax.imshow(cos, cmap="magma", vmin=0, vmax=1, aspect="auto")
    fig.colorbar(im, ax=ax, label="cosine similarity")
    ax.set_title("Cosine similarity of the blocks (Gram matrix)", fontsize=10)
    ax.set_xlabel("block b = i·n' + j")
    ax.set_ylabel("block b = i·n' + j")
    return fig


# --------------------------------------------------------------------------------------
# markdown
# --------------------------------------------------------------------------------------


def _f(x: Any, spec: str = ".4g") -> str:
    if x is None:
        return "–"
    if isinstance(x, bool):
        return "yes" if x else "**no**"
    if isinstance(x, int):
        return f"{x:,}"
    if isinstance(x, float):
        if not math.isfinite(x):
            return "–"
        return format(x, spec)
    return str(x)


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    out = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    out += ["| " + " | ".join(r) + " |" for r in rows]
    return [*out, ""]


def _goal_markdown(goal: dict[str, Any]) -> str:
    """The fidelity goal as a Markdown table: each number, its bound, met or missed."""
    verdict = {True: "**met**", False: "**missed**", None: "not fully measured"}[goal["met"]]
    rows = []
    for k, bound in goal["goal"].items():
        v = goal["values"].get(k)
        ok = "—" if v is None else ("missed" if k in goal["missed"] else "met")
        rows.append([k, _f(v, ".3f"), f"≤ {bound:.2f}", ok])
    return "\n".join(
        [f"## Fidelity goal: {verdict}", "", *_table(["number", "value", "goal", ""], rows)]
    )


def _markdown(rep: ValidationReport, drawn: list[str], why_not: str | None) -> str:
    n = rep.to_dict()
    s = n["store"]
    o = n.get("original") or {}
    lines = [
        f"# Validation report: `{Path(s['path']).name}`",
        "",
        f"Store `{s['path']}` ({s['format']}): {s['n_users']:,} users × {s['n_items']:,} items, "
        f"{s['nnz_train']:,} train and {s['nnz_test']:,} test interactions; factors "
        f"{s['factors'][0]} × {s['factors'][1]}, shuffle `{s['shuffle']}`, dropout "
        f"`{s['dropout']}`, seed {s['seed']}. Input `{s['source']}` "
        f"(shape {s['input_shape']}); original "
        + (
            f"reloaded ({o.get('how')}), checksum matches: {_f(o.get('sha256_matches'))}."
            if o.get("available")
            else "**not available** (R's degrees are missing)."
        ),
        "",
        "All statistics are of the binarized train split. Every number is in `report.json`.",
        "",
    ]
    goal = n.get("fidelity_goal")
    if goal:
        lines += [_goal_markdown(goal), ""]
    if rep.notes:
        lines += ["Notes:", ""] + [f"- {x}" for x in rep.notes] + [""]
    if why_not:
        lines += [f"*{why_not}.*", ""]
    if "fidelity.png" in drawn:
        lines += [
            "## Figures",
            "",
            "Rows: item popularity, user engagement, singular values; columns: R, R̂, "
            "expansion (dashed: Proposition 1 / Theorem 1 prediction).",
            "",
            "![fidelity](fidelity.png)",
            "",
        ]
    if "overlay.png" in drawn:
        lines += ["![normalized curves](overlay.png)", ""]
    # degrees
    keep = rep.keep
    plain = keep is not None and bool(np.all(keep == 1)) and s.get("shuffle") == "none"
    lines += ["## Degree distributions", ""]
    header = ["", "count", "empty", "min", "median", "mean", "max", "Gini"]
    header += ["head slope", "tail slope"]
    for axis in ("items", "users"):
        d = n["degrees"][axis]
        rows = []
        for name, label in (
            ("R", "R"),
            ("R_hat", "R̂ (sums)"),
            ("expansion", "expansion"),
            ("prediction", "Prop. 1 prediction"),
        ):
            x = d.get(name)
            if x is None:
                continue
            rows.append(
                [
                    label,
                    _f(x["count"]),
                    _f(x["empty_share"], ".2%"),
                    _f(x["min"]),
                    _f(x["median"]),
                    _f(x["mean"]),
                    _f(x["max"]),
                    _f(x["gini"], ".3f"),
                    _f(x["head_slope"], ".3f"),
                    _f(x["tail_slope"], ".3f"),
                ]
            )
        ks = d["ks"]
        lines += [f"### {'Items (popularity)' if axis == 'items' else 'Users (engagement)'}", ""]
        lines += _table(header, rows)
        lines += [
            f"KS distance R vs expansion: log(d / mean d) "
            f"{_f(ks.get('log_normalized'), '.4f')} (the fidelity goal's measure), "
            f"standardized log-degrees {_f(ks['standardized'], '.4f')},"
            f" centered {_f(ks['centered'], '.4f')}; expansion vs Proposition-1 prediction "
            f"(raw log-degrees) {_f(ks['prediction'], '.4f')}"
            + (
                f"; plain Kronecker product, degrees equal to Proposition 1: "
                f"{_f(d.get('prediction_exact'))}"
                if "prediction_exact" in d and plain
                else ""
            )
            + ".",
            "",
        ]
    dens = n["density"]
    lines += [
        f"Density: R {_f(dens['R'], '.3e')}, expansion {_f(dens['expansion'], '.3e')}, ratio "
        f"{_f(dens['ratio'], '.4f')} (expected mean(R̂)·m'·m/users = "
        f"{_f(dens['ratio_expected'], '.4f')}).",
        "",
    ]
    # spectrum
    spec = n.get("spectrum") or {}
    if spec.get("expansion") is not None:
        lines += [
            "## Spectrum",
            "",
            f"Top {spec['k']} singular values of the expansion by randomized subspace iteration "
            f"({spec['n_iter']} power iterations, oversampling {spec['oversample']}); Theorem-1 "
            "prediction: sorted products σᵢ(R̂)·σⱼ(R) with R̂ the keep probabilities "
            f"(valid for the first {_f(spec.get('prediction_valid'))}); R's values by "
            f"{spec.get('R_method')}. Residual: ‖AᵀAv − σ²v‖ / σ² of each Ritz pair, a bound "
            "on the relative distance of σ² to a true squared singular value (the error of σ "
            "is usually far smaller, of the order of the residual squared).",
            "",
        ]
        ex = list(spec["expansion"])
        pred = list(spec.get("prediction") or [])
        rel = list(spec.get("relative_deviation") or [])
        res = list(spec.get("residual") or [])
        rr = list(spec.get("R") or [])
        rows = []
        for i in range(min(len(ex), 10)):
            rows.append(
                [
                    str(i + 1),
                    _f(ex[i], ".6g"),
                    _f(pred[i] if i < len(pred) else None, ".6g"),
                    _f(rel[i] if i < len(rel) else None, "+.2e"),
                    _f(res[i] if i < len(res) else None, ".1e"),
                    _f(rr[i] if i < len(rr) else None, ".6g"),
                ]
            )
        lines += _table(
            ["i", "σᵢ expansion", "Theorem 1", "σ / prediction − 1", "residual", "σᵢ(R)"], rows
        )
        sl = spec.get("loglog_slope") or {}
        lines += [
            f"Max |σ / prediction − 1| over the first {_f(spec.get('compared'))}: "
            f"{_f(spec.get('max_relative_deviation'), '.3e')}; "
            f"σ₁ / prediction {_f(spec.get('top1_ratio'))}; "
            f"normalized curve vs R: max |Δ(σᵢ/σ₁)| "
            f"{_f(spec.get('normalized_max_abs_diff_vs_R'), '.3f')}; log-log slopes: expansion "
            f"{_f(sl.get('expansion'), '.3f')}, R {_f(sl.get('R'), '.3f')}, prediction "
            f"{_f(sl.get('prediction'), '.3f')}.",
            "",
        ]
    # blocks
    b = n.get("blocks") or {}
    if b:
        where = "all rows" if b.get("exact") else f"{_f(b.get('rows'))} sampled rows"
        lines += [
            "## Block structure left",
            "",
            f"Share of energy in the best rank-1 (Kronecker) fit of the Van Loan–Pitsianis "
            f"rearrangement: **{_f(b.get('rank1_energy_share'), '.4f')}** "
            f"({where} of "
            f"{_f(b.get('of_rows'))}, {_f(b.get('interactions'))} interactions). Expected for "
            f"these keep probabilities: {_f(b.get('expected_share_none'), '.4f')} without "
            f"shuffles, {_f(b.get('expected_share_shuffled'), '.4f')} with independent full "
            f"shuffles; structure left on that scale: {_f(b.get('structure_left'), '.3f')} "
            f"(1 = blocks as visible as without shuffles, 0 = hidden). Mean cosine similarity "
            f"between blocks: {_f(b.get('mean_offdiagonal_cosine'), '.4f')}.",
            "",
        ]
        if "blocks.png" in drawn:
            lines += ["![blocks](blocks.png)", ""]
    # split
    sp = n.get("split") or {}
    tpu = sp.get("test_per_user") or {}
    tpu_text = f"{_f(tpu.get('mean'), '.3f')} / {_f(tpu.get('median'))} / {_f(tpu.get('max'))}"
    cold = _f(sp.get("test_on_items_without_train"))
    lines += [
        "## Split sanity",
        "",
        *_table(
            ["check", "value"],
            [
                ["train ∩ test", _f(sp.get("overlap"))],
                ["train and test disjoint", _f(sp.get("disjoint"))],
                ["users without test items", _f(sp.get("users_without_test"))],
                ["share of users without test", _f(sp.get("users_without_test_share"), ".2%")],
                ["test items per user: mean / median / max", tpu_text],
                ["test interactions on items without train", cold],
                ["duplicate train entries", _f(sp.get("train_duplicates"))],
            ],
        ),
        "Test items per user (histogram): "
        + ", ".join(f"{k}: {v:,}" for k, v in (tpu.get("histogram") or {}).items()),
        "",
        "## Checks",
        "",
        *_table(["check", "ok"], [[k, _f(v)] for k, v in (n.get("checks") or {}).items()]),
        "Timings (s): " + ", ".join(f"{k} {v:g}" for k, v in (n.get("timings") or {}).items()),
        "",
    ]
    return "\n".join(lines)


# --------------------------------------------------------------------------------------
# comparison of several reports (docs/make_figures.py)
# --------------------------------------------------------------------------------------


def shuffle_comparison_figure(reports: dict[str, ValidationReport], path: Path) -> Path:
    """One figure comparing reports of the same input expanded with different shuffles.

    Panels: normalized item popularity and user engagement curves (R and each expansion),
    singular values against the Theorem-1 prediction, and the rank-1 energy share of the
    blocks (with the no-shuffle / full-shuffle expectations).
    """
    fig, axes = _figure(1, 4, (19.0, 4.8))
    colors = ("tab:red", "tab:orange", "tab:purple", "tab:brown")
    first = next(iter(reports.values()))
    fig.suptitle(
        f"Shuffle modes compared on {Path(str(first.numbers['store']['source'])).name} "
        f"(factors {first.numbers['store']['factors'][0]}×"
        f"{first.numbers['store']['factors'][1]})",
        fontsize=11,
    )
    for c, row in enumerate(("items", "users")):
        ax = axes[0, c]
        r = _ranked(first.degrees[row]["R"])
        ax.plot(np.arange(1, r.size + 1) / r.size, r / r[0], color="tab:blue", lw=2, label="R")
        for color, (mode, rep) in zip(colors, reports.items(), strict=False):
            v = _ranked(rep.degrees[row]["expansion"])
            x, y = _thin(v)
            ks = rep.numbers["degrees"][row]["ks"]["standardized"]
            ax.plot(x / v.size, y / v[0], color=color, lw=1.2, label=f"{mode} (KS {ks:.3f})")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("rank / count")
        ax.set_ylabel("value / max")
        ax.set_title(dict(_ROWS_BY_KEY)[row] + ": normalized ranked curves", fontsize=10)
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=8, loc="lower left")
        _tidy_log_axes(ax)
    ax = axes[0, 2]
    pred = first.numbers["spectrum"].get("prediction")
    if pred:
        ax.plot(np.arange(1, len(pred) + 1), pred, "k--", lw=1.4, label="Theorem 1 prediction")
    for color, (mode, rep) in zip(colors, reports.items(), strict=False):
        sv = rep.numbers["spectrum"].get("expansion") or []
        ax.plot(np.arange(1, len(sv) + 1), sv, color=color, lw=1.2, label=mode)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("rank i")
    ax.set_ylabel("singular value σᵢ")
    ax.set_title("Singular values vs Theorem 1", fontsize=10)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8, loc="lower left")
    _tidy_log_axes(ax)
    ax = axes[0, 3]
    names = list(reports)
    shares = [reports[m].numbers["blocks"].get("rank1_energy_share") or 0.0 for m in names]
    ax.bar(names, shares, color=colors[: len(names)])
    b = first.numbers["blocks"]
    for key, label, ls in (
        ("expected_share_none", "expected without shuffles", "--"),
        ("expected_share_shuffled", "expected with full shuffles", ":"),
    ):
        if b.get(key) is not None:
            ax.axhline(b[key], color="black", ls=ls, lw=1, label=label)
    ax.set_ylim(0, 1)
    ax.set_ylabel("rank-1 energy share")
    ax.set_xlabel("shuffle")
    ax.set_title("Block structure left (Van Loan–Pitsianis)", fontsize=10)
    ax.legend(fontsize=8, loc="upper right")
    fig.savefig(path, dpi=110, metadata={"Software": None})
    return path


_ROWS_BY_KEY = tuple((key, title) for key, title, _ in _ROWS)
