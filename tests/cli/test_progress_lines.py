"""`mbdg run`'s progress where its output goes to a file or a pipe: a plain line every 30 s (a
tty gets tqdm's bar). Without it a 1,000-document run printed nothing for ~9 minutes."""

from __future__ import annotations

import io

from mbdg_assets.cli.run import ProgressBar
from mbdg_assets.llm.progress import CallProgress


def test_progress_to_a_file_is_a_plain_line_every_30_seconds_and_at_each_new_label():
    stream, now = io.StringIO(), [0.0]
    bar = ProgressBar(stream, clock=lambda: now[0])
    progress = CallProgress("generate (3 documents)", planned=24, started=0.0)
    for done in range(1, 25):  # an answer every 2 s
        now[0], progress.done, progress.tokens = done * 2.0, done, done * 100
        progress.failed = 1 if done > 20 else 0
        bar(progress)
    bar(CallProgress("generate (round 2)", planned=4, started=now[0]))
    lines = stream.getvalue().splitlines()
    assert [line.split(",")[0] for line in lines] == [
        "generate (3 documents): 1/24 model calls", "generate (3 documents): 16/24 model calls",
        "generate (round 2): 0/4 model calls"]
    assert "1600 tokens" in lines[1] and "failed" not in lines[1]
    bar.close()


def test_a_tty_gets_the_bar_and_no_lines():
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    stream = Terminal()
    bar = ProgressBar(stream)
    bar(CallProgress("generate (1 documents)", planned=8, done=3))
    assert bar.bar is not None and "model calls" not in stream.getvalue()
    bar.close()
