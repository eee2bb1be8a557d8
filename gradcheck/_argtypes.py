"""argparse ``type=`` functions shared by the command lines: errors name the bad text."""
from __future__ import annotations

import argparse
import math
import os

__all__ = ["positive_int", "positive_float", "seed", "output_file"]


def positive_int(text: str) -> int:
    """An integer >= 1.

    >>> positive_int("3")
    3
    >>> positive_int("0")
    Traceback (most recent call last):
    ...
    argparse.ArgumentTypeError: must be a positive integer, got '0'
    """
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text!r}")
    return value


def positive_float(text: str) -> float:
    """A finite number > 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text!r}") from None
    if not value > 0 or not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text!r}")
    return value


def seed(text: str) -> int:
    """An integer >= 0 (a seed for numpy's default_rng)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be an integer >= 0, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be an integer >= 0, got {text!r}")
    return value


def output_file(text: str) -> str:
    """A file to write: not a directory, in a directory that exists (checked before the run, not after it).

    >>> output_file("/")
    Traceback (most recent call last):
    ...
    argparse.ArgumentTypeError: must be a file to write, got the directory '/'
    >>> output_file("/no/such/dir/x.json")
    Traceback (most recent call last):
    ...
    argparse.ArgumentTypeError: must be a file in an existing directory, got '/no/such/dir/x.json' ('/no/such/dir' does not exist)
    """
    if os.path.isdir(text):
        raise argparse.ArgumentTypeError(f"must be a file to write, got the directory {text!r}")
    folder = os.path.dirname(os.path.abspath(text))
    if not os.path.isdir(folder):
        raise argparse.ArgumentTypeError(f"must be a file in an existing directory, got {text!r} ({folder!r} does not exist)")
    return text
