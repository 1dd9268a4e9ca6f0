"""The one I/O interface of the store layer: local folders and object stores (fsspec URLs).

Every store, work folder and lock is addressed by a :data:`StorePath`: a
:class:`pathlib.Path` for a local folder (``file://`` URLs become one), or a
:class:`RemotePath` for any other fsspec URL (``s3://bucket/prefix``, ``gcs://``,
``memory://`` ...). :class:`RemotePath` has the few ``pathlib`` methods the store code uses
(``/``, ``exists``, ``is_file``, ``iterdir``, ``glob``, ``read_bytes``, ``unlink`` ...), so
the writers and readers run the same code on both; the operations that differ are the
functions of this module:

* :func:`staged_file`: a file written whole or not at all. Locally a hidden temporary file
  moved into place with ``os.replace``; on an object store a local temporary file uploaded
  with one PUT (or one multipart upload), which creates the object atomically: readers see
  the old object or the whole new one, never a part.
* :func:`atomic_write_bytes`, :func:`remove_tree`, :func:`walk_files`, :func:`tree_size`.
* :func:`zarr_store` and :func:`arrow_source`: what Zarr and pyarrow open.
* :func:`remote_errors`: client-library errors as one-line daskfractal errors.

Object stores have no directories (a "folder" exists while an object lies under its prefix),
no rename, no ``flock``: the store's protocol is the same (the ownership marker is the first
object of a prefix, pieces are single objects, the manifest and ``_SUCCESS`` are written
last), and the output lock is a conditional PUT (``If-None-Match: *``) where the file system
supports it (see :mod:`._ownership`).

Storage options (credentials, endpoint, region ...) come from, in this order: the options
given with :func:`set_storage_options`, the JSON of the environment variable
``DASKFRACTAL_STORAGE_OPTIONS``, the client library's own configuration (``AWS_*``
variables, ``~/.aws``). A :class:`RemotePath` carries its options when it is pickled, so Dask
workers reach the store with the options of the driver.
"""

from __future__ import annotations

import fnmatch
import json
import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import SimpleNamespace
from typing import IO, TYPE_CHECKING, Any

from ..errors import DaskFractalError, OutputError, ParameterError, StoreError

if TYPE_CHECKING:
    import fsspec
    import zarr.abc.store

#: Environment variable holding the storage options as a JSON object.
STORAGE_OPTIONS_ENV = "DASKFRACTAL_STORAGE_OPTIONS"

#: Options daskfractal sets per protocol unless the user's options set them: short connect
#: and read timeouts and few retries (a wrong endpoint fails in seconds, not minutes), and no
#: listing cache (another process, a Dask worker, writes the same prefix).
PROTOCOL_DEFAULTS: dict[str, dict[str, Any]] = {
    "s3": {
        "use_listings_cache": False,
        "config_kwargs": {
            "connect_timeout": 5,
            "read_timeout": 60,
            "retries": {"max_attempts": 3, "mode": "standard"},
        },
    },
}

#: Protocols whose first path component is a bucket (checked by :func:`check_reachable`).
BUCKET_PROTOCOLS = frozenset({"s3", "s3a", "gs", "gcs", "az", "abfs", "abfss", "oss"})

#: Packages whose exceptions are errors of the storage service or its client.
_CLIENT_PACKAGES = frozenset({"botocore", "aiobotocore", "aiohttp", "s3fs", "fsspec", "gcsfs"})

_options: dict[str, Any] | None = None


def set_storage_options(options: dict[str, Any] | str | None) -> None:
    """Set the fsspec storage options of the object-store URLs opened from now on.

    Stores, work prefixes and locks may be fsspec URLs (``s3://bucket/prefix``, ``gcs://``
    ...) wherever a path is accepted (``Expansion.to_zarr``, :func:`daskfractal.open`,
    ``validate`` ...). Their options (endpoint, credentials, region, ...) are, in this order:
    the ones set here, the JSON of ``DASKFRACTAL_STORAGE_OPTIONS``, the client library's own
    configuration (``AWS_*`` variables, ``~/.aws``). A store's path carries its options to the
    Dask workers.

    Parameters
    ----------
    options : dict, str or None
        A dict, or its JSON text; ``None`` goes back to ``DASKFRACTAL_STORAGE_OPTIONS``.

    Raises
    ------
    ParameterError
        If the text is not a JSON object.

    Examples
    --------
    >>> set_storage_options('{"anon": true}')
    >>> storage_options()
    {'anon': True}
    >>> set_storage_options(None)
    """
    global _options
    _options = None if options is None else _parse_options(options, "storage options")


