"""Progress: a tqdm bar on a terminal, periodic INFO lines elsewhere, nothing under --quiet or off the main
process; step k/n lines in the pipeline loop; and no change to any output."""

from __future__ import annotations

import io
import logging
from contextlib import nullcontext
from pathlib import Path

import pytest
import torch

import auditor.store.parallel as parallel
import auditor.store.progress as progress
from auditor.store.runs import UnitLog

TEXTS = [
    "The colour of item 3 is 8. Q: What is it? A: yes.",
    "The size of item 5 is 9.",
    "The shape of item 12 is 2. Q: What is it?",
    "Q: A: 5 5 5",
    "The colour of item 1 is 7.",
]


class Tty(io.StringIO):
    """A captured stream that says it is a terminal."""

    def isatty(self) -> bool:
        return True


class FakeClock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


@pytest.fixture()
def clock(monkeypatch):
    c = FakeClock()
    monkeypatch.setattr(progress, "clock", c)
    return c


@pytest.fixture(autouse=True)
def automatic(monkeypatch):
    monkeypatch.delenv(progress.ENV, raising=False)


def _lines(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "auditor.store.progress"]


def test_not_a_terminal_logs_periodic_lines_with_rate_and_eta(caplog, clock):
    caplog.set_level(logging.INFO)
    out = io.StringIO()
    with progress.bar(100, "MIA scoring", unit="text", file=out) as p:
        for _ in range(100):
            clock.t += 1.0  # one text per second
            p.update(1)
    lines = _lines(caplog)
    assert out.getvalue() == ""  # no bar
    # every 10 s and every 10%: 10 lines, not 100
    assert len(lines) == 10
    assert lines[0] == "MIA scoring: 10/100 (10%) at 1.0 text/s, elapsed 10s, ETA 1m30s"
    assert lines[-1].startswith("MIA scoring: 100/100 (100%) at 1.0 text/s, elapsed 1m40s")


def test_lines_wait_for_ten_percent_and_ten_seconds_whichever_is_later(caplog, clock):
    caplog.set_level(logging.INFO)
    with progress.bar(1000, "fast", file=io.StringIO()) as p:
        for _ in range(50):
            clock.t += 1.0
            p.update(1)  # 10 s passes, but 10% of 1000 not until 100
        assert _lines(caplog) == []
    assert _lines(caplog) == ["fast: 50/1000 (5%) at 1.0 it/s, elapsed 50s, ETA 15m50s"]  # the last line
    caplog.clear()
    with progress.bar(20, "slow", file=io.StringIO()) as p:
        for _ in range(3):
            clock.t += 4.0
            p.update(5)  # 25% per update, but 10 s only at the third
        assert _lines(caplog) == ["slow: 15/20 (75%) at 1.2 it/s, elapsed 12s, ETA 4s"]


def test_short_loop_writes_no_line_and_long_one_writes_a_last_line(caplog, clock):
    caplog.set_level(logging.INFO)
    with progress.bar(10, "short", file=io.StringIO()) as p:
        p.update(10)
    assert _lines(caplog) == []
    with progress.bar(None, "long", unit="step", file=io.StringIO()) as p:
        clock.t += 5
        p.update(3, loss=2.5)
        clock.t += 6
    assert _lines(caplog) == ["long: 3 at 3.7 s/step, elapsed 11s, loss 2.5"]


def test_skipped_items_count_but_not_in_the_rate(caplog, clock):
    caplog.set_level(logging.INFO)
    with progress.bar(100, "resumed", file=io.StringIO()) as p:
        p.skip(50)
        clock.t += 10
        p.update(10)
    assert _lines(caplog) == ["resumed: 60/100 (60%) at 1.0 it/s, elapsed 10s, ETA 40s"]


def test_quiet_shows_nothing(caplog, clock):
    caplog.set_level(logging.WARNING)  # what -q sets
    out = Tty()
    with progress.bar(100, "quiet", file=out) as p:
        for _ in range(100):
            clock.t += 1
            p.update(1)
    assert out.getvalue() == "" and _lines(caplog) == []
    assert progress.mode(logging.getLogger("auditor.store.progress"), Tty(), 0) == "off"


