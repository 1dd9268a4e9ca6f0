"""The :class:`EvaluationReport`: numbers, per-user values, JSON, ``report.md`` and a figure."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import DaskFractalError, OutputError
from ..validation.report import check_report_dir, fmt, jsonable

__all__ = ["EvaluationReport", "check_report_dir"]


@dataclass(eq=False)
class EvaluationReport:
    """What :func:`~daskfractal.evaluate` measured.

    Attributes
    ----------
    numbers : dict
        Every number as plain Python values (None where undefined): ``store``, ``settings``,
        ``original`` (how it was loaded), ``algorithms`` (names, in order), ``metrics``
        (``"hr@10"``, ``"ndcg@10"``, ...), ``sides`` (how each side was sampled),
        ``results[side][metric][algorithm]`` (``mean``, ``lo``, ``hi``: bootstrap 95 %
        interval over users), ``agreement[metric]`` (``kendall_tau`` / ``spearman_rho`` with
        ``value``, ``lo``, ``hi``; the pairwise order matrices ``order_original``,
        ``order_expansion``, ``agree``, ``significant``; ``n_pairs``, ``n_agree``,
        ``n_significant``, ``n_significant_agree``, ``significant_agreement``,
        ``all_agreement``), ``headline`` (``significant_agreement`` and ``kendall_tau`` of
        NDCG at the first cutoff), ``popularity_ratio[side][metric][algorithm]`` and
        ``timings``.
    values : dict
        Per-user metric values: ``values[side][metric]`` is a float64 array of shape
        (evaluated users, algorithms).
    notes : list of str
        What was sampled or skipped, and why.
    files : dict of str to pathlib.Path
        Files written by :meth:`write`.
    """

    numbers: dict[str, Any]
    values: dict[str, dict[str, np.ndarray]] = field(repr=False, default_factory=dict)
    notes: list[str] = field(default_factory=list)
    files: dict[str, Path] = field(default_factory=dict)

    def __getitem__(self, key: str) -> Any:
        return self.numbers[key]

    def to_dict(self) -> dict[str, Any]:
        """Everything in report.json: the numbers and the notes."""
        return jsonable({**self.numbers, "notes": list(self.notes)})

    def to_json(self, indent: int | None = 2) -> str:
        """:meth:`to_dict` as strict JSON (NaN written as null)."""
        return json.dumps(self.to_dict(), indent=indent, allow_nan=False)

    def table(self, metric: str | None = None) -> list[dict[str, Any]]:
        """One row per algorithm: the metric's mean and interval on each side.

        Parameters
        ----------
        metric : str, optional
            e.g. ``"ndcg@10"`` (default: the headline metric).
        """
        metric = metric or self._headline_metric()
        rows = []
        for name in self.numbers["algorithms"]:
            row: dict[str, Any] = {"algorithm": name}
            for side, res in self.numbers["results"].items():
                r = res[metric][name]
                row[side] = r["mean"]
                row[f"{side}_lo"] = r["lo"]
                row[f"{side}_hi"] = r["hi"]
            rows.append(row)
        return rows

    def _headline_metric(self) -> str:
        head = self.numbers.get("headline")
        if head:
            return str(head["metric"])
        ndcg = [m for m in self.numbers["metrics"] if m.startswith("ndcg@")]
        return ndcg[0] if ndcg else self.numbers["metrics"][0]

    def summary(self) -> str:
        """A few lines for the terminal."""
        n = self.numbers
        s = n["store"]
        sides = n["sides"]
        metric = self._headline_metric()
        lines = [
            f"{s['path']}: factors {s['factors']}, shuffle {s['shuffle']}; protocol "
            f"{n['settings']['protocol']}, {metric}",
        ]
        for side, info in sides.items():
            lines.append(
                f"{side}: {info['n_users']:,} users x {info['n_items']:,} items, "
                f"{info['users_evaluated']:,} evaluated"
            )
        head = ["algorithm", *sides]
        rows = [
            [r["algorithm"], *(fmt(r[side], ".4f") for side in sides)] for r in self.table(metric)
        ]
        width = [max(len(str(x)) for x in col) for col in zip(head, *rows, strict=True)]
        for row in [head, *rows]:
            lines.append("  ".join(str(x).ljust(w) for x, w in zip(row, width, strict=True)))
        h = n.get("headline")
        if h:
            lo, hi = h["kendall_tau_interval"]
            lines.append(
                f"agreement on the {h['n_significant']} pairs ordered significantly on the "
                f"original: {fmt(h['significant_agreement'], '.2f')}; Kendall τ "
                f"{fmt(h['kendall_tau'], '.2f')} [{fmt(lo, '.2f')}, {fmt(hi, '.2f')}], "
                f"Spearman ρ {fmt(h['spearman_rho'], '.2f')}"
            )
        lines.extend(f"note: {x}" for x in self.notes)
        return "\n".join(lines)

    def write(self, report_dir: str | os.PathLike, *, figures: bool = True) -> dict[str, Path]:
        """Write ``report.json``, ``report.md`` and ``evaluation.png`` (with matplotlib).

        Parameters
        ----------
        report_dir : path
            Created if needed; existing report files are replaced.
        figures : bool, default True

        Returns
        -------
        dict of str to pathlib.Path
            ``json``, ``markdown`` and ``figure`` (when drawn).

        Raises
        ------
        OutputError
            ``report_dir`` is a file, or a file cannot be written.
        """
        out = check_report_dir(report_dir)
        assert out is not None
        try:
            self.files = self._write(out, figures)
        except DaskFractalError:
            raise
        except OSError as e:
            raise OutputError(f"cannot write the report into {out}: {e.strerror or e}") from e
        return self.files

    def _write(self, out: Path, figures: bool) -> dict[str, Path]:
        out.mkdir(parents=True, exist_ok=True)
        files: dict[str, Path] = {}
        why_not = None
        if figures:
            try:
                import matplotlib  # noqa: F401
            except ImportError:
                why_not = (
                    "figure skipped: matplotlib is not installed "
                    "(pip install 'daskfractal[report]')"
                )
            else:
                fig = self._figure()
                path = out / "evaluation.png"
                fig.savefig(path, dpi=110, metadata={"Software": None})
                files["figure"] = path
        else:
            why_not = "figure skipped (figures=False / --no-figures)"
        doc = self.to_dict()
        doc["figures"] = ["evaluation.png"] if "figure" in files else []
        (out / "report.json").write_text(
            json.dumps(doc, indent=2, allow_nan=False) + "\n", encoding="utf-8"
        )
        (out / "report.md").write_text(self._markdown("figure" in files, why_not), encoding="utf-8")
        files["json"] = out / "report.json"
        files["markdown"] = out / "report.md"
        return files

    def _figure(self) -> Any:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure

        n = self.numbers
        metric = self._headline_metric()
        names = n["algorithms"]
        sides = list(n["results"])
        fig = Figure(figsize=(max(6.0, 1.1 * len(names) + 2), 4.2), layout="constrained")
        FigureCanvasAgg(fig)
        ax = fig.subplots()
        x = np.arange(len(names))
        width = 0.8 / len(sides)
        colors = {"original": "tab:blue", "expansion": "tab:red"}
        for s, side in enumerate(sides):
            res = n["results"][side][metric]
            mean = np.array([res[a]["mean"] for a in names], dtype=float)
            lo = np.array([res[a]["lo"] for a in names], dtype=float)
            hi = np.array([res[a]["hi"] for a in names], dtype=float)
            ax.bar(
                x + (s - (len(sides) - 1) / 2) * width,
                mean,
                width,
                yerr=np.vstack([mean - lo, hi - mean]),
                capsize=3,
                color=colors.get(side, None),
                label=side,
            )
        ax.set_xticks(x, names, rotation=30, ha="right")
        ax.set_ylabel(metric.upper())
        title = f"{metric.upper()} per algorithm, 95 % bootstrap intervals"
        h = n.get("headline")
        if h:
            title += (
                f"\nKendall τ {fmt(h['kendall_tau'], '.2f')}, agreement on significant "
                f"pairs {fmt(h['significant_agreement'], '.2f')} ({h['n_significant']} pairs)"
            )
        ax.set_title(title, fontsize=10)
        ax.legend()
        return fig

    def _markdown(self, figure: bool, why_not: str | None) -> str:
        n = self.numbers
        s = n["store"]
        st = n["settings"]
        lines = [
            "# Downstream fidelity: algorithm rankings",
            "",
            f"Store `{s['path']}`: {s['n_users']:,} users × {s['n_items']:,} items, "
            f"{s['nnz_train']:,} train / {s['nnz_test']:,} test; factors {s['factors']}, "
            f"shuffle `{s['shuffle']}`, dropout `{s['dropout']}`, test policy "
            f"`{s['test_policy']}`.",
            "",
            f"Protocol `{st['protocol']}`"
            + (f" ({st['negatives']} sampled negatives)" if st["protocol"] == "sampled" else "")
            + f", one held-out item per user, k = {', '.join(map(str, st['k']))}; at most "
            f"{st['users']:,} users and {st['max_items']:,} items per side; seed {st['seed']}; "
            f"{st['n_boot']} bootstrap replicates. Ties: {st['ties']}.",
            "",
            "| side | users | items | train | evaluated users | sample |",
            "|---|---|---|---|---|---|",
        ]
        for side, info in n["sides"].items():
            how = "the pre-processed input"
            if side == "expansion":
                how = (
                    f"block rows {info.get('block_rows')} × block columns {info.get('block_cols')}"
                    + (" (the whole store)" if info.get("whole_store") else "")
                )
            lines.append(
                f"| {side} | {info['n_users']:,} | {info['n_items']:,} | {info['nnz_train']:,} "
                f"| {info['users_evaluated']:,} | {how} |"
            )
        h = n.get("headline")
        if h:
            lo, hi = h["kendall_tau_interval"]
            lines += [
                "",
                "## Headline",
                "",
                f"- Agreement on the pairs of algorithms whose order is significant on the "
                f"original ({h['metric']}, paired bootstrap): **"
                f"{fmt(h['significant_agreement'], '.2f')}** over {h['n_significant']} pairs.",
                f"- Kendall τ between the orderings: {fmt(h['kendall_tau'], '.2f')} "
                f"[{fmt(lo, '.2f')}, {fmt(hi, '.2f')}]; Spearman ρ "
                f"{fmt(h['spearman_rho'], '.2f')}.",
            ]
        for metric in n["metrics"]:
            sides = list(n["results"])
            lines += ["", f"## {metric}", "", "| algorithm | " + " | ".join(sides) + " |"]
            lines.append("|---" * (len(sides) + 1) + "|")
            for r in self.table(metric):
                cells = [
                    f"{fmt(r[sd], '.4f')} [{fmt(r[sd + '_lo'], '.4f')}, "
                    f"{fmt(r[sd + '_hi'], '.4f')}]"
                    for sd in sides
                ]
                lines.append(f"| {r['algorithm']} | " + " | ".join(cells) + " |")
            ag = (n.get("agreement") or {}).get(metric)
            if ag:
                lines.append("")
                lines.append(
                    f"Kendall τ {fmt(ag['kendall_tau']['value'], '.2f')} "
                    f"[{fmt(ag['kendall_tau']['lo'], '.2f')}, "
                    f"{fmt(ag['kendall_tau']['hi'], '.2f')}], Spearman ρ "
                    f"{fmt(ag['spearman_rho']['value'], '.2f')}; pairs in the same order "
                    f"{ag['n_agree']}/{ag['n_pairs']}, of those significant on the original "
                    f"{ag['n_significant_agree']}/{ag['n_significant']}."
                )
            ratios = {side: r.get(metric) for side, r in n.get("popularity_ratio", {}).items()}
            if ratios and all(ratios.values()):
                lines.append("")
                lines.append(
                    "Ratio to popularity: "
                    + "; ".join(
                        f"{a} " + " / ".join(fmt(ratios[sd][a], ".2f") for sd in ratios)
                        for a in n["algorithms"]
                    )
                    + f" ({' / '.join(ratios)})."
                )
        if figure:
            lines += ["", "![algorithms on both sides](evaluation.png)"]
        elif why_not:
            lines += ["", f"_{why_not}_"]
        if self.notes:
            lines += ["", "## Notes", ""] + [f"- {x}" for x in self.notes]
        return "\n".join(lines) + "\n"
