"""The :class:`ValidationReport`: numbers, full degree arrays, JSON and a terminal summary."""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import DaskFractalError, OutputError
from .render import write_report
from .stats import _curve

__all__ = ["ValidationReport", "check_report_dir", "fmt", "jsonable"]


@dataclass(eq=False)
class ValidationReport:
    """What :func:`validate` measured.

    Attributes
    ----------
    numbers : dict
        Every number as plain Python values (lists, floats; None where undefined):
        ``store``, ``original``, ``R_hat``, ``degrees`` (``users`` / ``items``: per matrix
        ``R``, ``R_hat``, ``expansion`` and ``prediction`` a summary — count, empty share,
        min/median/mean/max, Gini, head and tail log-log slopes — and the KS distances),
        ``density``, ``spectrum``, ``blocks``, ``split``, ``checks``, ``timings``.
    degrees : dict
        Full arrays: ``degrees["users"]["expansion"]`` etc. (float64; R̂'s are its row / column
        sums; ``prediction`` the Proposition-1 Minkowski products).
    gram : ndarray or None
        The block Gram matrix (m'·n' × m'·n').
    keep : ndarray or None
        R̂, the keep probabilities (m' × n') recorded in the store.
    notes : list of str
        What could not be computed and why.
    files : dict of str to pathlib.Path
        Files written by :meth:`write`.
    """

    numbers: dict[str, Any]
    degrees: dict[str, dict[str, np.ndarray | None]] = field(repr=False)
    gram: np.ndarray | None = field(default=None, repr=False)
    keep: np.ndarray | None = field(default=None, repr=False)
    notes: list[str] = field(default_factory=list)
    files: dict[str, Path] = field(default_factory=dict)

    def __getitem__(self, key: str) -> Any:
        return self.numbers[key]

    def curves(self) -> dict[str, dict[str, dict[str, list[int] | list[float] | int]]]:
        """Ranked degree curves on log-spaced ranks (what report.json stores)."""
        return {
            axis: {name: _curve(v) for name, v in mats.items() if v is not None}
            for axis, mats in self.degrees.items()
        }

    def to_dict(self) -> dict[str, Any]:
        """Everything in report.json: the numbers, the curves and the notes."""
        return jsonable({**self.numbers, "curves": self.curves(), "notes": list(self.notes)})

    def to_json(self, indent: int | None = 2) -> str:
        """:meth:`to_dict` as JSON text (strict: no NaN)."""
        import json

        return json.dumps(self.to_dict(), indent=indent, allow_nan=False)

    def write(self, report_dir: str | os.PathLike, *, figures: bool = True) -> dict[str, Path]:
        """Write ``report.json``, the PNG figures (when matplotlib is installed) and ``report.md``.

        Parameters
        ----------
        report_dir : path
            Created if needed; existing report files are replaced.
        figures : bool, default True
            Draw the figures (skipped with a note in report.md without matplotlib).

        Returns
        -------
        dict of str to pathlib.Path
            ``json``, ``markdown`` and one entry per figure.

        Raises
        ------
        OutputError
            ``report_dir`` (or a folder above it) is a file, or a file cannot be written
            (permissions, read-only file system, disk full).
        """
        out = check_report_dir(report_dir)
        assert out is not None
        try:
            self.files = write_report(self, out, figures=figures)
        except DaskFractalError:
            raise
        except OSError as e:
            raise OutputError(f"cannot write the report into {out}: {e.strerror or e}") from e
        return self.files

    def summary(self) -> str:
        """A few lines for the terminal."""
        return _summary_text(self)


def check_report_dir(report_dir: str | os.PathLike | None) -> Path | None:
    """``report_dir`` as a Path, or :class:`OutputError` when it (or a folder above it) is an
    existing file: checked before the passes so that a bad path does not cost a validation."""
    if report_dir is None:
        return None
    out = Path(report_dir)
    for p in (out, *out.parents):
        if p.exists() or p.is_symlink():
            if not p.is_dir():
                what = "is a file" if p == out else f"is below the file {p}"
                raise OutputError(f"report folder {out} {what}: give a folder (created if missing)")
            break
    return out


def jsonable(obj: Any) -> Any:
    """Plain JSON values: NumPy scalars and arrays as numbers and lists, NaN/inf as None."""
    if isinstance(obj, dict):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return jsonable(obj.tolist())
    if isinstance(obj, np.bool_):
        return bool(obj)
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, float | np.floating):
        f = float(obj)
        return f if math.isfinite(f) else None
    if isinstance(obj, Path):
        return str(obj)
    return obj


