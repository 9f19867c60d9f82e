"""Tests for jaxnet.data.download: the cache folder and verified downloads over file:// URLs,
and over a local HTTP server for the time limits."""

import gzip
import hashlib
import os
import re
import time
from pathlib import Path

import pytest
from files import read_only, trickling_server

from jaxnet.data import download
from jaxnet.data.download import (
    ChecksumError,
    MissingDataError,
    atomic_file,
    cache_dir,
    checksum_of,
    fetch_all,
    gunzip_once,
)

CONTENT = b"official bytes " * 1000


@pytest.fixture
def mirror(tmp_path):
    """A folder served as a mirror through a file:// base URL, holding one file."""
    folder = tmp_path / "mirror"
    folder.mkdir()
    (folder / "a.gz").write_bytes(CONTENT)
    return folder


def _sha256(data):
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _url(folder: Path) -> str:
    return folder.as_uri() + "/"


def test_cache_dir_prefers_argument_then_environment_then_xdg(monkeypatch, tmp_path):
    monkeypatch.setenv("JAXNET_DATA", str(tmp_path / "env"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_dir(tmp_path / "arg") == tmp_path / "arg"
    assert cache_dir() == tmp_path / "env"
    monkeypatch.delenv("JAXNET_DATA")
    assert cache_dir() == tmp_path / "xdg" / "jaxnet"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert cache_dir() == tmp_path / "home" / ".cache" / "jaxnet"


def test_checksum_of_matches_hashlib(tmp_path):
    (tmp_path / "f").write_bytes(CONTENT)
    assert checksum_of(tmp_path / "f", "md5") == hashlib.md5(CONTENT).hexdigest()


def test_download_verifies_and_places_the_file_under_its_name(mirror, tmp_path):
    cache = tmp_path / "cache" / "set"
    paths = fetch_all(cache, {"a.gz": _sha256(CONTENT)}, [_url(mirror)], download=True)
    assert paths == {"a.gz": cache / "a.gz"}
    assert (cache / "a.gz").read_bytes() == CONTENT
    assert [p.name for p in cache.iterdir()] == ["a.gz"]


def test_verified_files_in_the_cache_are_not_downloaded_again(mirror, tmp_path):
    cache = tmp_path / "cache"
    fetch_all(cache, {"a.gz": _sha256(CONTENT)}, [_url(mirror)], download=True)
    (mirror / "a.gz").unlink()
    paths = fetch_all(cache, {"a.gz": _sha256(CONTENT)}, [_url(mirror)], download=True)
    assert paths["a.gz"].read_bytes() == CONTENT


def test_a_download_with_a_wrong_checksum_leaves_no_file(mirror, tmp_path):
    cache = tmp_path / "cache"
    wrong = "sha256:" + "0" * 64
    with pytest.raises(ChecksumError, match=r"a\.gz failed verification: expected sha256 0{64}, "
                                            r"got " + hashlib.sha256(CONTENT).hexdigest()):
        fetch_all(cache, {"a.gz": wrong}, [_url(mirror)], download=True)
    assert list(cache.iterdir()) == []


def test_a_truncated_download_leaves_no_file(mirror, tmp_path):
    cache = tmp_path / "cache"
    (mirror / "a.gz").write_bytes(CONTENT[:100])
    with pytest.raises(ChecksumError, match="truncated or corrupt"):
        fetch_all(cache, {"a.gz": _sha256(CONTENT)}, [_url(mirror)], download=True)
    assert list(cache.iterdir()) == []


def test_the_next_mirror_is_tried_when_one_fails(mirror, tmp_path):
    cache = tmp_path / "cache"
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "a.gz").write_bytes(CONTENT[:10])
    mirrors = [_url(tmp_path / "absent"), _url(broken), _url(mirror)]
    fetch_all(cache, {"a.gz": _sha256(CONTENT)}, mirrors, download=True)
    assert [p.name for p in cache.iterdir()] == ["a.gz"]


def test_missing_files_without_download_say_what_to_place_where(tmp_path):
    cache = tmp_path / "cache" / "mnist"
    checksums = {"a.gz": _sha256(b"a"), "b.gz": _sha256(b"b")}
    with pytest.raises(MissingDataError) as error:
        fetch_all(cache, checksums, ["https://example.org/data/"], download=False)
    message = str(error.value)
    for part in ("a.gz, b.gz", str(cache), "https://example.org/data/", "download=False"):
        assert part in message
    assert not cache.exists()


def test_an_unreachable_mirror_gives_instructions(tmp_path):
    cache = tmp_path / "cache"
    with pytest.raises(MissingDataError, match=r"missing a\.gz .*the download failed"):
        fetch_all(cache, {"a.gz": _sha256(CONTENT)}, [_url(tmp_path / "absent")], download=True)
    assert list(cache.iterdir()) == []


def test_a_bad_file_in_the_cache_is_moved_aside_and_downloaded_again(mirror, tmp_path):
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / "a.gz").write_bytes(b"not it")
    with pytest.warns(UserWarning, match=r"a\.gz failed verification.*placed by hand.*moved "
                                         r"aside to a\.gz\.corrupt.*downloading a fresh copy"):
        paths = fetch_all(cache, {"a.gz": _sha256(CONTENT)}, [_url(mirror)], download=True)
    assert paths["a.gz"].read_bytes() == CONTENT
    assert (cache / "a.gz.corrupt").read_bytes() == b"not it"
    assert sorted(p.name for p in cache.iterdir()) == ["a.gz", "a.gz.corrupt"]


