"""``benchmarks.throughput --backend`` (``benchmarks.backend_sweep``): the sweep's rows on CPU torch,
its arithmetic and memory column, where the doubling stops, the clear errors without torch or
CUDA, and the device equivalence check (run on the CPU here; on CUDA by ``benchmarks/gpu_check.sh``)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from benchmarks import backend_sweep, throughput, throughput_cases
from benchmarks.backend_sweep import SweepRow

ROOT = Path(__file__).resolve().parents[1]
QUICK = ["--steps", "3", "--warmup", "1", "--preset", "paper", "--n", "30"]


def test_row_arithmetic() -> None:
    row = SweepRow("paper-30", "torch", "cpu", "numpy", 4, 0, 10, 0.5, 100.0, 900.0, 1_000_000, None, 4.8e12)
    assert row.steps_per_s == pytest.approx(20.0)
    assert row.vehicle_slots_per_s == pytest.approx(2000.0)
    assert row.bytes_per_step == 2_000_000
    assert row.bandwidth_fraction == pytest.approx(2e6 / (0.05 * 4.8e12))
    assert row.as_dict()["vehicle_slots_per_s"] == pytest.approx(2000.0)


def test_env_counts_double_up_to_max() -> None:
    assert list(backend_sweep.env_counts(None, 10)) == [1, 2, 4, 8]
    assert list(backend_sweep.env_counts([3, 5], 1)) == [3, 5]


def test_case_config_scales_n_1000_as_throughput() -> None:
    assert backend_sweep.case_config("paper", 1000) == throughput_cases._config("n-1000")
    assert backend_sweep.case_config("corridor", 30) == throughput_cases._config("corridor-30")


def test_equal_offload_on_the_device() -> None:
    torch = pytest.importorskip("torch")
    from vecgym.config import VECConfig
    from vecgym.core.engine import Engine

    cfg = VECConfig.from_kwargs(**backend_sweep.case_config("corridor", 30))
    ref, dev = Engine(cfg, 2, kernels="numpy"), Engine(cfg, 2, backend="torch", device="cpu")
    for eng in (ref, dev):
        eng.reset(np.arange(2))
    w, a = backend_sweep.equal_offload(ref)
    w_d, a_d = backend_sweep.equal_offload(dev)
    assert isinstance(a_d, torch.Tensor) and isinstance(w_d, torch.Tensor)
    np.testing.assert_array_equal(a_d.numpy(), a)
    assert (w == 1.0).all()
    # Σa = 1 on every server holding a vehicle, as the batch-64 case's equal shares.
    held = ref.active & (ref.holder >= 0)
    per_server = np.zeros((2, ref.S))
    np.add.at(per_server, (np.nonzero(held)[0], ref.holder[held]), a.sum(axis=2)[held])
    busy = np.zeros((2, ref.S), bool)
    busy[np.nonzero(held)[0], ref.holder[held]] = True
    np.testing.assert_allclose(per_server[busy], 1.0)
    assert (a[~held] == 0).all()


def test_sweep_on_cpu_torch_stops_at_max_envs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("torch")
    out = tmp_path / "sweep.json"
    results = throughput.main(["--backend", "torch", "--device", "cpu", "--max-envs", "4", *QUICK, "--json", str(out)])
    assert isinstance(results[0], backend_sweep.CaseResult)
    (res,) = results
    assert [r.B for r in res.rows] == [1, 2, 4]
    assert res.stopped.startswith("reached --max-envs 4")
    for r in res.rows:
        assert (r.backend, r.device, r.kernels, r.steps) == ("torch", "cpu", "numpy", 3)
        assert r.steps_per_s > 0 and r.vehicle_slots_per_s > 0
        assert r.vehicle_slots_per_s == pytest.approx(r.active * r.steps / r.seconds)
        assert 0 < r.active <= r.B * 62 and r.state_bytes > 0 and r.peak_bytes is None
        assert r.bandwidth_fraction > 0
    # The engine's arrays grow with B (the per-road arrays at least double from B = 1 to 2).
    assert res.rows[0].state_bytes < res.rows[1].state_bytes < res.rows[2].state_bytes
    text = capsys.readouterr().out
    assert "state MiB" in text and "stopped: reached --max-envs 4" in text
    assert out.exists() and '"stopped"' in out.read_text()


def test_alternated_backends_give_ratios(capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("torch")
    (res,) = backend_sweep.main(["--backend", "numpy", "torch", "--num-envs", "2", "--rounds", "2", *QUICK])
    assert [(r.backend, r.round) for r in res.rows] == [("numpy", 0), ("torch", 0), ("numpy", 1), ("torch", 1)]
    (ratio,) = backend_sweep.ratios(res.rows)
    assert ratio[:3] == ("paper-30", 2, "torch/numpy") and len(ratio[4]) == 2 and ratio[3] > 0
    assert res.stopped == "end of --num-envs (B=2)"
    assert "time per step / numpy" in capsys.readouterr().out


def test_time_budget_stops_the_doubling() -> None:
    pytest.importorskip("torch")
    (res,) = backend_sweep.main(["--backend", "torch", "--max-envs", "64", "--time-budget", "0", *QUICK])
    assert [r.B for r in res.rows] == [1]
    assert res.stopped.startswith("time budget: B=2 not started")


def test_out_of_memory_stops_the_sweep(monkeypatch: pytest.MonkeyPatch) -> None:
    real = backend_sweep.run_row

    def run_row(cfg, case, B, *args, **kw):
        if B >= 4:
            raise MemoryError("Unable to allocate 1.00 TiB for an array")
        return real(cfg, case, B, *args, **kw)

    monkeypatch.setattr(backend_sweep, "run_row", run_row)
    (res,) = backend_sweep.main(["--backend", "numpy", "--max-envs", "64", *QUICK])
    assert [r.B for r in res.rows] == [1, 2]
    assert res.stopped.startswith("out of memory at B=4 (numpy/numpy: MemoryError")


def test_is_oom() -> None:
    assert backend_sweep.is_oom(MemoryError())
    assert backend_sweep.is_oom(RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB"))
    assert not backend_sweep.is_oom(RuntimeError("shape mismatch"))
    assert not backend_sweep.is_oom(ValueError("out of memory"))


def test_without_torch_the_message_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "torch", None)  # import torch raises ImportError
    with pytest.raises(SystemExit) as exc:
        throughput.main(["--backend", "torch", "--device", "cpu", *QUICK])
    assert "pip install 'vecgym[torch]'" in str(exc.value)


def test_without_cuda_the_message_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    torch = pytest.importorskip("torch")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(SystemExit) as exc:
        throughput.main(["--backend", "torch", "--device", "cuda", *QUICK])
    assert "torch.cuda.is_available() is False" in str(exc.value)


def test_without_backend_the_table_is_unchanged(monkeypatch: pytest.MonkeyPatch) -> None:
    called = []
    monkeypatch.setattr(backend_sweep, "main", lambda argv: called.append(argv))
    rows = throughput.main(
        ["--cases", "paper-30", "--policies", "const", "--kernels", "numpy", "--steps", "3", "--warmup", "2"]
    )
    assert not called and [(r.case, r.kernels) for r in rows] == [("paper-30", "numpy")]  # type: ignore[union-attr]


def test_equivalence_check_on_cpu() -> None:
    pytest.importorskip("torch")
    lines = backend_sweep.check_equivalence("cpu", ("paper",), B=2, slots=6)
    assert len(lines) == 1 and "event counts identical" in lines[0]


def test_gpu_check_script_is_valid_bash() -> None:
    subprocess.run(["bash", "-n", str(ROOT / "benchmarks" / "gpu_check.sh")], check=True)