def _parse_options(options: dict[str, Any] | str, what: str) -> dict[str, Any]:
    if isinstance(options, str):
        try:
            options = json.loads(options)
        except ValueError as exc:
            raise ParameterError(f"{what} must be a JSON object: {exc}") from None
    if not isinstance(options, dict):
        raise ParameterError(f"{what} must be a JSON object, got {type(options).__name__}")
    return dict(options)


def storage_options() -> dict[str, Any]:
    """The storage options in force (see :func:`set_storage_options`); a copy."""
    if _options is not None:
        return dict(_options)
    text = os.environ.get(STORAGE_OPTIONS_ENV, "").strip()
    return _parse_options(text, STORAGE_OPTIONS_ENV) if text else {}


def _merged(protocol: str, options: dict[str, Any]) -> dict[str, Any]:
    out = json.loads(json.dumps(PROTOCOL_DEFAULTS.get(protocol, {})))
    for key, value in options.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = {**out[key], **value}
        else:
            out[key] = value
    return out


class RemotePath:
    """A file or "folder" (key prefix) of an fsspec file system, used like a ``pathlib.Path``.

    Parameters
    ----------
    protocol : str
        The fsspec protocol (``"s3"``, ``"memory"`` ...).
    key : str
        The path inside the file system, without protocol or trailing ``/``
        (``"bucket/prefix/store"``).
    options : dict
        Storage options for :func:`fsspec.filesystem`.
    """

    __slots__ = ("key", "options", "protocol")

    def __init__(self, protocol: str, key: str, options: dict[str, Any]) -> None:
        self.protocol = protocol
        self.key = key.strip("/")
        self.options = options

    # ------------------------------------------------------------------ naming
    def __str__(self) -> str:
        return f"{self.protocol}://{self.key}"

    def __repr__(self) -> str:
        return f"RemotePath({str(self)!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, RemotePath) and (self.protocol, self.key) == (
            other.protocol,
            other.key,
        )

    def __lt__(self, other: RemotePath) -> bool:
        return (self.protocol, self.key) < (other.protocol, other.key)

    def __hash__(self) -> int:
        return hash((self.protocol, self.key))

    def __reduce__(self) -> tuple[Any, ...]:
        return (RemotePath, (self.protocol, self.key, self.options))

    def __truediv__(self, other: str) -> RemotePath:
        return RemotePath(self.protocol, f"{self.key}/{str(other).strip('/')}", self.options)

    @property
    def name(self) -> str:
        """The last component."""
        return self.key.rsplit("/", 1)[-1]

    @property
    def parent(self) -> RemotePath:
        """The prefix one level up (the bucket is its own parent)."""
        return RemotePath(self.protocol, self.key.rsplit("/", 1)[0], self.options)

    def with_name(self, name: str) -> RemotePath:
        """The sibling called ``name``."""
        if "/" not in self.key:
            return RemotePath(self.protocol, name, self.options)
        return self.parent / name

    @property
    def fs(self) -> fsspec.AbstractFileSystem:
        """The fsspec file system (fsspec caches instances per options and process)."""
        import fsspec

        return fsspec.filesystem(self.protocol, **_merged(self.protocol, self.options))

    # ------------------------------------------------------------------ queries
    def exists(self) -> bool:
        """Whether an object or a prefix with objects is there."""
        return bool(self.fs.exists(self.key))

    def is_file(self) -> bool:
        """Whether an object is there."""
        return bool(self.fs.isfile(self.key))

    def is_dir(self) -> bool:
        """Whether objects lie under the prefix (an object store has no empty folders)."""
        return bool(self.fs.isdir(self.key))

    def is_symlink(self) -> bool:
        """Always false: object stores have no links."""
        return False

    def iterdir(self) -> Iterator[RemotePath]:
        """The objects and prefixes one level below."""
        for entry in self.fs.ls(self.key, detail=False):
            yield self / str(entry).rstrip("/").rsplit("/", 1)[-1]

    def glob(self, pattern: str) -> Iterator[RemotePath]:
        """Objects one level below whose name matches ``pattern`` (no ``/`` in it); none
        when nothing lies under the prefix (like ``Path.glob`` of a missing folder)."""
        try:
            entries = list(self.iterdir())
        except FileNotFoundError:
            return
        for entry in entries:
            if fnmatch.fnmatchcase(entry.name, pattern):
                yield entry

    def rglob(self, pattern: str) -> Iterator[RemotePath]:
        """Objects at any depth below whose name matches ``pattern``."""
        for rel in walk_files(self):
            if fnmatch.fnmatchcase(rel.rsplit("/", 1)[-1], pattern):
                yield self / rel

    def stat(self) -> SimpleNamespace:
        """``st_size`` of the object (``FileNotFoundError`` when there is none)."""
        info = self.fs.info(self.key)
        if info.get("type") == "directory":
            raise IsADirectoryError(str(self))
        return SimpleNamespace(st_size=int(info["size"]))

    # ------------------------------------------------------------------ reading and writing
    def open(self, mode: str = "rb") -> IO[bytes]:
        """The object opened by fsspec (binary modes only)."""
        f: IO[bytes] = self.fs.open(self.key, mode)
        return f

    def read_bytes(self) -> bytes:
        """The object's bytes."""
        return bytes(self.fs.cat_file(self.key))

    def read_text(self, encoding: str = "utf-8") -> str:
        """The object's text."""
        return self.read_bytes().decode(encoding)

    def write_bytes(self, data: bytes | memoryview) -> int:
        """Create or replace the object with ``data`` in one PUT (atomic for readers)."""
        self.fs.pipe_file(self.key, bytes(data))
        return len(data)

    def write_text(self, text: str, encoding: str = "utf-8") -> int:
        """Create or replace the object with ``text``."""
        return self.write_bytes(text.encode(encoding))

    def create_exclusive(self, data: bytes) -> bool:
        """Create the object only if none exists (a conditional PUT, ``If-None-Match: *``).

        Returns
        -------
        bool
            False when an object is already there. File systems without conditional writes
            check first, then write: two writers racing within one round trip both succeed.
        """
        try:
            self.fs.pipe_file(self.key, data, mode="create")
        except FileExistsError:
            return False
        except (TypeError, NotImplementedError, ValueError):
            if self.is_file():
                return False
            self.write_bytes(data)
        return True

    def touch(self) -> None:
        """Create an empty object."""
        self.write_bytes(b"")

    def unlink(self, missing_ok: bool = False) -> None:
        """Delete the object."""
        if not missing_ok and not self.is_file():
            raise FileNotFoundError(str(self))
        try:
            self.fs.rm_file(self.key)
        except FileNotFoundError:
            if not missing_ok:
                raise

    def mkdir(self, parents: bool = False, exist_ok: bool = False) -> None:
        """Nothing to create on an object store; refuses like ``Path.mkdir`` when objects lie
        under the prefix and ``exist_ok`` is false."""
        if not exist_ok and self.is_dir():
            raise FileExistsError(str(self))

    def rmdir(self) -> None:
        """Nothing to remove: a prefix vanishes with its last object."""


