"""Small files in the official data formats, and experiment scripts loaded as modules."""

import contextlib
import hashlib
import http.server
import importlib.util
import io
import json
import os
import pickle
import struct
import subprocess
import sys
import tarfile
import tempfile
import threading
from pathlib import Path

import numpy as np
import pytest

import jaxnet as jn
from jaxnet.data import cifar10
from jaxnet.data.download import MissingDataError

IDX_CODES = {np.uint8: 0x08, np.int8: 0x09, np.int16: 0x0B, np.int32: 0x0C, np.float32: 0x0D,
             np.float64: 0x0E}
CIFAR10_CLASSES = [b"airplane", b"automobile", b"bird", b"cat", b"deer", b"dog", b"frog",
                   b"horse", b"ship", b"truck"]


def idx_bytes(array: np.ndarray) -> bytes:
    """An array written as IDX: magic, big-endian sizes, big-endian data in C order."""
    header = bytes([0, 0, IDX_CODES[array.dtype.type], array.ndim])
    sizes = struct.pack(f">{array.ndim}I", *array.shape)
    return header + sizes + array.astype(array.dtype.newbyteorder(">")).tobytes()


def sha256(data: bytes) -> str:
    """A checksum in the loaders' ``"sha256:<hex>"`` form."""
    return "sha256:" + hashlib.sha256(data).hexdigest()


def tiny_cifar10(data_dir: Path, monkeypatch, per_batch: int = 30, n_test: int = 40) -> None:
    """Writes a small CIFAR-10 archive in the official format under ``data_dir`` (random images)
    and makes its checksum the published one for the duration of the test."""
    rng = np.random.default_rng(0)

    def batch(n):
        return {b"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8),
                b"labels": rng.integers(0, 10, n).tolist()}

    members = {"batches.meta": {b"label_names": CIFAR10_CLASSES}, cifar10.TEST_BATCH: batch(n_test)}
    members.update((name, batch(per_batch)) for name in cifar10.TRAIN_BATCHES)
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, content in members.items():
            data = pickle.dumps(content, protocol=4)
            info = tarfile.TarInfo(f"{cifar10.FOLDER}/{name}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    (data_dir / "cifar10").mkdir(parents=True)
    (data_dir / "cifar10" / cifar10.ARCHIVE).write_bytes(buffer.getvalue())
    monkeypatch.setattr(cifar10, "CHECKSUMS", {cifar10.ARCHIVE: sha256(buffer.getvalue())})


def real_mnist():
    """The real MNIST, loaded from the cache without downloading; the test is skipped, saying
    why, when the cache lacks the files."""
    try:
        return jn.data.load("mnist", download=False)
    except MissingDataError:
        pytest.skip("needs the real MNIST files in the cache's mnist/ folder ($JAXNET_DATA, "
                    "which .ci/run points at a copy of shared/data/mnist beside the repository "
                    "when there is one); they are not there and are never downloaded by tests")


@contextlib.contextmanager
def read_only(folder: Path):
    """Makes ``folder`` read-only while the block runs: nothing can be created, renamed or
    removed in it. ``chmod`` does that for a normal user; root ignores it, so there the folder is
    made immutable (``chattr +i``), and the test is skipped where neither works."""
    folder.mkdir(parents=True, exist_ok=True)
    folder.chmod(0o555)
    immutable = False
    try:
        if _writable(folder):
            try:
                done = subprocess.run(["chattr", "+i", str(folder)], capture_output=True)
                immutable = done.returncode == 0
            except OSError:
                pass
            if not immutable or _writable(folder):
                pytest.skip("this machine cannot make a folder read-only")
        yield folder
    finally:
        if immutable:
            subprocess.run(["chattr", "-i", str(folder)], check=True)
        folder.chmod(0o755)


def _writable(folder: Path) -> bool:
    try:
        handle, name = tempfile.mkstemp(dir=folder)
    except OSError:
        return False
    os.close(handle)
    os.remove(name)
    return True


@contextlib.contextmanager
def trickling_server(content: bytes, delay: float = 0.01):
    """A local HTTP server on 127.0.0.1, its base URL given to the block, that announces
    ``content`` and sends it one byte every ``delay`` seconds (so 100 bytes a second by
    default); under ``/stall/`` it sends nothing after the headers."""
    stop = threading.Event()

    class Trickle(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Length", str(len(content)))
            self.end_headers()
            try:
                for i in range(len(content)):
                    if stop.wait(delay):
                        return
                    if not self.path.startswith("/stall/"):
                        self.wfile.write(content[i:i + 1])
                        self.wfile.flush()
            except OSError:  # the client gave up
                pass

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Trickle)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/"
    finally:
        stop.set()
        server.shutdown()
        server.server_close()


def load_script(path: Path, monkeypatch):
    """An experiment script as a module; its folder goes on sys.path, as when it runs."""
    monkeypatch.syspath_prepend(str(path.parent))
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run_script(script: Path, *args: str) -> str:
    """Runs an experiment script as a user would and returns what it printed; a failure shows
    the end of its standard error."""
    with tempfile.TemporaryDirectory(prefix="jaxnet-xla-") as compiled:
        # The compilation cache a script turns on, in a folder of its own.
        env = {**os.environ, "JAX_COMPILATION_CACHE_DIR": compiled}
        done = subprocess.run([sys.executable, str(script), *args], capture_output=True,
                              text=True, timeout=300, env=env)
    if done.returncode:
        raise AssertionError(f"{script.name} {' '.join(args)} exited with {done.returncode}:\n"
                             f"{done.stderr[-3000:]}")
    return done.stdout


def run_quick(script: Path, out: Path, *args: str) -> dict:
    """Runs ``script --quick --out out [args]`` and returns the metrics.json it wrote."""
    run_script(script, "--quick", "--out", str(out), *args)
    return json.loads((out / "metrics.json").read_text())