def test_terminal_at_info_shows_a_bar_and_no_lines(caplog, clock):
    caplog.set_level(logging.INFO)
    out = Tty()
    with progress.bar(100, "teacher-forced pass", unit="seq", file=out) as p:
        for _ in range(10):
            clock.t += 20
            p.update(10, loss=1.25)
    text = out.getvalue()
    assert "teacher-forced pass" in text and "100/100" in text and "seq/s" in text and "loss=1.25" in text
    assert _lines(caplog) == []


def test_forced_on_draws_a_bar_on_a_captured_stream(monkeypatch, caplog):
    monkeypatch.setenv(progress.ENV, "1")
    caplog.set_level(logging.WARNING)  # forced on: the bar even so
    out = io.StringIO()
    assert list(progress.track(range(7), "sampling", unit="sample", file=out)) == list(range(7))
    assert "sampling" in out.getvalue() and "7/7" in out.getvalue() and "sample/s" in out.getvalue()


@pytest.mark.parametrize("stream", [Tty, io.StringIO])
def test_forced_off_shows_neither_bar_nor_lines(monkeypatch, caplog, clock, stream):
    monkeypatch.setenv(progress.ENV, "0")
    caplog.set_level(logging.INFO)
    out = stream()
    with progress.bar(10, "off", file=out) as p:
        for _ in range(10):
            clock.t += 10
            p.update(1)
    assert out.getvalue() == "" and _lines(caplog) == []


@pytest.mark.parametrize("env", [None, "1"])
def test_other_processes_show_nothing(monkeypatch, caplog, clock, env):
    if env:
        monkeypatch.setenv(progress.ENV, env)
    monkeypatch.setattr(parallel, "is_main", lambda: False)
    caplog.set_level(logging.INFO)
    out = Tty()
    with progress.bar(10, "rank 1", file=out) as p:
        for _ in range(10):
            clock.t += 10
            p.update(1)
    assert out.getvalue() == "" and _lines(caplog) == []


def test_nested_blocks_log_from_the_outermost_only_and_bars_stack_two_deep(caplog, clock):
    caplog.set_level(logging.INFO)
    with progress.bar(2, "outer", file=io.StringIO()) as outer:
        assert progress.depth() == 1
        for _ in range(2):
            with progress.bar(100, "inner", file=io.StringIO()) as inner:
                assert inner.mode == "off"
                for _ in range(100):
                    clock.t += 1
                    inner.update(1)
            outer.update(1)
    assert progress.depth() == 0
    assert [x.split(":")[0] for x in _lines(caplog)] == ["outer", "outer"]
    levels = [progress.mode(logging.getLogger("x"), Tty(), d) for d in range(3)]
    assert levels == ["bar", "bar", "off"]


def test_depth_is_restored_after_an_error():
    with pytest.raises(ValueError), progress.bar(3, "boom", file=io.StringIO()):
        raise ValueError
    assert progress.depth() == 0


def test_format_helpers():
    assert [progress.format_seconds(s) for s in (4.4, 65, 3725)] == ["4s", "1m05s", "1h02m"]
    assert progress.format_rate(41.23, "text") == "41.2 text/s"
    assert progress.format_rate(1234.4, "tok") == "1,234 tok/s"
    assert progress.format_rate(0.25, "step") == "4.0 s/step"


# ----- the wired loops: same outputs with or without progress ------------------------------------------------


@pytest.fixture(scope="module")
def lm(tiny_model_dir):
    from auditor.models.load import load_model

    return load_model(str(tiny_model_dir))


def test_teacher_forced_and_generation_outputs_do_not_depend_on_progress(lm, monkeypatch):
    from auditor.capability.evaluate import greedy_generate
    from auditor.lm.forward import teacher_forced

    seqs = [lm.tokenizer(t)["input_ids"] for t in TEXTS]
    runs = []
    for env in ("0", "1"):
        monkeypatch.setenv(progress.ENV, env)
        tf = teacher_forced(lm.model, seqs, pad_id=lm.tokenizer.pad_token_id, reduce="stats", batch_size=2)
        gen = greedy_generate(lm.model, lm.tokenizer, TEXTS, max_new_tokens=4, batch_size=2)
        runs.append((tf, gen))
    (tf0, gen0), (tf1, gen1) = runs
    assert gen0 == gen1
    for a, b in zip(tf0, tf1, strict=True):
        assert all(torch.equal(x, y) for x, y in zip(a, b, strict=True))