#: Where a store lives: a local folder or an object-store prefix.
StorePath = Path | RemotePath


def is_remote(path: object) -> bool:
    """Whether ``path`` names an object store (an fsspec URL other than ``file://``).

    Examples
    --------
    >>> is_remote("s3://bucket/out"), is_remote("out.zarr"), is_remote("file:///tmp/x")
    (True, False, False)
    """
    if isinstance(path, RemotePath):
        return True
    if isinstance(path, str | os.PathLike):
        text = os.fspath(path)
        return isinstance(text, str) and "://" in text and not text.startswith("file://")
    return False


def store_path(path: str | os.PathLike[str] | RemotePath) -> StorePath:
    """``path`` as a :data:`StorePath`: a ``Path``, or a :class:`RemotePath` for a URL.

    Raises
    ------
    ParameterError
        If the URL is malformed, names a protocol fsspec does not know, or needs a package
        that is not installed (``s3://`` needs ``s3fs``: ``pip install daskfractal[s3]``).

    Examples
    --------
    >>> store_path("s3://bucket/a/b/")
    RemotePath('s3://bucket/a/b')
    >>> store_path("file:///tmp/out.zarr")
    PosixPath('/tmp/out.zarr')
    """
    if isinstance(path, RemotePath | Path):
        return path
    text = os.fspath(path)
    if "://" not in text:
        return Path(text)
    protocol, _, key = text.partition("://")
    if protocol == "file":
        return Path(key)
    if not protocol.isidentifier() and not protocol.replace("-", "").isalnum():
        raise ParameterError(f"{text} is not a valid URL (protocol {protocol!r})")
    import fsspec

    try:
        fsspec.get_filesystem_class(protocol)
    except ValueError:
        raise ParameterError(
            f"{text}: unknown storage protocol {protocol!r} (fsspec knows "
            "s3://, gcs://, az://, memory://, file:// ...)"
        ) from None
    except ImportError as exc:
        extra = " (pip install 'daskfractal[s3]')" if protocol in ("s3", "s3a") else ""
        raise ParameterError(
            f"{text}: the {protocol}:// protocol needs a package that is not installed: "
            f"{exc}{extra}"
        ) from None
    if key.startswith("/") or "//" in key.rstrip("/") or not key.strip("/"):
        raise ParameterError(f"{text} is not a valid URL: give {protocol}://BUCKET/PREFIX")
    return RemotePath(protocol, key.strip("/"), storage_options())


