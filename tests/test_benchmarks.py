"""Smoke tests of the benchmark scripts: they run, and write the JSON and page they promise."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent
BENCHMARKS = ROOT / "benchmarks"


def run_script(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=900, check=True)


@pytest.fixture(scope="module")
def quick_report(tmp_path_factory) -> dict:
    out = tmp_path_factory.mktemp("bench") / "fit_vs_peers.json"
    run_script(str(BENCHMARKS / "fit_vs_peers.py"), "--quick", "--only",
               "jaxnet,plain,flax_linen", "--out", str(out))
    return json.loads(out.read_text())


@pytest.mark.slow
def test_fit_vs_peers_quick_writes_every_field(quick_report):
    report = quick_report
    assert report["command"].startswith("python benchmarks/fit_vs_peers.py --quick")
    assert report["machine"]["cpu_count"] >= 1 and report["machine"]["cpu_model"]
    assert report["versions"]["jax"] and report["versions"]["flax"]
    assert len(report["load_average"]["start"]) == 3
    assert report["matmul_peak"]["gflops"] > 0
    assert set(report["networks"]) == {"mlp", "small_mlp", "cnn", "gru"}
    for name, result in report["networks"].items():
        impls = result["implementations"]
        assert {"plain", "jaxnet", "jaxnet_step", "flax_linen"} <= set(impls), name
        assert ("jaxnet_per_epoch" in impls) == (name == "small_mlp")
        assert len(result["load_average_per_round"]) == report["settings"]["rounds"]
        for r in impls.values():
            assert r["steps_per_s"] > 0 and r["first_call_s"] > 0
            assert len(r["round_s"]) == report["settings"]["rounds"]
            assert r["vs_plain"] > 0 and r["vs_flax_linen"] > 0
            assert (r["peak_fraction"] is None) == (name in ("cnn", "gru"))
        assert impls["plain"]["vs_plain"] == 1.0
        assert impls["flax_linen"]["vs_flax_linen"] == 1.0


@pytest.mark.slow
def test_render_writes_section_and_small_figure(quick_report, tmp_path):
    pytest.importorskip("matplotlib")
    data = tmp_path / "fit_vs_peers.json"
    data.write_text(json.dumps(quick_report))
    page = tmp_path / "benchmarks.md"
    page.write_text("# Benchmarks\n\n## An older section\n\nkept\n")
    figure = tmp_path / "fit_vs_peers.png"
    for _ in range(2):  # the second run replaces the section instead of adding another
        run_script(str(BENCHMARKS / "render_benchmarks.py"), "--json", str(data), "--page",
                   str(page), "--figure", str(figure))
    text = page.read_text()
    assert "## An older section\n\nkept" in text
    assert text.count("## `jn.fit` against its peers' training loops") == 1
    assert "| **`jaxnet`** (jn.fit, one call a round) |" in text
    assert quick_report["command"] in text
    assert 0 < figure.stat().st_size < 100_000


def test_only_selects_an_implementation_and_its_variants():
    sys.path.insert(0, str(BENCHMARKS))
    try:
        from fit_vs_peers import selected
    finally:
        sys.path.remove(str(BENCHMARKS))
    assert selected("jaxnet,plain") == ["plain", "plain_one_call", "jaxnet", "jaxnet_per_epoch",
                                        "jaxnet_step"]
    assert selected("torch") == ["torch", "torch_threads"]
    assert "torch_threads" not in selected(None)
    with pytest.raises(SystemExit, match="unknown"):
        selected("jax")


@pytest.mark.slow
def test_stream_vs_memory_quick_writes_every_variant(tmp_path):
    out = tmp_path / "stream_vs_memory.json"
    run_script(str(BENCHMARKS / "stream_vs_memory.py"), "--quick", "--out", str(out))
    report = json.loads(out.read_text())
    assert report["settings"]["dataset"] == "digits" and report["machine"]["cpu_count"] >= 1
    assert set(report["summary"]) == {"memory", "stream_chunk_1", "stream_chunk_16"}
    assert report["summary"]["memory"]["vs_memory"] == 1.0
    for row in report["summary"].values():
        assert row["steps_per_s"] > 0
    losses = {name: result["loss"] for name, result in report["rounds"][0]["results"].items()}
    assert len(set(losses.values())) == 1, losses  # the same batches, the same training


@pytest.mark.slow
def test_sweep_cpu_cores_quick_times_every_variant_on_its_devices(tmp_path):
    out = tmp_path / "sweep_cpu_cores.json"
    run_script(str(BENCHMARKS / "sweep_cpu_cores.py"), "--quick", "--cores", "2", "--out",
               str(out))
    report = json.loads(out.read_text())
    variants = report["variants"]
    assert {name: v["devices"] for name, v in variants.items()} == {
        "sweep_cores": 2, "sweep_one_device": 1, "fits": 1, "plain_cores": 2,
        "plain_one_device": 1}
    # The sweep, spread or not, and the fits train the same configurations alike.
    np.testing.assert_allclose(variants["sweep_cores"]["final_losses"],
                               variants["fits"]["final_losses"], rtol=1e-4)
    np.testing.assert_allclose(variants["sweep_one_device"]["final_losses"],
                               variants["fits"]["final_losses"], rtol=1e-4)
    assert report["speedups"]["sweep_cores_vs_fits_warm"] > 0


@pytest.mark.slow
def test_compile_cache_benchmark_reads_back_what_the_first_run_wrote(tmp_path):
    out = tmp_path / "compile_cache.json"
    run_script(str(BENCHMARKS / "compile_cache.py"), "--rounds", "1", "--out", str(out), "--",
               "experiments/one_neuron.py", "--quick")
    report = json.loads(out.read_text())
    runs = report["runs"]
    assert runs["first"]["cache_files"][0] > 0
    assert runs["second"]["cache_files"] == runs["first"]["cache_files"]  # nothing new
    assert runs["off"]["cache_files"] == [0]
    assert report["second_vs_first_wall"] > 0
