"""Progress of long work: what a session reports while it flushes, waits, predicts and trains."""

# ruff: noqa: F811  (the fixtures imported from tests.orm_support are redefined as arguments)

from __future__ import annotations

import io
import threading
from collections.abc import Callable, Iterator

import pytest

import clarimap
from clarimap import Image, Input, Model, Progress, TextProgress, ValidationError
from clarimap.progress import progress_callback
from clarimap.server import ServerApp, create_app
from clarimap.server.processing import ProcessingStep
from tests.orm_support import Connected, connected, orm_app, tiny_png  # noqa: F401


class Recorder:
    """A progress callback that keeps every report."""

    def __init__(self) -> None:
        self.reports: list[Progress] = []

    def __call__(self, progress: Progress) -> None:
        self.reports.append(progress)

    def of(self, task: str) -> list[Progress]:
        return [report for report in self.reports if report.task == task]


def new_inputs(count: int, start: int = 0) -> list[Input]:
    return [
        Input(id=f"p{start + n}", image=Image(base64=tiny_png(start + n))) for n in range(count)
    ]


def test_a_flush_reports_after_each_call(connected: Connected) -> None:
    session = connected.session
    recorder = Recorder()
    session.progress = recorder
    session.add_all(new_inputs(300))
    session.commit()
    flush = recorder.of("flush")
    assert [(r.done, r.total) for r in flush] == [
        (0, 300),
        (128, 300),
        (256, 300),
        (300, 300),
        (300, 300),
    ]
    assert [r.finished for r in flush] == [False, False, False, False, True]
    assert flush[1].detail == "POST /v2/inputs (128 items)"
    assert flush[-2].fraction == 1.0

    for photo in session.query(Input).all():
        photo.metadata["seen"] = True
    del recorder.reports[:]
    session.commit()
    assert [(r.done, r.total) for r in recorder.of("flush")][1:4] == [
        (128, 300),
        (256, 300),
        (300, 300),
    ]
    assert connected.recorder.count("PATCH", "/inputs") == 3


def test_a_flush_with_nothing_to_send_reports_nothing(connected: Connected) -> None:
    recorder = Recorder()
    connected.session.progress = recorder
    connected.session.commit()
    assert recorder.reports == []


def test_a_failed_flush_still_reports_its_end(connected: Connected) -> None:
    session = connected.session
    recorder = Recorder()
    session.progress = recorder
    session.add_all(new_inputs(2))
    session.add(Input(id="broken", image=Image(base64=b"\x89PNG\r\n\x1a\nnot really a png")))
    with pytest.raises(clarimap.FlushError):
        session.commit()
    assert recorder.of("flush")[-1].finished


def test_waiting_for_many_inputs_reads_them_128_a_call(connected: Connected) -> None:
    session = connected.session
    photos = new_inputs(200)
    session.add_all(photos)
    session.commit()
    recorder = Recorder()
    session.progress = recorder
    before = connected.recorder.count("GET")
    done = session.wait_for_inputs(photos, timeout=30)
    assert [p.id for p in done] == [p.id for p in photos]
    assert connected.recorder.count("GET") - before == 2  # ceil(200 / 128), not 200
    first = recorder.of("wait_for_inputs")[0]
    assert (first.done, first.total) == (200, 200)
    assert recorder.of("wait_for_inputs")[-1].finished


def test_waiting_for_an_input_that_does_not_exist_says_so(connected: Connected) -> None:
    with pytest.raises(clarimap.NotFound):
        connected.session.wait_for_inputs(["no-such-input"], timeout=5)
    with pytest.raises(ValidationError, match="expected Input objects or their ids, got int 123"):
        connected.session.wait_for_inputs([123], timeout=5)  # type: ignore[list-item]
    with pytest.raises(ValidationError, match="expected Model objects or their ids, got Input"):
        connected.session.wait_until_deleted(Model, [Input(id="x", image=Image(url="http://x/a"))])