# ---------------------------------------------------------------------------- operations
def listdir(folder: StorePath) -> list[StorePath]:
    """The entries one level below ``folder`` (``FileNotFoundError`` when it is missing)."""
    return list(folder.iterdir())


def glob(folder: StorePath, pattern: str) -> list[StorePath]:
    """The entries of ``folder`` whose name matches ``pattern``, sorted (none when the folder
    is missing)."""
    return sorted(folder.glob(pattern), key=str)


@contextmanager
def staged_file(final: StorePath) -> Iterator[Path]:
    """A local file to write; on success it becomes ``final`` whole, else nothing does.

    Locally the temporary file is hidden next to ``final`` and moved with ``os.replace``; for
    an object store it lies in the temporary folder and is uploaded (one object, created
    atomically) when the block ends without an exception.
    """
    if isinstance(final, RemotePath):
        fd, name = tempfile.mkstemp(prefix=".daskfractal-", suffix=".tmp")
        os.close(fd)
        tmp = Path(name)
    else:
        final.parent.mkdir(parents=True, exist_ok=True)
        tmp = final.with_name(f".{final.name}.{uuid.uuid4().hex}.tmp")
    try:
        yield tmp
        if isinstance(final, RemotePath):
            final.fs.put_file(str(tmp), final.key)
        else:
            os.replace(tmp, final)
    finally:
        tmp.unlink(missing_ok=True)


def atomic_write_bytes(path: StorePath, data: bytes | memoryview) -> None:
    """Write ``data`` to ``path`` whole or not at all (hidden file and ``os.replace``
    locally, one PUT on an object store)."""
    if isinstance(path, RemotePath):
        path.write_bytes(data)
        return
    with staged_file(path) as tmp:
        with open(tmp, "wb") as f:
            f.write(data)


def remove_tree(path: StorePath) -> None:
    """Delete ``path`` and everything below it (a folder or prefix), or the file."""
    if isinstance(path, RemotePath):
        fs = path.fs
        if fs.isdir(path.key):
            fs.rm(path.key, recursive=True)
        elif fs.isfile(path.key):
            fs.rm_file(path.key)
    elif path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif path.exists() or path.is_symlink():
        path.unlink()


def walk_files(root: StorePath) -> list[str]:
    """Relative ``/``-separated paths of every file below ``root`` (sorted)."""
    if isinstance(root, RemotePath):
        prefix = root.key + "/"
        # some file systems answer with a leading "/" (memory://)
        found = (str(f).lstrip("/") for f in root.fs.find(root.key))
        return sorted(f[len(prefix) :] for f in found if f.startswith(prefix))
    out = []
    for dirpath, _, filenames in os.walk(root):
        rel_dir = Path(dirpath).relative_to(root)
        out += [(rel_dir / name).as_posix() for name in filenames]
    return sorted(out)


def tree_size(root: StorePath) -> tuple[int, int]:
    """``(files, bytes)`` below ``root`` (local symlinks counted, never followed)."""
    if isinstance(root, RemotePath):
        found = root.fs.find(root.key, detail=True)
        sizes = [int(v.get("size") or 0) for v in found.values()]
        return len(sizes), sum(sizes)
    n = size = 0
    for dirpath, _, files in os.walk(root):
        for name in files:
            n += 1
            try:
                size += os.lstat(os.path.join(dirpath, name)).st_size
            except OSError:
                pass
    return n, size


