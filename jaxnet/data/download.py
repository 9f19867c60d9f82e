"""The cache folder, and verified downloads into it.

Every file is checked against its published checksum before use. A download goes to a temporary
``.part`` file beside its final name and is renamed only once verified, so an interrupted or
corrupt download never lands under the final name; the temporary file is removed on any failure,
and one left behind by a killed process is removed by a later load. Each download from a mirror
has a total time limit (``TIMEOUT``) besides a limit on each read (``READ_TIMEOUT``): a mirror
that trickles counts as failed, and the next one is tried. A file already in the cache that fails
verification (placed there by hand, or damaged) is moved aside to ``<name>.corrupt``, never read
and never deleted, and a fresh copy is downloaded in its place when downloads are allowed.
"""

from __future__ import annotations

import contextlib
import errno
import gzip
import hashlib
import http.client
import os
import shutil
import struct
import sys
import tempfile
import time
import urllib.error
import urllib.request
import warnings
import zlib
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path

from jaxnet.validation import nonnegative_number

CHUNK = 1 << 20
# Seconds a download from one mirror may take in all, before that mirror counts as failed.
TIMEOUT = 300.0
# Seconds one read (or the connection) may wait for data.
READ_TIMEOUT = 30.0
# A temporary file untouched this long (seconds) was left by a process that died: a live
# download writes every chunk as it arrives and gives up after READ_TIMEOUT without data.
STALE_AFTER = 600.0
# The error numbers of a folder that cannot be written to.
READ_ONLY = (errno.EACCES, errno.EPERM, errno.EROFS)


class ChecksumError(ValueError):
    """A file's checksum differs from the published one."""


class MissingDataError(FileNotFoundError):
    """Files a data set needs are not in the cache and could not be downloaded (or stored)."""


def cache_dir(data_dir: str | os.PathLike | None = None) -> Path:
    """The root of the data cache: ``data_dir``, else ``$JAXNET_DATA``, else
    ``$XDG_CACHE_HOME/jaxnet`` (``~/.cache/jaxnet`` when ``XDG_CACHE_HOME`` is unset).

    Each data set keeps its files in a subfolder named after it, e.g. ``<cache>/mnist/``.

    Example:
        >>> from jaxnet.data.download import cache_dir
        >>> cache_dir("/data").as_posix()
        '/data'
    """
    if data_dir is not None:
        return Path(data_dir).expanduser()
    if os.environ.get("JAXNET_DATA"):
        return Path(os.environ["JAXNET_DATA"]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base).expanduser() / "jaxnet"


def checksum_of(path: str | os.PathLike, algorithm: str) -> str:
    """The hex digest of a file's contents, read in chunks (``algorithm`` as in ``hashlib``)."""
    digest = hashlib.new(algorithm)
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def fetch_all(
    folder: Path,
    checksums: Mapping[str, str],
    mirrors: Sequence[str],
    *,
    download: bool,
    timeout: float | None = None,
) -> dict[str, Path]:
    """Makes sure every named file is in ``folder`` and verified, downloading what is missing.

    A file in the cache that fails verification is moved aside to ``<name>.corrupt`` (with a
    warning) and, when ``download`` is on, downloaded again in the same call.

    Args:
        folder: the data set's cache folder.
        checksums: file name -> ``"sha256:<hex>"`` (or ``"md5:<hex>"`` where no sha256 is
            published).
        mirrors: base URLs tried in order; a file's URL is the base followed by its name.
        download: whether missing files may be downloaded.
        timeout: seconds a download from one mirror may take in all before the next mirror is
            tried; ``None`` for ``TIMEOUT`` (read at each call).

    Returns:
        File name -> verified path.

    Raises:
        MissingDataError: files are missing and ``download`` is off, every mirror failed (or
            took longer than ``timeout``), or ``folder`` is read-only; the message lists the
            files, the folder to place them in and the URLs to get them from.
        ChecksumError: a file failed verification and no good copy could be had in its place;
            the message names the file and both checksums.
    """
    timeout = nonnegative_number(TIMEOUT if timeout is None else timeout, "timeout", positive=True)
    remove_stale_parts(folder, checksums)
    missing = [name for name in checksums if not (folder / name).exists()]
    if missing and not download:
        raise MissingDataError(_instructions(folder, missing, mirrors, "download=False"))
    paths = {}
    for name, checksum in checksums.items():
        path = folder / name
        if name not in missing:
            bad = _verify_in_place(path, checksum, download)
            if bad is not None:
                _download(path, checksum, mirrors, timeout, replacing=bad)
        else:
            _download(path, checksum, mirrors, timeout)
        paths[name] = path
    return paths