@pytest.fixture
def slow_app() -> Iterator[tuple[ServerApp, threading.Event]]:
    """A server processing in the background whose inputs wait for ``release`` to finish."""
    app = create_app(":memory:", background=True)
    app.processing_steps.clear()
    release = threading.Event()

    def compute(image: object) -> None:
        assert release.wait(60), "the test never released processing"

    app.processing_steps.append(ProcessingStep("held", compute, lambda *args: None))
    yield app, release
    release.set()
    app.close()


@pytest.mark.parametrize("by_id", [False, True], ids=["whole-app", "these-inputs"])
def test_waiting_for_processing_reports_each_poll(
    slow_app: tuple[ServerApp, threading.Event], by_id: bool
) -> None:
    app, release = slow_app
    reports: list[Progress] = []

    def callback(progress: Progress) -> None:
        reports.append(progress)
        if progress.task == "wait_for_inputs" and not progress.finished and progress.done == 0:
            release.set()  # the first poll saw everything pending: let processing finish

    session = clarimap.connect("local://:memory:", local_app=app, progress=callback)
    photos = new_inputs(3)
    session.add_all(photos)
    session.commit()
    session.wait_for_inputs(photos if by_id else None, timeout=60, interval=0.01)
    waits = [r for r in reports if r.task == "wait_for_inputs"]
    assert (waits[0].done, waits[0].total) == (0, 3)
    assert (waits[-2].done, waits[-2].total) == (3, 3)
    assert [r.done for r in waits[:-1]] == sorted(r.done for r in waits[:-1])  # never backwards
    assert waits[-1].finished
    session.close()


def test_iterating_a_query_reports_each_page(connected: Connected) -> None:
    session = connected.session
    session.add_all(new_inputs(300))
    session.commit()
    recorder = Recorder()
    session.progress = recorder
    assert len(session.query(Input).per_page(128).all()) == 300
    assert [(r.done, r.total, r.detail) for r in recorder.of("query")] == [
        (128, None, "page 1"),
        (256, None, "page 2"),
        (300, None, "page 3"),
        (300, None, "done"),
    ]
    del recorder.reports[:]
    assert len(session.query(Input).per_page(100).limit(150).all()) == 150
    assert [(r.done, r.total) for r in recorder.of("query")] == [(100, 150), (150, 150), (150, 150)]
    assert recorder.of("query")[-1].finished


def test_predicting_many_sources_reports_each_batch(orm_app: ServerApp) -> None:
    recorder = Recorder()
    session = clarimap.connect("local://:memory:", local_app=orm_app, progress=recorder)
    color = session.get(Model, name="color")
    assert color is not None
    predictions = color.predict([tiny_png(n) for n in range(130)])
    assert len(predictions) == 130
    assert [(r.done, r.total, r.finished) for r in recorder.of("predict")] == [
        (128, 130, False),
        (130, 130, False),
        (130, 130, True),
    ]
    session.close()


def test_training_reports_the_version_status_while_it_waits() -> None:
    app = create_app(":memory:", background=False)  # with the embedding step training needs
    recorder = Recorder()
    session = clarimap.connect("local://:memory:", local_app=app, progress=recorder)
    session.add_all(
        Input(id=f"i{n}", image=Image(base64=tiny_png(n * 40)), concepts=["a" if n % 2 else "b"])
        for n in range(6)
    )
    model = Model(id="ab", concepts=["a", "b"])
    session.add(model)
    session.commit()
    model.train(timeout=60)
    train = recorder.of("train")
    assert train[0].detail.startswith("21103")  # queued, as the train call answered
    assert train[-1].finished and train[-1].total is None
    session.close()
    app.close()