def test_mia_scores_do_not_depend_on_progress(lm, tmp_path, monkeypatch, caplog, clock):
    from auditor.inputs.data import TextSet
    from auditor.probes.mia.runner import MIAConfig, score_members

    members, nonmembers = TextSet(["m0", "m1"], TEXTS[:2], "m"), TextSet(["n0", "n1", "n2"], TEXTS[2:], "n")
    config = MIAConfig(attacks=("loss", "zlib"), unit_size=2, n_boot=10)
    caplog.set_level(logging.INFO)
    results = []
    for env in ("0", "", "1"):  # off, log lines (stderr is not a terminal under pytest), bar
        monkeypatch.setenv(progress.ENV, env)
        samples = UnitLog(tmp_path / f"scores{env}.jsonl")
        results.append(score_members(lm.model, lm.tokenizer, members, nonmembers, samples, config))
    assert results[0] == results[1] == results[2]


def test_calibration_counts_rows_per_batch(lm, monkeypatch):
    from auditor.pruning import calibration

    rows = [[5, 6, 7, 8]] * 5
    mods = {"q": lm.model.model.layers[0].self_attn.q_proj}
    seen: list[int] = []
    calibration.collect_inputs(lm.model, mods, rows, lambda n, x: None, batch_size=2, on_batch=seen.append)
    assert seen == [2, 2, 1]
    opened: list[tuple] = []

    class Tracker:
        def __call__(self, total, desc, unit="it"):
            opened.append((total, desc, unit))
            return nullcontext(type("P", (), {"update": lambda self, n: seen.append(n)})())

    monkeypatch.setattr(calibration, "_tracker", None)
    calibration.set_tracker(Tracker())
    calibration.collect_inputs(lm.model, mods, rows, lambda n, x: None, batch_size=4)
    calibration.set_tracker(None)
    assert opened == [(5, "calibration inputs", "row")] and seen[3:] == [4, 1]


# ----- the pipeline loop's step lines -----------------------------------------------------------------------


class _Run:
    def __init__(self, path: Path, done: set[str]) -> None:
        self.path, self._done, self.written = path, done, []

    def done(self, unit: str) -> bool:
        return unit in self._done

    def write(self, unit: str, records: list) -> None:
        self.written.append(unit)


class _Pruners:
    structure = "unstructured"

    def at(self, method: str, sparsity: float):
        return nullcontext({"overall": sparsity})

    def release(self) -> None:
        pass


class _Family:
    def run(self, ctx, data) -> list:
        return []


def test_pipeline_loop_logs_step_k_of_n_with_elapsed_time(tmp_path, monkeypatch, caplog, clock):
    from types import SimpleNamespace

    import auditor.pipeline.loop as loop

    monkeypatch.setattr(loop.FAMILIES, "get", lambda name: _Family())
    steps = loop.plan(["mia"], ["magnitude"], [0.5], ["mia", "extraction"])
    run = _Run(tmp_path, done={"ckpt/magnitude/0.5/mia"})  # recorded earlier: counted, not logged
    caplog.set_level(logging.INFO, logger="auditor.pipeline.loop")
    lm = SimpleNamespace(model=None, tokenizer=None)
    n = loop.run_points(lm, run, "ckpt", steps, {"mia": None, "extraction": None}, _Pruners())
    assert n == 2 and run.written == ["ckpt/dense/0/mia", "ckpt/magnitude/0.5/extraction"]
    lines = [r.getMessage() for r in caplog.records if r.name == "auditor.pipeline.loop"]
    assert lines == [
        "step 1/3: [ckpt dense 0.00 (actual 0.0000)] mia, elapsed 0s",
        "step 3/3: [ckpt magnitude 0.50 (actual 0.5000)] extraction, elapsed 0s",
    ]