def remove_stale_parts(folder: Path, names: Iterable[str]) -> None:
    """Removes the temporary files of downloads of ``names`` that a killed process left behind.

    Only files untouched for ``STALE_AFTER`` seconds go: a younger one may belong to a download
    that another process is running now. Errors (a read-only folder) are ignored.
    """
    now = time.time()
    for name in names:
        for part in folder.glob(f".{name}.*.part"):
            try:
                if now - part.stat().st_mtime > STALE_AFTER:
                    part.unlink()
            except OSError:
                pass


@contextlib.contextmanager
def atomic_file(path: Path) -> Iterator:
    """A binary file to write ``path`` through: a temporary file beside it (``.<name>.<random>
    .part``), synced and renamed to ``path`` when the block ends, removed when the block raises
    (Ctrl-C included). So ``path`` never holds a half-written file, and readers see either no
    file or the whole one.

    Raises:
        OSError: the folder cannot be written to (see ``is_read_only``).
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.",
                                         suffix=".part")
    try:
        with os.fdopen(handle, "wb") as out:
            yield out
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.remove(temporary)


def gunzip_once(path: Path) -> Path:
    """The uncompressed copy of a (verified) gzip file: ``path`` without its ``.gz``, beside it,
    written the first time it is asked for.

    The copy is checked at every call against the CRC-32 and length that the gzip file's trailer
    records for its contents, which ties it to the verified download; a copy that fails (cut
    short, or changed) is written again, with a warning. Both files are read and written in
    chunks, never held in memory whole, and the copy is written through ``atomic_file``.

    Raises:
        MissingDataError: the copy must be written and the folder is read-only.
        ValueError: ``path`` is a truncated or damaged gzip file.
    """
    target = path.with_name(path.name.removesuffix(".gz"))
    remove_stale_parts(path.parent, [target.name])
    if target.exists():
        if _crc32_and_size(target) == _gzip_trailer(path):
            return target
        warnings.warn(f"{target} does not hold the contents of {path.name} (its CRC-32 or size "
                      f"differs from the gzip trailer's); decompressing it again", stacklevel=2)
    try:
        with atomic_file(target) as out, gzip.open(path, "rb") as compressed:
            shutil.copyfileobj(compressed, out, CHUNK)
    except (EOFError, gzip.BadGzipFile, zlib.error) as error:
        raise ValueError(f"{path} is a truncated or damaged gzip file ({error})") from None
    except OSError as error:
        if not is_read_only(error):
            raise
        raise MissingDataError(f"cannot decompress {path.name} to {target.name}: "
                               f"{read_only_advice(path.parent, error)}.") from None
    return target


def _gzip_trailer(path: Path) -> tuple[int, int]:
    """The CRC-32 and the length modulo 2**32 of a gzip file's contents, from its last 8 bytes."""
    with open(path, "rb") as f:
        if os.fstat(f.fileno()).st_size < 18:  # a gzip header and trailer take 18 bytes
            raise ValueError(f"{path} is a truncated or damaged gzip file (too short)")
        f.seek(-8, os.SEEK_END)
        return struct.unpack("<II", f.read(8))


def _crc32_and_size(path: Path) -> tuple[int, int]:
    crc, size = 0, 0
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            crc = zlib.crc32(chunk, crc)
            size += len(chunk)
    return crc, size % 2**32


def move_aside(path: Path) -> Path:
    """Renames a bad file to ``<name>.corrupt`` (``<name>.corrupt-2`` ... when taken).

    Raises:
        OSError: the folder is read-only (see ``is_read_only``).
    """
    aside = path.with_name(path.name + ".corrupt")
    number = 1
    while aside.exists():
        number += 1
        aside = path.with_name(f"{path.name}.corrupt-{number}")
    os.replace(path, aside)
    return aside


def is_read_only(error: OSError) -> bool:
    """Whether ``error`` says that a folder cannot be written to."""
    return error.errno in READ_ONLY


def read_only_advice(folder: Path, error: OSError) -> str:
    """Says that ``folder`` is read-only and how to point jaxnet at another folder."""
    return (f"the cache folder {folder} is read-only (not writable: {error.strerror}); pass "
            f"data_dir= a writable folder to load (or set the environment variable "
            f"JAXNET_DATA to one)")


