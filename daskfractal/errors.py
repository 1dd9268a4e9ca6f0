"""Exceptions raised by daskfractal.

Every error a user can cause (a bad file, a wrong parameter, a corrupted download) is raised
as one of these, with a message that names the file, line or parameter at fault.
"""

from __future__ import annotations


class DaskFractalError(Exception):
    """Base class of every error daskfractal raises on purpose."""


class InputDataError(DaskFractalError, ValueError):
    """An input file or in-memory input is malformed (missing columns, bad ids, empty, ...)."""


class ParameterError(DaskFractalError, ValueError):
    """A parameter is impossible (factors < 1, unknown option, ...)."""


class DownloadError(DaskFractalError, OSError):
    """A download failed: offline, HTTP error, or a checksum mismatch."""


class StoreError(DaskFractalError, OSError):
    """An output store is missing, incomplete or inconsistent."""


class OutputError(DaskFractalError, OSError):
    """The output cannot be written: disk full, read-only file system, no permission, a path
    that is a file where a folder is needed (the input data is fine)."""


class ResourceError(DaskFractalError):
    """A job would not fit: its estimated output exceeds the free disk, or a task's estimated
    memory exceeds the memory limit. Raised before any work starts; ``force=True`` (``--force``)
    skips the check."""


class AlgorithmError(DaskFractalError, RuntimeError):
    """A recommender (built-in or user-supplied) failed to fit or score."""
