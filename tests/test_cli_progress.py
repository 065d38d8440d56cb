"""The CLI's progress bar: redrawn in place on a terminal, a line per tenth into a file, whole lines from threads."""

from __future__ import annotations

import io
import threading

from openplum.cli_progress import ProgressBar


def test_on_a_terminal_the_bar_is_redrawn_in_place() -> None:
    out = io.StringIO()
    bar = ProgressBar(out, "export data app", tty=True)

    for fraction in (0.0, 0.25, 0.25, 0.5):
        bar.update(fraction)
    bar.finish("FINISHED")

    frames = out.getvalue().split("\r")[1:]
    assert [f.split("]")[1].split("%")[0].strip() for f in frames] == ["0", "25", "50", "100"]
    assert "[###############...............]  50%" in frames[2]
    assert out.getvalue().endswith("\nexport data app: FINISHED\n")


def test_into_a_file_it_writes_a_line_per_tenth() -> None:
    out = io.StringIO()
    bar = ProgressBar(out, "job", tty=False)

    for n in range(101):
        bar.update(n / 100)
    bar.finish("FINISHED")

    lines = out.getvalue().splitlines()
    assert "\r" not in out.getvalue()
    assert [line.split("]")[1].split("%")[0].strip() for line in lines[:-1]] == [str(n) for n in range(0, 101, 10)]
    assert lines[-1] == "job: FINISHED"


def test_a_failed_job_ends_without_a_full_bar() -> None:
    out = io.StringIO()
    bar = ProgressBar(out, "job", tty=False)
    bar.update(0.3)

    bar.finish("FAILED")

    assert "100%" not in out.getvalue()
    assert out.getvalue().splitlines()[-1] == "job: FAILED"


def test_updates_from_many_threads_keep_lines_whole() -> None:
    out = io.StringIO()
    bar = ProgressBar(out, "job", tty=False)
    threads = [threading.Thread(target=lambda k=k: [bar.update((k * 7 + i) / 700) for i in range(7)])
               for k in range(100)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert all(line.startswith("job [") and line.endswith(tuple("0123456789")) for line in out.getvalue().splitlines())
