"""Run the real ``deploysim`` entry point in-process, as a user's shell would see it."""

from __future__ import annotations

import contextlib
import io
import sys
from contextlib import AbstractContextManager

import simulator.cli


def run_main(
    *args: str, guard: AbstractContextManager[object] | None = None
) -> tuple[int, str, str]:
    """``deploysim ARGS`` through ``main()`` (exit-code mapping included); returns (exit
    code, stdout, stderr). ``guard`` wraps the call (e.g. a CPU-time limit)."""
    out, err = io.StringIO(), io.StringIO()
    argv = sys.argv
    sys.argv = ["deploysim", *args]
    try:
        with (
            contextlib.redirect_stdout(out),
            contextlib.redirect_stderr(err),
            guard or contextlib.nullcontext(),
        ):
            try:
                simulator.cli.main()
                code = 0
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    finally:
        sys.argv = argv
    return code, out.getvalue(), err.getvalue()