def test_a_second_bad_file_does_not_overwrite_the_first_one_moved_aside(mirror, tmp_path):
    cache = tmp_path / "cache"
    cache.mkdir()
    for bad in (b"first", b"second"):
        (cache / "a.gz").write_bytes(bad)
        with pytest.warns(UserWarning, match="moved aside"):
            fetch_all(cache, {"a.gz": _sha256(CONTENT)}, [_url(mirror)], download=True)
    assert (cache / "a.gz.corrupt").read_bytes() == b"first"
    assert (cache / "a.gz.corrupt-2").read_bytes() == b"second"


def test_a_bad_file_without_download_is_moved_aside_and_an_error(mirror, tmp_path):
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / "a.gz").write_bytes(b"not it")
    with pytest.raises(ChecksumError, match=r"placed by hand.*moved aside to a\.gz\.corrupt.*"
                                            r"download=True"):
        fetch_all(cache, {"a.gz": _sha256(CONTENT)}, [_url(mirror)], download=False)
    assert [p.name for p in cache.iterdir()] == ["a.gz.corrupt"]


def test_a_bad_file_whose_fresh_download_fails_is_an_error_that_says_both(tmp_path):
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / "a.gz").write_bytes(b"not it")
    with pytest.warns(UserWarning, match="moved aside"), \
            pytest.raises(MissingDataError, match=r"the download failed .*\(a\.gz in the cache "
                                                  r"failed verification and was moved aside to "
                                                  r"a\.gz\.corrupt\)"):
        fetch_all(cache, {"a.gz": _sha256(CONTENT)}, [_url(tmp_path / "absent")], download=True)
    assert [p.name for p in cache.iterdir()] == ["a.gz.corrupt"]


@pytest.fixture
def slow_server():
    """The base URL of a local HTTP server that trickles CONTENT (``/``) or stalls
    (``/stall/``)."""
    with trickling_server(CONTENT) as url:
        yield url


def test_a_trickling_mirror_is_given_up_at_the_time_limit_for_the_next(
        slow_server, mirror, tmp_path):
    cache = tmp_path / "cache"
    start = time.monotonic()
    paths = fetch_all(cache, {"a.gz": _sha256(CONTENT)}, [slow_server, _url(mirror)],
                      download=True, timeout=0.5)
    elapsed = time.monotonic() - start
    assert paths["a.gz"].read_bytes() == CONTENT
    # At 100 bytes a second the 15,000 bytes would take 150 s.
    assert 0.5 <= elapsed < 5
    assert [p.name for p in cache.iterdir()] == ["a.gz"]


