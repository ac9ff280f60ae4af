"""The persistent result cache: findings keyed by file content and configuration.

Layout of a cache directory (``.swaplint_cache/`` beside the config by default)::

    .swaplint_cache/
      CACHEDIR.TAG          # tells backup tools this is a cache
      .gitignore            # "*": never committed
      v1/<settings-key>.json

One index file per *settings key*, a hash of everything outside a file that its
findings depend on: the cache format, swaplint's version and a fingerprint of its
own source files (so a development checkout never reads results of older rules),
the enabled codes, ``receive-calls``, ``spawn-calls`` and ``src``. Inside, one
entry per display path: the BLAKE2 hash of the file's bytes, its dotted module
name, and its findings. An entry is used only if both the hash and the module
still match. Clean files and files with findings are cached alike; a result with
a rule crash is not cached, so the crash shows again next time.

One index per run is faster than one file per entry: the warm path over the
standard library (1,790 files) reads one ~250 kB file instead of opening 1,790
(see the benchmark in the README).

Concurrent runs: every write goes to a temporary file in the same directory,
then ``os.replace``, so a reader sees the old index or the new one, never half
of one. Two runs that write at once each keep what they saw (the last one wins);
at worst some entries are recomputed next time. A corrupt or unreadable index,
or a malformed entry, is ignored and rewritten; the cache never makes a run fail
(if it cannot write, the run goes on uncached).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from swaplint.findings import FileResult, Finding

if TYPE_CHECKING:
    from swaplint.engine import Settings

CACHE_FORMAT = 1
DEFAULT_DIRNAME = ".swaplint_cache"
ENV_VAR = "SWAPLINT_CACHE_DIR"

CACHEDIR_TAG = (
    "Signature: 8a477f597d28d172789f06886806bc55\n"
    "# This file is a cache directory tag created by swaplint.\n"
    "# For information about cache directory tags see https://bford.info/cachedir/\n"
)


def default_cache_dir(config_dir: str | os.PathLike[str] | None = None) -> str:
    """``$SWAPLINT_CACHE_DIR`` if set, else ``.swaplint_cache`` in ``config_dir`` (or cwd)."""
    env = os.environ.get(ENV_VAR, "").strip()
    if env:
        return os.path.abspath(os.path.expanduser(env))
    base = os.fspath(config_dir) if config_dir is not None else os.getcwd()
    return os.path.abspath(os.path.join(base, DEFAULT_DIRNAME))


def content_hash(data: bytes) -> str:
    return hashlib.blake2b(data, digest_size=16).hexdigest()


_code_fingerprint: str | None = None


def code_fingerprint() -> str:
    """swaplint's version plus the size and mtime of its own modules."""
    global _code_fingerprint
    if _code_fingerprint is None:
        import swaplint

        parts = [getattr(swaplint, "__version__", "?")]
        root = Path(swaplint.__file__).parent
        for sub in ("", "rules"):
            folder = root / sub
            with contextlib.suppress(OSError):
                for entry in sorted(os.scandir(folder), key=lambda e: e.name):
                    if entry.name.endswith(".py"):
                        st = entry.stat()
                        parts.append(f"{sub}/{entry.name}:{st.st_size}:{st.st_mtime_ns}")
        _code_fingerprint = hashlib.blake2b("\n".join(parts).encode(), digest_size=16).hexdigest()
    return _code_fingerprint


def settings_key(settings: Settings) -> str:
    data = [
        CACHE_FORMAT,
        code_fingerprint(),
        sorted(settings.enabled),
        list(settings.receive_calls),
        list(settings.spawn_calls),
        [os.path.abspath(s) for s in settings.src],
        settings.reload_model.value,
        settings.max_file_size,
    ]
    return hashlib.blake2b(json.dumps(data).encode(), digest_size=12).hexdigest()


def _encode(result: FileResult) -> list[dict[str, Any]]:
    rows = []
    for finding in result.findings:
        row = finding.to_dict()
        del row["path"]
        rows.append(row)
    return rows


