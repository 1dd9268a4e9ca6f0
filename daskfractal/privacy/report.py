"""The result of a privacy audit: :class:`PrivacyReport` (numbers, summary, files)."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import OutputError
from ..validation.report import check_report_dir

__all__ = ["PrivacyReport", "check_report_dir"]


def _pct(x: float | None) -> str:
    return "n/a" if x is None else f"{100 * x:.2f} %"


@dataclass
class PrivacyReport:
    """What :func:`daskfractal.privacy_audit` measured.

    Attributes
    ----------
    numbers : dict
        Plain JSON values: ``store`` (shape, shuffle, dropout, factors), ``original``,
        ``linkage`` (``segments``, ``users``, ``top1``, ``top10``, ``chance_top1``,
        ``chance_top10``, ``users_linked``, ``per_block_column``, ``ground_truth_check``),
        ``membership`` (``members``, ``non_members``, ``auc``, ``mean_score_members``,
        ``mean_score_non_members``) or None, ``revealed`` (the store attributes that help an
        attacker, with what each gives), ``options`` and ``timings``.
    notes : list of str
        How the audit was run and what it could not do.
    files : dict of str to pathlib.Path
        Files written by :meth:`write`.

    Examples
    --------
    >>> rep = PrivacyReport({"linkage": {"top1": 0.5, "chance_top1": 0.01}})
    >>> rep.numbers["linkage"]["top1"]
    0.5
    """

    numbers: dict[str, Any]
    notes: list[str] = field(default_factory=list)
    files: dict[str, Path] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """``numbers`` and ``notes`` as one JSON-friendly dict."""
        return {**self.numbers, "notes": list(self.notes)}

    def to_json(self, indent: int | None = 2) -> str:
        """:meth:`to_dict` as JSON text."""
        return json.dumps(self.to_dict(), indent=indent, allow_nan=False, default=str)

    def summary(self) -> str:
        """A few human-readable lines: linkage against chance, membership AUC."""
        st = self.numbers.get("store", {})
        lk = self.numbers.get("linkage") or {}
        lines = [
            f"privacy audit of {st.get('path', '?')} (shuffle {st.get('shuffle', '?')}, "
            f"dropout {st.get('dropout', '?')}, factors {st.get('factors', '?')})",
            f"re-identification: {lk.get('segments', 0):,} segments of {lk.get('users', 0):,} "
            f"users: top-1 {_pct(lk.get('top1'))} (chance {_pct(lk.get('chance_top1'))}), "
            f"top-10 {_pct(lk.get('top10'))} (chance {_pct(lk.get('chance_top10'))}); "
            f"users with a segment linked {_pct(lk.get('users_linked'))}",
        ]
        mem = self.numbers.get("membership")
        if mem:
            auc = mem.get("auc")
            lines.append(
                f"membership inference: ROC AUC {'n/a' if auc is None else f'{auc:.3f}'} "
                f"({mem.get('members', 0)} members, {mem.get('non_members', 0)} non-members; "
                "0.5 is chance)"
            )
        rev = self.numbers.get("revealed") or {}
        present = [k for k, v in rev.items() if v.get("present")]
        if present:
            lines.append("store attributes that help an attacker: " + ", ".join(present))
        return "\n".join(lines)

    def write(self, report_dir: str | os.PathLike) -> dict[str, Path]:
        """Write ``privacy.json`` and ``privacy.md`` into ``report_dir`` (created).

        Returns
        -------
        dict of str to pathlib.Path
            ``json`` and ``markdown``; also stored in :attr:`files`.
        """
        out = check_report_dir(report_dir)
        assert out is not None
        try:
            out.mkdir(parents=True, exist_ok=True)
            files = {"json": out / "privacy.json", "markdown": out / "privacy.md"}
            files["json"].write_text(self.to_json() + "\n")
            md = ["# Privacy audit", "", "```text", self.summary(), "```", ""]
            per = (self.numbers.get("linkage") or {}).get("per_block_column") or []
            if per:
                md += ["| block column | segments | top-1 | top-10 |", "|---|---|---|---|"]
                md += [
                    f"| {row['j']} | {row['segments']} | {_pct(row['top1'])} | "
                    f"{_pct(row['top10'])} |"
                    for row in per
                ]
                md.append("")
            rev = self.numbers.get("revealed") or {}
            if rev:
                md += ["| store attribute | present | what it gives an attacker |", "|---|---|---|"]
                md += [
                    f"| `{k}` | {'yes' if v['present'] else 'no'} | {v['gives']} |"
                    for k, v in rev.items()
                ]
                md.append("")
            md += [f"- {n}" for n in self.notes]
            files["markdown"].write_text("\n".join(md) + "\n")
        except OSError as e:
            raise OutputError(f"cannot write the privacy report into {out}: {e}") from e
        self.files = files
        return files
