"""Where a scan's files live: a local path, or a URL on any fsspec filesystem (`s3://bucket/
prefix` with s3fs, `gs://` with gcsfs...), credentials from each store's standard environment.

Local files are written under a temporary name and renamed into place; object stores have no
rename, but an object appears whole when its upload completes, so there a file is written
once, under its final name.
"""

from __future__ import annotations

import contextlib
import posixpath
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from scanner.errors import InputError, OutputError, ScannerError, UsageError
from scanner.store.atomic import write_atomic

_URL = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*://")


def is_url(text: str | Path) -> bool:
    """`s3://b/p`, `gs://...`, `https://...`; not a local path (nor a Windows drive `C:\\`)."""
    return isinstance(text, str) and bool(_URL.match(text)) and not text.startswith("file://")


OBJECT_STORES = frozenset({"s3", "s3a", "gs", "gcs", "az", "abfs", "abfss", "adl", "oss"})


def _protocols(fs: Any) -> tuple[str, ...]:
    protocol = fs.protocol
    return (protocol,) if isinstance(protocol, str) else tuple(protocol)


def path_or_url(text: str) -> Path | str:
    """A command-line argument as a local Path, or kept as text when it is a URL (a Path would
    fold `s3://b` into `s3:/b`)."""
    if text.startswith("file://"):
        return Path(text[len("file://") :])
    return text if is_url(text) else Path(text)


def _filesystem(url: str) -> tuple[Any, str]:
    try:
        from fsspec.core import url_to_fs
    except ImportError:
        raise UsageError(
            f"{url}: object storage needs the s3 extra: pip install 'tls-fleet-scanner[s3]'"
        ) from None
    try:
        fs, path = url_to_fs(url)
    except (ImportError, ValueError) as e:
        raise UsageError(f"{url}: no filesystem for this URL ({e})") from None
    return fs, path


@dataclass(frozen=True, slots=True)
class Location:
    """A file or folder. `fs` is None on the local disk (`path` is then a local path)."""

    text: str  # as the user wrote it (and as shown in messages)
    path: str
    fs: Any = None

    @classmethod
    def of(cls, value: str | Path | Location) -> Location:
        if isinstance(value, Location):
            return value
        if is_url(value):
            fs, path = _filesystem(str(value))
            return cls(text=str(value).rstrip("/"), path=path.rstrip("/"), fs=fs)
        text = str(value)[len("file://") :] if str(value).startswith("file://") else str(value)
        return cls(text=text, path=text)

    @property
    def local(self) -> bool:
        return self.fs is None

    @property
    def local_path(self) -> Path:
        assert self.fs is None, "a local path only"
        return Path(self.path)

    @property
    def name(self) -> str:
        return posixpath.basename(self.path) if self.fs else Path(self.path).name

    def __truediv__(self, name: str) -> Location:
        if self.fs is None:
            joined = str(Path(self.path) / name)
            return Location(text=str(Path(self.text) / name), path=joined)
        return Location(
            text=f"{self.text}/{name}", path=posixpath.join(self.path, name), fs=self.fs
        )

    def __str__(self) -> str:
        return self.text

    @contextmanager
    def _remote(self, *, writing: bool) -> Iterator[None]:
        """An object store's failure (no credentials, endpoint down, access denied) as one
        ScannerError naming the location; a missing file stays FileNotFoundError."""
        try:
            yield
        except (FileNotFoundError, ScannerError):
            raise
        except Exception as e:
            error = OutputError if writing else InputError
            verb = "write to" if writing else "read"
            raise error(f"cannot {verb} {self.text}: {type(e).__name__}: {e}") from None

    # --- reading ---------------------------------------------------------------------------

    def _fresh(self) -> None:
        """Forget cached listings: another process (a killed scan, a shard) may have written."""
        self.fs.invalidate_cache()

    def exists(self) -> bool:
        if self.fs is None:
            return Path(self.path).exists()
        with self._remote(writing=False):
            self._fresh()
            return bool(self.fs.exists(self.path))

    def is_dir(self) -> bool:
        if self.fs is None:
            return Path(self.path).is_dir()
        with self._remote(writing=False):
            self._fresh()
            return bool(self.fs.isdir(self.path))

    def is_file(self) -> bool:
        if self.fs is None:
            return Path(self.path).is_file()
        with self._remote(writing=False):
            self._fresh()
            return bool(self.fs.isfile(self.path))

    def children(self) -> Iterator[Location]:
        """What the folder holds (files and folders), none if it does not exist."""
        if self.fs is None:
            folder = Path(self.path)
            if folder.is_dir():
                yield from (self / p.name for p in folder.iterdir())
            return
        try:
            with self._remote(writing=False):
                self._fresh()
                entries = self.fs.ls(self.path, detail=False)
        except FileNotFoundError:
            return
        for entry in sorted(entries):
            name = posixpath.basename(str(entry).rstrip("/"))
            if name:
                yield self / name

    def open_read(self) -> IO[bytes]:
        if self.fs is None:
            return open(self.path, "rb")  # noqa: SIM115
        with self._remote(writing=False):
            return self.fs.open(self.path, "rb")  # type: ignore[no-any-return]

    @contextmanager
    def arrow_source(self) -> Iterator[str | IO[bytes]]:
        """What pyarrow reads from: the path itself on the local disk (native, memory-mapped
        reads), an open file on object storage."""
        if self.fs is None:
            yield self.path
        else:
            with self.open_read() as f:
                yield f

    def read_bytes(self) -> bytes:
        with self.open_read() as f:
            return f.read()

    def read_text(self) -> str:
        return self.read_bytes().decode("utf-8")

    # --- writing ---------------------------------------------------------------------------

    def write(self, write: Callable[[IO[bytes]], object]) -> None:
        """The whole file through `write(stream)`: locally under a temporary name renamed into
        place, on object storage one upload under the final name (visible only when whole)."""
        if self.fs is None:

            def to_tmp(tmp: Path) -> None:
                with open(tmp, "wb") as f:
                    write(f)

            write_atomic(Path(self.path), to_tmp)
            return
        with self._remote(writing=True), self.fs.open(self.path, "wb") as f:
            write(f)

    def write_bytes(self, data: bytes) -> None:
        self.write(lambda f: f.write(data))

    def write_text(self, text: str) -> None:
        self.write_bytes(text.encode("utf-8"))

    def unlink(self) -> None:
        """Remove the file if it is there."""
        if self.fs is None:
            Path(self.path).unlink(missing_ok=True)
            return
        with contextlib.suppress(FileNotFoundError), self._remote(writing=True):
            self.fs.rm_file(self.path)

    def mkdir(self) -> None:
        """Make the folder. Object stores have no folders: nothing to make there (and s3fs
        would create a missing bucket, which is for its owner to do, not for a scan)."""
        if self.fs is None:
            Path(self.path).mkdir(parents=True, exist_ok=True)
        elif not set(_protocols(self.fs)) & OBJECT_STORES:
            with self._remote(writing=True):
                self.fs.makedirs(self.path, exist_ok=True)

    def rmdir(self) -> None:
        """Remove an emptied folder (object stores have none to remove)."""
        if self.fs is None:
            Path(self.path).rmdir()