def _decode(path: str, module: str, rows: Any) -> FileResult | None:
    try:
        findings = []
        for row in rows:
            findings.append(Finding.from_dict({**row, "path": path}))
    except (TypeError, ValueError, KeyError, AttributeError):
        return None
    return FileResult(path=path, findings=findings, module=module)


class _Index:
    def __init__(self, file: Path) -> None:
        self.file = file
        self.entries: dict[str, Any] = {}
        self.stored: set[str] = set()  # keys this run wrote
        self.dirty = False
        self.entries = self._read()

    def _read(self) -> dict[str, Any]:
        file = self.file
        try:
            data = json.loads(file.read_bytes())
        except (OSError, ValueError):
            if file.exists():
                self.dirty = True  # corrupt: rewrite it
            return {}
        entries = data.get("entries") if isinstance(data, dict) else None
        if isinstance(entries, dict) and data.get("format") == CACHE_FORMAT:
            return entries
        self.dirty = True
        return {}

    def merged(self) -> dict[str, Any]:
        """What to write: the index on disk now (another run may have saved since we
        read it) with this run's entries on top."""
        current = self._read()
        current.update({k: self.entries[k] for k in self.stored if k in self.entries})
        return current


class Cache:
    """A cache directory. ``lookup`` and ``store`` in memory; ``save`` writes."""

    def __init__(self, directory: str | os.PathLike[str]) -> None:
        self.directory = Path(directory)
        self._indexes: dict[str, _Index] = {}
        self._keys: dict[Settings, str] = {}
        self.hits = 0
        self.misses = 0

    def _index(self, settings: Settings) -> _Index:
        key = self._keys.get(settings)
        if key is None:
            key = self._keys[settings] = settings_key(settings)
        index = self._indexes.get(key)
        if index is None:
            index = self._indexes[key] = _Index(self.directory / f"v{CACHE_FORMAT}" / f"{key}.json")
        return index

    def lookup(
        self, disk_path: str, display_path: str, module: str, settings: Settings
    ) -> tuple[FileResult | None, int | None]:
        """The cached result for this file's current bytes, and the file's size.

        (None, size) on a miss; (None, None) when the file cannot be read.
        """
        try:
            with open(disk_path, "rb") as handle:
                data = handle.read()
        except OSError:
            self.misses += 1
            return None, None
        entry = self._index(settings).entries.get(display_path)
        if (
            isinstance(entry, list)
            and len(entry) == 3
            and entry[1] == module
            and entry[0] == content_hash(data)
        ):
            result = _decode(display_path, module, entry[2])
            if result is not None:
                self.hits += 1
                return result, len(data)
        self.misses += 1
        return None, len(data)

    def store(
        self, display_path: str, module: str, digest: str, settings: Settings, result: FileResult
    ) -> None:
        index = self._index(settings)
        index.entries[display_path] = [digest, module, _encode(result)]
        index.stored.add(display_path)
        index.dirty = True

    def save(self) -> None:
        """Write every changed index atomically. Never raises for I/O trouble."""
        for index in self._indexes.values():
            if not index.dirty:
                continue
            with contextlib.suppress(OSError):
                self._write(index)
                index.dirty = False

    def _write(self, index: _Index) -> None:
        self._prepare()
        index.file.parent.mkdir(parents=True, exist_ok=True)
        payload = json.dumps(
            {"format": CACHE_FORMAT, "entries": index.merged()}, separators=(",", ":")
        ).encode()
        fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".json", dir=index.file.parent)
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(payload)
            os.replace(tmp, index.file)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise

    def _prepare(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        for name, text in (("CACHEDIR.TAG", CACHEDIR_TAG), (".gitignore", "*\n")):
            target = self.directory / name
            if not target.exists():
                _atomic_write_text(target, text)


def _atomic_write_text(target: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=target.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
