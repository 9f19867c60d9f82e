"""Tests for jaxnet.data.download: the cache folder and verified downloads over file:// URLs."""

import hashlib
from pathlib import Path

import pytest

from jaxnet.data.download import (
    ChecksumError,
    MissingDataError,
    cache_dir,
    checksum_of,
    fetch_all,
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


def test_a_bad_file_placed_by_hand_is_moved_aside_and_named(mirror, tmp_path):
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / "a.gz").write_bytes(b"not it")
    with pytest.raises(ChecksumError, match=r"placed by hand.*moved aside to a\.gz\.corrupt"):
        fetch_all(cache, {"a.gz": _sha256(CONTENT)}, [_url(mirror)], download=True)
    assert [p.name for p in cache.iterdir()] == ["a.gz.corrupt"]
    fetch_all(cache, {"a.gz": _sha256(CONTENT)}, [_url(mirror)], download=True)
    assert (cache / "a.gz").read_bytes() == CONTENT
