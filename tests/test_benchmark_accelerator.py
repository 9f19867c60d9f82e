"""benchmarks/accelerator.py runs unchanged on the CPU (small sizes) and reports every field."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
@pytest.mark.parametrize("devices, mesh", [(1, []), (4, ["--mesh"])])
def test_the_accelerator_benchmark_runs_small_on_the_cpu(tmp_path, devices, mesh):
    out = tmp_path / "accelerator.json"
    env = {**os.environ, "XLA_FLAGS": f"--xla_force_host_platform_device_count={devices}"}
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "accelerator.py"), "--small", "--epochs", "2",
         "--only", "mnist1d_cnn", "--out", str(out), *mesh],
        capture_output=True, text=True, env=env, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(out.read_text())
    assert report["platform"] == "cpu" and report["devices"] == devices
    assert report["mesh"] == bool(mesh)
    assert [row["compute_dtype"] for row in report["results"]] == ["float32", "bfloat16"]
    for row in report["results"]:
        assert row["steps_per_s"] > 0 and 0 < row["fraction_of_peak"] < 1
        assert row["train_flops_per_step"] > 0 and len(row["epoch_times_s"]) == 2


@pytest.mark.slow
def test_the_accelerator_suite_runs_every_step_small_on_the_cpu(tmp_path):
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "accelerator_suite.py"), "--quick",
         "--results", str(tmp_path)], capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    summary = json.loads((tmp_path / "accelerator_suite_cpu.json").read_text())
    assert summary["platform"] == "cpu" and summary["quick"]
    for name, step in summary["steps"].items():
        assert step["ok"], (name, step.get("error"))
    sweep = json.loads((tmp_path / "sweep_64_cpu.json").read_text())["cases"]["small_mlp"]
    assert sweep["configurations"] == 64
    peers = json.loads((tmp_path / "fit_vs_peers_cpu.json").read_text())
    assert set(peers["networks"]) == {"small_mlp"}
    accelerator = json.loads((tmp_path / "accelerator_cpu.json").read_text())
    assert [row["compute_dtype"] for row in accelerator["results"]] == ["float32", "bfloat16"]
