"""The progress line's own contract (the pty tests in test_cli_fleet.py show it end to end)."""

from __future__ import annotations

import io

from origin_tls.progress import MIN_TARGETS, ProgressLine, progress_for


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        if self.closed:
            raise ValueError("I/O operation on closed file")  # what a real closed terminal stream does
        return True


def test_a_terminal_and_more_than_a_handful_of_targets_get_a_line() -> None:
    assert isinstance(progress_for(_Terminal(), MIN_TARGETS + 1), ProgressLine)
    # The twins: not a terminal, or a handful of targets, get nothing.
    assert progress_for(io.StringIO(), 1000) is None
    assert progress_for(_Terminal(), MIN_TARGETS) is None


def test_the_line_is_rewritten_in_place_and_erased_at_the_end() -> None:
    stream = _Terminal()
    line = ProgressLine(stream)
    for done in range(1, 101):
        line(done, 100)
    line.close()
    text = stream.getvalue()
    assert "origin_tls: 1/100 targets verified" in text
    assert "origin_tls: 100/100 targets verified" in text  # the last one is always drawn
    assert text.count("targets verified") < 100  # redrawn at most every 0.1 s, not once per target
    assert "\n" not in text
    assert text.endswith("\r\x1b[2K")


def test_a_closed_stream_is_not_a_terminal() -> None:
    stream = _Terminal()
    stream.close()
    assert progress_for(stream, 100) is None
