"""Presets: every option of a published expansion at once (``--preset`` / ``preset=``).

A :class:`Preset` names the pre-processing, R̂ and expansion options and the output format
that reproduce one published pipeline as closely as daskfractal allows:

* ``mlperf``: the MLPerf reference (mlcommons/training ``data_generation/
  fractal_graph_expansions``), which made MovieLens-1B (``ml-20mx16x32``);
* ``meta``: Meta generative-recommenders' ``run_fractal_expansion.py`` (ML-3B, ML-13B,
  ML-18B);
* ``faithful``: daskfractal's defaults, the modes that keep degree distributions and the
  spectrum best (docs/fidelity.md).

Options given explicitly (CLI flags, keyword arguments) override the preset's; what the
preset set and what was overridden is recorded in the store (``params.preset``).

Examples
--------
>>> from daskfractal.presets import PRESETS
>>> PRESETS["mlperf"].expand["dropout"], PRESETS["mlperf"].format
('exact', 'mlperf')
>>> sorted(PRESETS)
['faithful', 'meta', 'mlperf']
"""

from __future__ import annotations

import types
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from .errors import ParameterError

__all__ = [
    "PRESETS",
    "PRESET_NAMES",
    "Preset",
    "get_preset",
    "preset_record",
    "preset_with_format",
]


def _frozen(d: dict[str, Any]) -> Mapping[str, Any]:
    return types.MappingProxyType(dict(d))


@dataclass(frozen=True)
class Preset:
    """The options of one published expansion.

    Attributes
    ----------
    name : str
        ``mlperf``, ``meta`` or ``faithful``.
    summary : str
        One line: what it reproduces.
    preprocess : Mapping
        Keyword arguments of :func:`daskfractal.preprocess` (``binarize``,
        ``min_distinct_timestamps``, ``tie_policy``, ``split``).
    reduce : Mapping
        Keyword arguments of :func:`daskfractal.reduce` (``resize``, ``rescale``, ``clip``,
        ``clip_rule``, ``scale``).
    expand : Mapping
        Keyword arguments of :func:`daskfractal.expand` (``shuffle``, ``dropout``,
        ``test_policy``, ``block_sample_rate``, ``carry``, ``timeline``, ``rows``).
    format : str
        The output format: ``zarr``, ``mlperf`` or ``meta-csv``.
    """

    name: str
    summary: str
    preprocess: Mapping[str, Any]
    reduce: Mapping[str, Any]
    expand: Mapping[str, Any]
    format: str

    def options(self) -> dict[str, Any]:
        """Every option of the preset, flat: pre-processing, R̂, expansion and ``format``."""
        return {**self.preprocess, **self.reduce, **self.expand, "format": self.format}

    def describe(self) -> str:
        """The options as ``name=value`` pairs, for ``--help`` and messages.

        Examples
        --------
        >>> print(PRESETS["faithful"].describe())  # doctest: +NORMALIZE_WHITESPACE
        shuffle=stratified, dropout=auto, test_policy=all, timeline=aligned, rows=shared,
        format=zarr
        """
        return ", ".join(f"{k}={_text(v)}" for k, v in self.options().items())


def _text(v: Any) -> str:
    if isinstance(v, tuple | list):
        return ",".join(str(x) for x in v) if v else "none"
    return str(v)


#: The presets by name (read-only).
PRESETS: Final[Mapping[str, Preset]] = types.MappingProxyType(
    {
        "mlperf": Preset(
            name="mlperf",
            summary="the MLPerf reference that made MovieLens-1B (ml-20mx16x32)",
            preprocess=_frozen(
                {"binarize": True, "min_distinct_timestamps": 3, "tie_policy": "all"}
            ),
            reduce=_frozen(
                {
                    "resize": "legacy",
                    "rescale": "abs-max",
                    "clip": (0.01, 0.95),
                    "clip_rule": "keep-max",
                    "scale": 1.0,
                }
            ),
            expand=_frozen(
                {
                    "shuffle": "block",
                    "dropout": "exact",
                    "test_policy": "one",
                    "block_sample_rate": 1.0,
                    "carry": (),
                    "timeline": "source",
                    "rows": "per-block",
                }
            ),
            format="mlperf",
        ),
        "meta": Preset(
            name="meta",
            summary="Meta generative-recommenders' run_fractal_expansion.py (ML-3B/13B/18B)",
            preprocess=_frozen({"binarize": False, "split": "none"}),
            reduce=_frozen(
                {
                    "resize": "antialias",
                    "rescale": "minmax",
                    "clip": (0.001, 0.995),
                    "clip_rule": "after-scale",
                    "scale": 1.0,
                }
            ),
            expand=_frozen(
                {
                    "shuffle": "block",
                    "dropout": "exact",
                    "test_policy": "all",
                    "block_sample_rate": 1.0,
                    "carry": ("ratings",),
                    "timeline": "source",
                    "rows": "per-block",
                }
            ),
            format="meta-csv",
        ),
        "faithful": Preset(
            name="faithful",
            summary="daskfractal's defaults: the modes that keep degrees and spectrum best",
            preprocess=_frozen({}),
            reduce=_frozen({}),
            expand=_frozen(
                {
                    "shuffle": "stratified",
                    "dropout": "auto",
                    "test_policy": "all",
                    "timeline": "aligned",
                    "rows": "shared",
                }
            ),
            format="zarr",
        ),
    }
)

#: The preset names, in the order ``--help`` lists them.
PRESET_NAMES: Final[tuple[str, ...]] = tuple(PRESETS)


def get_preset(preset: str | Preset) -> Preset:
    """The :class:`Preset` of a name (or the preset itself), else :class:`ParameterError`."""
    if isinstance(preset, Preset):
        return preset
    if not isinstance(preset, str) or preset not in PRESETS:
        raise ParameterError(f"preset={preset!r} is not one of {list(PRESET_NAMES)}")
    return PRESETS[preset]


def preset_record(preset: Preset, used: Mapping[str, Any]) -> dict[str, Any]:
    """What a store records of a preset: its name and the options that differ from it.

    Parameters
    ----------
    preset : Preset
    used : Mapping
        The options the run used, by the preset's names (those missing are not compared).

    Returns
    -------
    dict
        ``{"name": ..., "overridden": {option: value used}}``.

    Examples
    --------
    >>> preset_record(PRESETS["mlperf"], {"dropout": "bernoulli", "shuffle": "block"})
    {'name': 'mlperf', 'overridden': {'dropout': 'bernoulli'}}
    """
    overridden = {
        k: _plain(used[k])
        for k, v in preset.options().items()
        if k in used and _plain(used[k]) != _plain(v)
    }
    return {"name": preset.name, "overridden": overridden}


def preset_with_format(record: Mapping[str, Any], format: str) -> dict[str, Any]:
    """A recorded preset (:func:`preset_record`) with ``format`` among the overridden
    options when the store is written in another format than the preset's.

    Examples
    --------
    >>> preset_with_format({"name": "mlperf", "overridden": {}}, "zarr")
    {'name': 'mlperf', 'overridden': {'format': 'zarr'}}
    """
    out = {**record, "overridden": dict(record.get("overridden", {}))}
    preset = PRESETS.get(str(record.get("name")))
    if preset is not None and preset.format != format:
        out["overridden"]["format"] = format
    return out


def _plain(v: Any) -> Any:
    """JSON's view of a value (tuples as lists), so recorded and given values compare."""
    if isinstance(v, tuple | list):
        return [_plain(x) for x in v]
    return v
