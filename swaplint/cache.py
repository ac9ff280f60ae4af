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
name, its findings, a checksum of the entry and, when the file had not changed for
five seconds when it was read, its *signature* (size, modification and change times,
inode). An entry is used only if the module and the checksum match, its findings are
well formed, and the file's bytes hash to the entry's hash -- or, without reading
them, the file's ``stat`` still gives the entry's signature (as git and ruff trust a
file's ``stat``; the change time and inode cannot be set back by ``touch`` or ``cp
-p``, and a file changed within five seconds of being read gets no signature).
Clean files and files with findings are cached alike; a result with a rule crash is
not cached, so the crash shows again next time.

One index per run is faster than one file per entry: the warm path over the
standard library (1,790 files) reads one ~250 kB file instead of opening 1,790
(see the benchmark in the README).

Nothing read from the cache is trusted. An index is opened without following a
symlink and without blocking (a FIFO, a device or a socket put in its place is
never read), must be a regular file of at most :data:`MAX_INDEX_BYTES`, and must be
JSON of the expected shape. Each entry carries a checksum of everything in it
(with the settings key and the path it is filed under): an entry that was
truncated, edited, or copied from another index or another tool does not match
and is a miss, as is an entry whose findings do not have the schema of a finding.
A miss is recomputed and rewritten; the cache never crashes a run, hides a
finding or hangs it.

Concurrent runs: every write goes to a temporary file in the same directory,
then ``os.replace``, so a reader sees the old index or the new one, never half
of one. Two runs that write at once each keep what they saw (the last one wins);
at worst some entries are recomputed next time. If the cache cannot be written,
the run goes on uncached.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import stat
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from swaplint.discovery import read_regular_file, read_regular_file_and_stat
from swaplint.findings import FileResult, Finding, ReloadModel, Severity

if TYPE_CHECKING:
    from swaplint.settings import Settings

CACHE_FORMAT = 2
#: An index file larger than this is not read (a miss for every file).
MAX_INDEX_BYTES = 256 << 20
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
        settings.fix_timeout,
    ]
    return hashlib.blake2b(json.dumps(data).encode(), digest_size=12).hexdigest()


def _encode(result: FileResult) -> list[dict[str, Any]]:
    rows = []
    for finding in result.findings:
        row = finding.to_dict()
        del row["path"]
        rows.append(row)
    return rows


#: The entry checksum's JSON form (one encoder, not one per entry: this runs for every hit).
_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"))


def entry_checksum(
    key: str, path: str, digest: str, module: str, rows: Any, signature: list[int] | None = None
) -> str:
    """What an entry's checksum field must be: a hash of the entry and where it is filed."""
    fields = [key, path, digest, module, rows] + ([signature] if signature is not None else [])
    text = _CANONICAL.encode(fields)
    return hashlib.blake2b(text.encode("utf-8", errors="surrogatepass"), digest_size=16).hexdigest()


#: A file whose last change is more recent than this when it is read may change again
#: within the same timestamp (file systems keep times in ticks of up to two seconds):
#: its entry keeps no signature, and the next run hashes it.
STABLE_AFTER_NS = 5_000_000_000


def file_signature(info: os.stat_result) -> list[int] | None:
    """What identifies a file's current bytes without reading them: size, modification
    and change times, inode. None for a file changed too recently to be sure of."""
    if time.time_ns() - max(info.st_mtime_ns, info.st_ctime_ns) < STABLE_AFTER_NS:
        return None
    return [info.st_size, info.st_mtime_ns, info.st_ctime_ns, info.st_ino]


def _signature_of(entry: Any) -> list[int] | None:
    """The stat signature a well-formed 5-field entry carries, if any."""
    if len(entry) != 5:
        return None
    signature = entry[4]
    if isinstance(signature, list) and len(signature) == 4 and all(type(v) is int for v in signature):
        return signature
    return None


_INT_FIELDS = ("line", "column", "end_line", "end_column")
_STR_FIELDS = ("code", "name", "message")
_OPTIONAL_STR_FIELDS = ("function", "help")


def _valid_row(row: Any) -> bool:
    """Whether a cached finding has the schema :meth:`Finding.to_dict` writes."""
    if not isinstance(row, dict) or "path" in row:
        return False
    for name in _INT_FIELDS:
        value = row.get(name)
        if type(value) is not int or value < 1:
            return False
    if (row["end_line"], row["end_column"]) < (row["line"], 0):
        return False
    if not all(isinstance(row.get(name), str) for name in _STR_FIELDS):
        return False
    if not all(isinstance(row.get(name, ""), str) for name in _OPTIONAL_STR_FIELDS):
        return False
    if row.get("severity") not in {s.value for s in Severity}:
        return False
    model = row.get("reload_model")
    return model is None or model in {m.value for m in ReloadModel}


def _decode(path: str, module: str, rows: Any) -> FileResult | None:
    if not isinstance(rows, list) or not all(_valid_row(row) for row in rows):
        return None
    try:
        findings = [Finding.from_dict({**row, "path": path}) for row in rows]
    except (TypeError, ValueError, KeyError, AttributeError):
        return None
    return FileResult(path=path, findings=findings, module=module)