def _verify_in_place(path: Path, checksum: str, download: bool) -> Path | None:
    """Checks a file in the cache; a bad one is moved aside (the new name is returned)."""
    algorithm, expected = checksum.split(":")
    actual = checksum_of(path, algorithm)
    if actual == expected:
        return None
    failed = f"{path} failed verification: expected {algorithm} {expected}, got {actual}"
    try:
        aside = move_aside(path)
    except OSError as error:
        if not is_read_only(error):
            raise
        raise ChecksumError(f"{failed}. It could not be moved aside or replaced because "
                            f"{read_only_advice(path.parent, error)}.") from None
    if not download:
        raise ChecksumError(
            f"{failed}. It was already in the cache (placed by hand, or damaged), so it was "
            f"moved aside to {aside.name} rather than deleted; load with download=True to get "
            f"a fresh copy, or place a good one there.")
    warnings.warn(f"{failed}. It was already in the cache (placed by hand, or damaged), so it "
                  f"was moved aside to {aside.name} rather than deleted; downloading a fresh "
                  f"copy.", stacklevel=4)
    return aside


def _download(path: Path, checksum: str, mirrors: Sequence[str], timeout: float,
              replacing: Path | None = None) -> None:
    algorithm, expected = checksum.split(":")
    folder = path.parent
    why = "" if replacing is None else (f" ({path.name} in the cache failed verification and "
                                        f"was moved aside to {replacing.name})")
    failures = []
    for mirror in mirrors:
        url = mirror + path.name
        try:
            folder.mkdir(parents=True, exist_ok=True)
            handle, temporary = tempfile.mkstemp(dir=folder, prefix=f".{path.name}.",
                                                 suffix=".part")
        except OSError as error:
            if not is_read_only(error):
                raise
            raise MissingDataError(f"cannot download {path.name}{why}: "
                                   f"{read_only_advice(folder, error)}.") from None
        print(f"jaxnet: downloading {url} to {path}", file=sys.stderr)
        try:
            with os.fdopen(handle, "wb") as out:
                actual = _copy_hashing(url, out, algorithm, timeout)
            if actual == expected:
                os.replace(temporary, path)
                return
            failures.append(ChecksumError(
                f"{url} failed verification: expected {algorithm} {expected}, got {actual} "
                f"(a truncated or corrupt download); nothing was saved{why}"))
        except (urllib.error.URLError, http.client.HTTPException, OSError) as error:
            failures.append(error)
        finally:
            if os.path.exists(temporary):
                os.remove(temporary)
    checksum_failures = [f for f in failures if isinstance(f, ChecksumError)]
    if checksum_failures:
        raise checksum_failures[0]
    reasons = "; ".join(str(f) for f in failures)
    raise MissingDataError(_instructions(folder, [path.name], mirrors,
                                         f"the download failed ({reasons}){why}"))


def _copy_hashing(url: str, out, algorithm: str, timeout: float) -> str:
    """Copies ``url`` to ``out`` and returns its digest, within ``timeout`` seconds in all.

    ``read1`` returns whatever has arrived (up to ``CHUNK`` bytes), so the time limit is checked
    however slowly the bytes come; a read waits at most ``READ_TIMEOUT`` (or ``timeout``, when
    shorter), so the whole copy ends within about ``timeout`` plus that.
    """
    deadline = time.monotonic() + timeout
    digest = hashlib.new(algorithm)
    with urllib.request.urlopen(url, timeout=min(READ_TIMEOUT, timeout)) as response:
        while chunk := response.read1(CHUNK):
            digest.update(chunk)
            out.write(chunk)
            out.flush()  # keeps the file's modification time current (see STALE_AFTER)
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"{url} took longer than {timeout:g} s, the time limit of one download; "
                    f"pass a larger timeout= to load on a slow connection")
    return digest.hexdigest()


def _instructions(folder: Path, names: Sequence[str], mirrors: Sequence[str], why: str) -> str:
    files = ", ".join(names)
    sources = " or ".join(mirrors)
    return (f"missing {files} in {folder} and {why}. On a machine with internet, download "
            f"{'them' if len(names) > 1 else 'it'} from {sources} (the base URL followed by the "
            f"file name) and place {'them' if len(names) > 1 else 'it'} in {folder}, or pass "
            f"data_dir= / set JAXNET_DATA to a folder whose '{folder.name}' subfolder holds "
            f"{'them' if len(names) > 1 else 'it'} (docs/data.md lists every file with its "
            f"checksum).")
