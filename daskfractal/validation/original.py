"""The original ``R``: reload the expansion's input and check it against the store's checksum.

For a multi-level store the input of the outermost level is the intermediate ``R̂₂ ⊗rand R``,
rebuilt from the original and the recorded inner levels.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from ..datasets import load
from ..errors import InputDataError, ParameterError
from ..expansion import input_checksum, rebuild_input
from ..interactions import Interactions
from ..preprocess import SplitData, preprocess

_PREPROCESS_KEYS = (
    "binarize",
    "positive_threshold",
    "min_distinct_timestamps",
    "split",
    "tie_policy",
    "seed",
)


def keep_of(params: dict) -> np.ndarray | None:
    red = params.get("reduced") or {}
    keep = red.get("keep")
    return None if keep is None else np.asarray(keep, dtype=np.float64)


def load_original(
    original: Any, params: dict, notes: list[str], scheduler: Any = None
) -> tuple[SplitData | None, dict[str, Any]]:
    """R_train / R_test of the expansion's input, checked against the store's checksum.

    For a multi-level store the input is the intermediate R̂₂ ⊗rand R: it is rebuilt from the
    original and the recorded inner levels (unless ``original`` is that intermediate).
    """
    info: dict[str, Any] = {"available": False, "how": None, "source": None}
    if original is False:
        notes.append(
            "the original was not loaded (original=False / --no-original): R's degrees are "
            "missing and its spectrum is the top min(m', n') singular values stored with R̂"
        )
        return None, info
    explicit = original is not None
    pre = {k: v for k, v in (params.get("preprocess") or {}).items() if k in _PREPROCESS_KEYS}
    if original is None:
        src = params.get("source")
        if not src or str(src).startswith("<"):
            notes.append(
                "the original data is not available (in-memory input): R's degrees are missing "
                "and its spectrum is the top min(m', n') singular values stored with R̂; pass "
                "--original INPUT"
            )
            return None, info
        original = src
        info["how"] = "source"
    else:
        info["how"] = "argument"
    try:
        if isinstance(original, SplitData):
            split = original
        elif isinstance(original, Interactions):
            split = preprocess(original, **pre)
        elif isinstance(original, str | os.PathLike):
            info["source"] = str(original)
            split = preprocess(load(original), **pre)
        else:
            raise ParameterError(
                f"original must be a path, Interactions or SplitData, got {type(original).__name__}"
            )
    except (OSError, InputDataError, ParameterError) as e:
        if explicit:
            raise
        notes.append(f"the store's source {original} could not be reloaded ({e}); pass --original")
        return None, {"available": False, "how": None, "source": str(original)}
    want = params.get("input_sha256")
    privacy = params.get("privacy") or {}
    if privacy.get("input_sha256"):
        # the level expanded R after randomized response: the original is the real R
        want = privacy["input_sha256"]
        notes.append(
            f"the store expanded R_train after randomized response (ε = "
            f"{privacy.get('epsilon')}): R is the real input, before the defence"
        )
    got = input_checksum(split.signed())
    levels = params.get("levels") or []
    if want is not None and got != want and len(levels) > 1:
        if got != levels[-1].get("input_sha256"):
            msg = (
                f"the original {info['source'] or '(given data)'} is neither the input of this "
                f"{len(levels)}-level store's innermost level (SHA-256 "
                f"{str(levels[-1].get('input_sha256'))[:12]}…) nor its intermediate "
                f"({want[:12]}…): its pre-processed matrices have {got[:12]}…; pass "
                "original= the data set pre-processed as params.preprocess records, or the "
                "intermediate SplitData (the inner Expansion's to_split())"
            )
            if explicit:
                raise InputDataError(msg)
            notes.append(msg + "; the original is ignored")
            return None, {"available": False, "how": None, "source": info["source"]}
        try:
            split = rebuild_input(split, levels, scheduler=scheduler)
        except InputDataError as e:
            if explicit:
                raise
            notes.append(f"the intermediate could not be rebuilt ({e}); pass --original")
            return None, {"available": False, "how": None, "source": info["source"]}
        got = input_checksum(split.signed())
        info["rebuilt_levels"] = len(levels) - 1
        notes.append(
            f"multi-level store ({len(levels)} levels): R is the input of the outermost "
            f"level, rebuilt from the original and the {len(levels) - 1} recorded inner "
            "level(s) (params.levels)"
        )
    info["sha256_matches"] = None if want is None else bool(got == want)
    if want is not None and got != want:
        msg = (
            f"the original {info['source'] or '(given data)'} is not the store's input: its "
            f"pre-processed matrices ({split.shape[0]} x {split.shape[1]}, {split.train.nnz} "
            f"train) have SHA-256 {got[:12]}…, the store was expanded from {want[:12]}… "
            f"(shape {params.get('input_shape')}, {params.get('input_train')} train)"
        )
        if explicit:
            raise InputDataError(msg + "; pre-process it as the store records in params.preprocess")
        notes.append(msg + "; the original is ignored")
        return None, {"available": False, "how": None, "source": info["source"]}
    info.update(
        available=True,
        n_users=int(split.shape[0]),
        n_items=int(split.shape[1]),
        nnz_train=int(split.train.nnz),
        nnz_test=int(split.test.nnz),
    )
    return split, info