def _read_index_bytes(file: Path) -> bytes:
    """The index's bytes: a regular file, not followed through a symlink, never blocking."""
    info = os.lstat(file)
    if not stat.S_ISREG(info.st_mode):
        raise OSError(f"not a regular file: {file}")
    return read_regular_file(file, MAX_INDEX_BYTES)


class _Index:
    def __init__(self, file: Path, key: str) -> None:
        self.file = file
        self.key = key
        self.entries: dict[str, Any] = {}
        self.stored: set[str] = set()  # keys this run wrote
        self.dirty = False
        self.entries = self._read()

    def _read(self) -> dict[str, Any]:
        file = self.file
        try:
            data = json.loads(_read_index_bytes(file))
        except (OSError, ValueError, RecursionError, MemoryError):
            if os.path.lexists(file):
                self.dirty = True  # corrupt or foreign: replace it
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
        #: Display path -> the signature and hash of the file as the lookup that missed read it.
        self._seen: dict[str, tuple[list[int] | None, str]] = {}
        self.hits = 0
        self.misses = 0

    def _index(self, settings: Settings) -> _Index:
        key = self._keys.get(settings)
        if key is None:
            key = self._keys[settings] = settings_key(settings)
        index = self._indexes.get(key)
        if index is None:
            index = self._indexes[key] = _Index(self.directory / f"v{CACHE_FORMAT}" / f"{key}.json", key)
        return index

    def lookup(
        self,
        disk_path: str,
        display_path: str,
        module: str,
        settings: Settings,
        max_bytes: int | None = None,
    ) -> tuple[FileResult | None, int | None]:
        """The cached result for this file's current bytes, and the file's size.

        (None, size) on a miss; (None, None) when the file cannot be read (or is
        larger than ``max_bytes``). A file whose size, times and inode are those its
        entry recorded is not read again (see :func:`file_signature`); any other is
        read and hashed.
        """
        index = self._index(settings)
        entry = index.entries.get(display_path)
        if not (
            isinstance(entry, list)
            and len(entry) in (4, 5)
            and all(isinstance(part, str) for part in (entry[0], entry[1], entry[3]))
            and entry[1] == module
        ):
            entry = None
        signature = _signature_of(entry) if entry is not None else None
        if entry is not None and signature is not None:
            try:
                info = os.stat(disk_path)
            except (OSError, ValueError):
                info = None
            if (
                info is not None
                and stat.S_ISREG(info.st_mode)
                and (max_bytes is None or info.st_size <= max_bytes)
                and file_signature(info) == signature
                and entry[3] == entry_checksum(index.key, display_path, entry[0], module, entry[2], signature)
            ):
                result = _decode(display_path, module, entry[2])
                if result is not None:
                    self.hits += 1
                    return result, info.st_size
        try:
            data, info = read_regular_file_and_stat(disk_path, max_bytes)
        except OSError:
            self.misses += 1
            return None, None
        digest = content_hash(data)
        if entry is not None and entry[0] == digest:
            if entry[3] == entry_checksum(index.key, display_path, digest, module, entry[2], signature):
                result = _decode(display_path, module, entry[2])
                if result is not None:
                    self.hits += 1
                    current = file_signature(info)
                    if current is not None and current != signature:  # remember it for next time
                        self._file(index, display_path, digest, module, entry[2], current)
                    return result, len(data)
        self.misses += 1
        self._seen[display_path] = (file_signature(info), digest)
        return None, len(data)

    def _file(
        self, index: _Index, path: str, digest: str, module: str, rows: Any, signature: list[int] | None
    ) -> None:
        checksum = entry_checksum(index.key, path, digest, module, rows, signature)
        entry: list[Any] = [digest, module, rows, checksum]
        if signature is not None:
            entry.append(signature)
        index.entries[path] = entry
        index.stored.add(path)
        index.dirty = True

    def store(
        self, display_path: str, module: str, digest: str, settings: Settings, result: FileResult
    ) -> None:
        index = self._index(settings)
        # The signature the lookup saw is good only for the bytes it read: if the check
        # read other bytes (the file changed in between), its times changed too.
        signature, seen_digest = self._seen.pop(display_path, (None, ""))
        if seen_digest != digest:
            signature = None
        self._file(index, display_path, digest, module, _encode(result), signature)

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
        fd, tmp = _new_temporary(index.file.parent, ".json")
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


def _new_temporary(directory: Path, suffix: str = "") -> tuple[int, str]:
    """A new file of this process alone in ``directory``, open for writing: what
    ``tempfile.mkstemp`` does, without importing ``tempfile`` (~10 ms) on every run."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_BINARY", 0)
    for _ in range(100):
        name = os.path.join(directory, f".tmp-{os.urandom(8).hex()}{suffix}")
        try:
            return os.open(name, flags, 0o600), name
        except FileExistsError:
            continue
    raise FileExistsError(f"no free temporary name in {directory}")


def _atomic_write_text(target: Path, text: str) -> None:
    fd, tmp = _new_temporary(target.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
