"""The cache folder, and verified downloads into it.

Every file is checked against its published checksum before use. A download goes to a temporary
file beside its final name and is renamed only once verified, so an interrupted or corrupt
download never lands under the final name. A file already in the cache that fails verification
(placed there by hand, or damaged) is moved aside to ``<name>.corrupt``, never read and never
deleted, and the error says so.
"""

from __future__ import annotations

import hashlib
import os
import sys
import tempfile
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from pathlib import Path

CHUNK = 1 << 20


class ChecksumError(ValueError):
    """A file's checksum differs from the published one."""


class MissingDataError(FileNotFoundError):
    """Files a data set needs are not in the cache and could not be downloaded."""


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
    folder: Path, checksums: Mapping[str, str], mirrors: Sequence[str], *, download: bool
) -> dict[str, Path]:
    """Makes sure every named file is in ``folder`` and verified, downloading what is missing.

    Args:
        folder: the data set's cache folder.
        checksums: file name -> ``"sha256:<hex>"`` (or ``"md5:<hex>"`` where no sha256 is
            published).
        mirrors: base URLs tried in order; a file's URL is the base followed by its name.
        download: whether missing files may be downloaded.

    Returns:
        File name -> verified path.

    Raises:
        MissingDataError: files are missing and ``download`` is off or every mirror failed; the
            message lists the files, the folder to place them in and the URLs to get them from.
        ChecksumError: a file failed verification; the message names the file and both checksums.
    """
    missing = [name for name in checksums if not (folder / name).exists()]
    if missing and not download:
        raise MissingDataError(_instructions(folder, missing, mirrors, "download=False"))
    paths = {}
    for name, checksum in checksums.items():
        path = folder / name
        if name in missing:
            _download(path, checksum, mirrors)
        else:
            _verify_in_place(path, checksum)
        paths[name] = path
    return paths


def _verify_in_place(path: Path, checksum: str) -> None:
    algorithm, expected = checksum.split(":")
    actual = checksum_of(path, algorithm)
    if actual != expected:
        aside = path.with_name(path.name + ".corrupt")
        os.replace(path, aside)
        raise ChecksumError(
            f"{path} failed verification: expected {algorithm} {expected}, got {actual}. It was "
            f"already in the cache (placed by hand, or damaged), so it was moved aside to "
            f"{aside.name} rather than deleted; load again to download a fresh copy."
        )


def _download(path: Path, checksum: str, mirrors: Sequence[str]) -> None:
    algorithm, expected = checksum.split(":")
    path.parent.mkdir(parents=True, exist_ok=True)
    failures = []
    for mirror in mirrors:
        url = mirror + path.name
        print(f"jaxnet: downloading {url} to {path}", file=sys.stderr)
        handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.",
                                             suffix=".part")
        try:
            with os.fdopen(handle, "wb") as out:
                actual = _copy_hashing(url, out, algorithm)
            if actual == expected:
                os.replace(temporary, path)
                return
            failures.append(ChecksumError(
                f"{url} failed verification: expected {algorithm} {expected}, got {actual} "
                f"(a truncated or corrupt download); nothing was saved"))
        except (urllib.error.URLError, OSError) as error:
            failures.append(error)
        finally:
            if os.path.exists(temporary):
                os.remove(temporary)
    checksum_failures = [f for f in failures if isinstance(f, ChecksumError)]
    if checksum_failures:
        raise checksum_failures[0]
    reasons = "; ".join(str(f) for f in failures)
    raise MissingDataError(_instructions(path.parent, [path.name], mirrors,
                                         f"the download failed ({reasons})"))


def _copy_hashing(url: str, out, algorithm: str) -> str:
    digest = hashlib.new(algorithm)
    with urllib.request.urlopen(url, timeout=60) as response:
        for chunk in iter(lambda: response.read(CHUNK), b""):
            digest.update(chunk)
            out.write(chunk)
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
