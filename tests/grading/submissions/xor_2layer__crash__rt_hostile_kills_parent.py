"""Kills its parent process during the call: only its own session may end (verdict crash), never the grader.

(Careful: it kills its parent only while that is the sandbox's launcher, never whatever adopts it afterwards.)
"""
import os
import signal
import time

import numpy as np


def backward(params, x, y):
    parent = os.getppid()
    try:
        with open(f"/proc/{parent}/cmdline", "rb") as f:
            is_launcher = b"_launcher.py" in f.read()
    except OSError:
        is_launcher = False
    if is_launcher:
        os.kill(parent, signal.SIGKILL)
        while os.getppid() == parent:  # until it is really gone (so the verdict does not race the kill)
            time.sleep(0.001)
    return {k: np.zeros_like(v) for k, v in params.items()}