def test_a_mirror_past_the_time_limit_counts_as_failed(slow_server, tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    monkeypatch.setattr(download, "TIMEOUT", 0.3)  # the default, read at each call
    with pytest.raises(MissingDataError, match=r"the download failed \(http://127\.0\.0\.1:\d+/"
                                               r"a\.gz took longer than 0\.3 s.*timeout="):
        fetch_all(cache, {"a.gz": _sha256(CONTENT)}, [slow_server], download=True)
    assert list(cache.iterdir()) == []


def test_a_stalled_mirror_fails_after_the_read_timeout(slow_server, tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    monkeypatch.setattr(download, "READ_TIMEOUT", 0.3)
    start = time.monotonic()
    with pytest.raises(MissingDataError, match=r"the download failed \(.*timed out"):
        fetch_all(cache, {"a.gz": _sha256(CONTENT)}, [slow_server + "stall/"], download=True)
    assert time.monotonic() - start < 5
    assert list(cache.iterdir()) == []


@pytest.mark.parametrize("timeout", [0, -1.0, float("nan")])
def test_the_time_limit_must_be_positive(tmp_path, timeout):
    with pytest.raises(ValueError, match=r"timeout must be a finite number > 0"):
        fetch_all(tmp_path, {"a.gz": _sha256(CONTENT)}, ["file:///"], download=True,
                  timeout=timeout)


def test_an_interrupted_download_leaves_no_temporary_file(mirror, tmp_path, monkeypatch):
    cache = tmp_path / "cache"

    def interrupted(url, out, algorithm, timeout):
        out.write(CONTENT[:100])
        raise KeyboardInterrupt

    monkeypatch.setattr(download, "_copy_hashing", interrupted)
    with pytest.raises(KeyboardInterrupt):
        fetch_all(cache, {"a.gz": _sha256(CONTENT)}, [_url(mirror)], download=True)
    assert list(cache.iterdir()) == []


def test_stale_temporary_files_of_a_killed_download_are_removed(mirror, tmp_path):
    cache = tmp_path / "cache"
    cache.mkdir()
    stale, live = cache / ".a.gz.k1ll3d.part", cache / ".a.gz.l1v3.part"
    other = cache / ".b.gz.k1ll3d.part"  # another file's: not this load's to judge
    for path in (stale, live, other):
        path.write_bytes(CONTENT[:50])
    old = time.time() - download.STALE_AFTER - 60
    os.utime(stale, (old, old))
    os.utime(other, (old, old))
    fetch_all(cache, {"a.gz": _sha256(CONTENT)}, [_url(mirror)], download=True)
    assert sorted(p.name for p in cache.iterdir()) == sorted([".a.gz.l1v3.part", other.name,
                                                               "a.gz"])


def test_a_read_only_cache_is_a_missing_data_error_naming_the_folder(mirror, tmp_path):
    root = tmp_path / "cache"
    folder = re.escape(str(root / "set"))
    with read_only(root):
        with pytest.raises(MissingDataError, match=rf"cannot download a\.gz: the cache folder "
                                                   rf"{folder} is read-only \(not "
                                                   rf"writable.*data_dir=.*JAXNET_DATA"):
            fetch_all(root / "set", {"a.gz": _sha256(CONTENT)}, [_url(mirror)], download=True)
    assert list(root.iterdir()) == []


def test_a_read_only_cache_with_verified_files_loads(mirror, tmp_path):
    cache = tmp_path / "cache"
    fetch_all(cache, {"a.gz": _sha256(CONTENT)}, [_url(mirror)], download=True)
    with read_only(cache):
        paths = fetch_all(cache, {"a.gz": _sha256(CONTENT)}, [_url(mirror)], download=True)
    assert paths["a.gz"].read_bytes() == CONTENT


def test_a_bad_file_in_a_read_only_cache_is_a_checksum_error(mirror, tmp_path):
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / "a.gz").write_bytes(b"not it")
    folder = re.escape(str(cache))
    with read_only(cache):
        with pytest.raises(ChecksumError, match=rf"a\.gz failed verification: expected sha256 "
                                                rf"[0-9a-f]{{64}}, got [0-9a-f]{{64}}\. It could "
                                                rf"not be moved aside or replaced because the "
                                                rf"cache folder {folder} is read-only"):
            fetch_all(cache, {"a.gz": _sha256(CONTENT)}, [_url(mirror)], download=True)
    assert [p.name for p in cache.iterdir()] == ["a.gz"]


def test_atomic_file_renames_into_place_only_when_the_block_ends(tmp_path):
    target = tmp_path / "sub" / "a.bin"
    with atomic_file(target) as out:
        out.write(b"whole")
        assert not target.exists()
        assert [p.name.endswith(".part") for p in target.parent.iterdir()] == [True]
    assert target.read_bytes() == b"whole"
    with pytest.raises(KeyboardInterrupt):
        with atomic_file(target) as out:
            out.write(b"half")
            raise KeyboardInterrupt
    assert target.read_bytes() == b"whole" and os.listdir(target.parent) == ["a.bin"]


def test_gunzip_once_writes_the_contents_beside_the_file_once(tmp_path):
    (tmp_path / "a.gz").write_bytes(gzip.compress(CONTENT))
    target = gunzip_once(tmp_path / "a.gz")
    assert target == tmp_path / "a" and target.read_bytes() == CONTENT
    written = target.stat().st_mtime_ns
    time.sleep(0.01)
    assert gunzip_once(tmp_path / "a.gz").stat().st_mtime_ns == written


def test_gunzip_once_replaces_a_copy_cut_short(tmp_path):
    (tmp_path / "a.gz").write_bytes(gzip.compress(CONTENT))
    (tmp_path / "a").write_bytes(CONTENT[:-1])
    with pytest.warns(UserWarning, match="does not hold the contents of a.gz"):
        assert gunzip_once(tmp_path / "a.gz").read_bytes() == CONTENT


def test_gunzip_once_of_a_damaged_gzip_file_is_an_error_and_writes_nothing(tmp_path):
    data = gzip.compress(CONTENT)
    (tmp_path / "a.gz").write_bytes(data[: len(data) // 2] + data[-8:])
    with pytest.raises(ValueError, match=r"a\.gz is a truncated or damaged gzip file"):
        gunzip_once(tmp_path / "a.gz")
    assert os.listdir(tmp_path) == ["a.gz"]


def test_gunzip_once_removes_a_stale_temporary_copy(tmp_path):
    (tmp_path / "a.gz").write_bytes(gzip.compress(CONTENT))
    stale = tmp_path / ".a.x1y2.part"
    stale.write_bytes(b"left by a killed process")
    old = time.time() - download.STALE_AFTER - 1
    os.utime(stale, (old, old))
    gunzip_once(tmp_path / "a.gz")
    assert sorted(os.listdir(tmp_path)) == ["a", "a.gz"]