def fmt(x: Any, spec: str = ".4g") -> str:
    """A number for a report line: ``spec`` for floats, thousands separators for ints, "–"
    for None / NaN / inf, "yes" / "NO" for booleans."""
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "–"
    if isinstance(x, bool):
        return "yes" if x else "NO"
    if isinstance(x, int):
        return f"{x:,}"
    return format(x, spec)


def _summary_text(rep: ValidationReport) -> str:
    n = rep.numbers
    s = n["store"]
    lines = [
        f"{s['path']}: {s['n_users']:,} users x {s['n_items']:,} items, "
        f"{s['nnz_train']:,} train / {s['nnz_test']:,} test (factors {s['factors']}, "
        f"shuffle {s['shuffle'] or 'not recorded'})"
    ]
    for axis in ("items", "users"):
        d = n["degrees"][axis]
        e = d["expansion"]
        lines.append(
            f"{axis:5s}: KS(R, expansion) {fmt(d['ks'].get('log_normalized'), '.3f')} "
            f"(standardized {fmt(d['ks']['standardized'], '.3f')}), "
            f"Gini {fmt(d.get('R', {}).get('gini'), '.3f')} -> {fmt(e['gini'], '.3f')}, "
            f"head slope {fmt(d.get('R', {}).get('head_slope'), '.3f')} -> "
            f"{fmt(e['head_slope'], '.3f')}, empty {fmt(e['empty_share'], '.2%')}"
        )
    sp_ = n.get("spectrum") or {}
    if sp_.get("expansion"):
        top = sp_["expansion"][:3]
        pred = (sp_.get("prediction") or [])[:3]
        lines.append(
            "spectrum: top σ "
            + ", ".join(fmt(v, ".5g") for v in top)
            + (" vs Theorem 1 " + ", ".join(fmt(v, ".5g") for v in pred) if pred else "")
            + (
                f" (max |σ/prediction − 1| over {sp_['compared']}: "
                f"{fmt(sp_['max_relative_deviation'], '.3g')})"
                if sp_.get("compared")
                else ""
            )
        )
    b = n.get("blocks") or {}
    if b.get("rank1_energy_share") is not None:
        lines.append(
            f"blocks: rank-1 energy share {fmt(b['rank1_energy_share'], '.3f')} (no shuffle "
            f"{fmt(b.get('expected_share_none'), '.3f')}, full shuffle "
            f"{fmt(b.get('expected_share_shuffled'), '.3f')}; structure left "
            f"{fmt(b.get('structure_left'), '.2f')})"
        )
    sp2 = n.get("split") or {}
    if sp2:
        share = fmt(sp2.get("users_without_test_share"), ".2%")
        mean = fmt(sp2.get("test_per_user", {}).get("mean"), ".3g")
        lines.append(
            f"split: train ∩ test {fmt(sp2.get('overlap'))}, users without test "
            f"{fmt(sp2.get('users_without_test'))} ({share}), test items per user mean {mean}"
        )
    goal = n.get("fidelity_goal")
    if goal:
        lines.append(goal_line(goal))
    lines.extend(f"note: {x}" for x in rep.notes)
    return "\n".join(lines)


#: How the goal's numbers are named in the one-line verdict.
_GOAL_LABELS = {
    "ks_users": "KS users",
    "ks_items": "KS items",
    "top_sigma_deviation": "|σ1 / Theorem 1 − 1|",
    "rank1_energy_share": "rank-1 block energy",
}


def goal_line(goal: dict[str, Any]) -> str:
    """The fidelity goal's verdict in one line (see ``validation.core.fidelity_goal``).

    Examples
    --------
    >>> g = {"goal": {"ks_users": 0.1, "ks_items": 0.1}, "values": {"ks_users": 0.02,
    ...      "ks_items": 0.31}, "missed": ["ks_items"], "met": False}
    >>> goal_line(g)
    'fidelity goal MISSED: KS items 0.310 > 0.10 (met: KS users 0.020)'
    """
    vals, bound = goal["values"], goal["goal"]
    missed = [f"{_GOAL_LABELS[k]} {fmt(vals[k], '.3f')} > {bound[k]:.2f}" for k in goal["missed"]]
    met = [
        f"{_GOAL_LABELS[k]} {fmt(v, '.3f')}"
        for k, v in vals.items()
        if v is not None and k not in goal["missed"]
    ]
    unknown = [_GOAL_LABELS[k] for k, v in vals.items() if v is None]
    tail = f" (not measured: {', '.join(unknown)})" if unknown else ""
    if missed:
        also = f" (met: {', '.join(met)})" if met else ""
        return f"fidelity goal MISSED: {'; '.join(missed)}{also}" + tail
    if goal["met"]:
        return "fidelity goal met: " + ", ".join(met)
    return "fidelity goal: " + (", ".join(met) or "nothing measured") + tail
