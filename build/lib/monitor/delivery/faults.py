"""MONITOR_FAULT (tests only): the process kills itself at a named step, to
prove that a crash there loses and repeats nothing."""

from __future__ import annotations

import os
import signal
from dataclasses import dataclass

FAULT_STEPS = ("before-outbox-commit", "before-send", "after-smtp-250")


def crash(step: str) -> None:
    """Die at once, as kill -9 or a power cut would: no cleanup, no commit,
    no flush."""
    os.write(2, f"MONITOR_FAULT: killed at {step}\n".encode())
    os.kill(os.getpid(), signal.SIGKILL)
    os._exit(137)  # pragma: no cover - SIGKILL does not return


@dataclass(frozen=True)
class Faults:
    step: str | None = None  # the step to die at; None in normal operation

    def at(self, step: str) -> None:
        if self.step == step:
            crash(step)