def test_text_progress_is_silent_for_short_tasks_and_writes_long_ones() -> None:
    stream = io.StringIO()
    quiet = TextProgress(stream, quiet_for=60)
    quiet(Progress("flush", 0, 10))
    quiet(Progress("flush", 10, 10, "done", finished=True))
    assert stream.getvalue() == ""

    loud = TextProgress(stream, quiet_for=0, interval=3600)
    loud(Progress("flush", 0, 1000, "8 calls planned"))
    loud(Progress("flush", 128, 1000, "POST /v2/inputs (create, 128 items)"))  # within interval
    loud(Progress("flush", 1000, 1000, "done", finished=True))
    lines = stream.getvalue().splitlines()
    assert len(lines) == 2
    assert lines[0].startswith("clarimap flush: 0/1,000 (0%) 8 calls planned ")
    assert lines[1].startswith("clarimap flush: 1,000/1,000 (100%) done ")


def test_session_progress_takes_the_same_values(orm_app: ServerApp) -> None:
    session = clarimap.connect("local://:memory:", local_app=orm_app)
    assert session.progress is None
    session.progress = True
    assert isinstance(session.progress, TextProgress)
    session.progress = None
    assert session.progress is None
    with pytest.raises(ValidationError, match="progress must be a callable"):
        session.progress = 3  # type: ignore[assignment]
    session.close()


def test_progress_argument_values() -> None:
    assert isinstance(progress_callback(True), TextProgress)
    assert progress_callback(None) is None and progress_callback(False) is None
    recorder = Recorder()
    assert progress_callback(recorder) is recorder
    with pytest.raises(ValidationError, match="progress must be a callable"):
        progress_callback("yes")  # type: ignore[arg-type]
    assert Progress("train", 0, None).fraction is None
    assert Progress("flush", 0, 0).fraction == 1.0


class GatedApp:
    """A background server whose inputs finish one at a time, when the test lets one through."""

    def __init__(self) -> None:
        self.app = create_app(":memory:", background=True)
        self.app.processing_steps.clear()
        self.gate = threading.Semaphore(0)
        self.finished = 0
        self.changed = threading.Condition()

        def compute(image: object) -> None:
            assert self.gate.acquire(timeout=60), "the test never let this input through"

        def write(*args: object) -> None:
            with self.changed:
                self.finished += 1
                self.changed.notify_all()

        self.app.processing_steps.append(ProcessingStep("gated", compute, write))

    def let_one_through(self) -> None:
        with self.changed:
            before = self.finished
            self.gate.release()
            assert self.changed.wait_for(lambda: self.finished > before, timeout=60)


class FakeClock:
    """Stands in for the ``time`` module of clarimap.session: sleeping moves the clock."""

    def __init__(self, on_sleep: Callable[[], None]) -> None:
        self.now = 0.0
        self.on_sleep = on_sleep

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds
        self.on_sleep()


@pytest.mark.parametrize("by_id", [False, True], ids=["whole-app", "these-inputs"])
@pytest.mark.parametrize("moving", [True, False], ids=["moving", "stuck"])
def test_the_wait_timeout_counts_from_the_last_input_that_finished(
    monkeypatch: pytest.MonkeyPatch, by_id: bool, moving: bool
) -> None:
    import clarimap.session

    gated = GatedApp()
    session = clarimap.connect("local://:memory:", local_app=gated.app)
    try:
        photos = new_inputs(6)
        session.add_all(photos)
        session.commit()
        # each one-second poll interval, one input finishes (moving) or none does (stuck)
        clock = FakeClock(gated.let_one_through if moving else lambda: None)
        monkeypatch.setattr(clarimap.session, "time", clock)
        wanted = photos if by_id else None
        if moving:  # 6 inputs take 6 s, far past the timeout, but none waits 2.5 s
            session.wait_for_inputs(wanted, timeout=2.5, interval=1.0)
            assert gated.finished == 6 and clock.now == 6.0
        else:
            with pytest.raises(clarimap.WaitTimeoutError):
                session.wait_for_inputs(wanted, timeout=2.5, interval=1.0)
            assert gated.finished == 0 and clock.now == 2.0
    finally:
        monkeypatch.undo()
        for _ in range(6):
            gated.gate.release()
        session.close()
        gated.app.close()