def zarr_store(path: StorePath, *, read_only: bool = False) -> zarr.abc.store.Store:
    """The Zarr store object of ``path``: ``LocalStore`` or ``FsspecStore``."""
    import zarr.storage

    if isinstance(path, RemotePath):
        return zarr.storage.FsspecStore.from_url(
            str(path), storage_options=_merged(path.protocol, path.options), read_only=read_only
        )
    return zarr.storage.LocalStore(str(path), read_only=read_only)


def arrow_source(path: StorePath) -> tuple[str, Any]:
    """``(where, filesystem)`` for pyarrow: the local path and None, or the object key and a
    ``pyarrow.fs.PyFileSystem`` over the fsspec file system."""
    if isinstance(path, RemotePath):
        from pyarrow.fs import FSSpecHandler, PyFileSystem

        return path.key, PyFileSystem(FSSpecHandler(path.fs))
    return str(path), None


def read_npz(path: StorePath) -> dict[str, Any]:
    """The arrays of the ``.npz`` file at ``path``."""
    import io

    import numpy as np

    source: Any = io.BytesIO(path.read_bytes()) if isinstance(path, RemotePath) else path
    with np.load(source, allow_pickle=False) as z:
        return {k: z[k] for k in z.files}


def _client_error(exc: BaseException) -> bool:
    module = type(exc).__module__.split(".")[0]
    return isinstance(exc, OSError) or module in _CLIENT_PACKAGES


def describe_client_error(exc: BaseException) -> str:
    """One line saying why the storage service refused or could not be reached."""
    name = type(exc).__name__
    text = " ".join(str(exc).split()) or name
    if name == "NoCredentialsError" or "credentials" in text.lower():
        return (
            f"no credentials for the object store ({text}); set AWS_ACCESS_KEY_ID and "
            f"AWS_SECRET_ACCESS_KEY, a profile, or --storage-options / {STORAGE_OPTIONS_ENV}"
        )
    if isinstance(exc, PermissionError) or "AccessDenied" in text or "Forbidden" in text:
        return f"access denied ({text})"
    if "NoSuchBucket" in text or "bucket does not exist" in text.lower():
        return f"the bucket does not exist ({text})"
    if "connect" in name.lower() or "connect" in text.lower() or "timeout" in name.lower():
        return f"the storage endpoint cannot be reached ({text})"
    return f"{text} ({name})"


@contextmanager
def remote_errors(path: object, *, writing: bool) -> Iterator[None]:
    """Turn an error of the storage client on ``path`` into one daskfractal error line.

    Local paths pass through unchanged. For an object store, writing raises
    :class:`~daskfractal.errors.OutputError` (exit 6), reading
    :class:`~daskfractal.errors.StoreError` (exit 5).
    """
    if not is_remote(path):
        yield
        return
    try:
        yield
    except DaskFractalError:
        raise
    except Exception as exc:
        if not _client_error(exc):
            raise
        why = describe_client_error(exc)
        if writing:
            raise OutputError(
                f"cannot write {path}: {why}; the output is unfinished: fix the cause, then run "
                "again with resume=True (--resume)"
            ) from exc
        raise StoreError(f"cannot read {path}: {why}") from exc


def check_reachable(path: StorePath, *, writing: bool) -> None:
    """Fail at once, with one line, when the bucket of ``path`` cannot be listed.

    Local paths and file systems without buckets (``memory://`` ...) are not checked (their
    errors are those of the file system).

    Raises
    ------
    OutputError
        ``writing``: missing bucket, missing credentials, access denied, endpoint down.
    StoreError
        Reading: the same causes.
    """
    if not isinstance(path, RemotePath) or path.protocol not in BUCKET_PROTOCOLS:
        return
    bucket = path.key.split("/", 1)[0]
    with remote_errors(path, writing=writing):
        # not fs.exists: it answers False for every error (no credentials, access denied);
        # the bucket's info is one request (S3: HEAD bucket), however many objects it holds
        try:
            path.fs.info(bucket)
        except FileNotFoundError:
            raise FileNotFoundError(f"NoSuchBucket: the bucket {bucket} does not exist") from None


__all__ = [
    "STORAGE_OPTIONS_ENV",
    "RemotePath",
    "StorePath",
    "arrow_source",
    "atomic_write_bytes",
    "check_reachable",
    "glob",
    "is_remote",
    "listdir",
    "read_npz",
    "remote_errors",
    "remove_tree",
    "set_storage_options",
    "staged_file",
    "storage_options",
    "store_path",
    "tree_size",
    "walk_files",
    "zarr_store",
]
