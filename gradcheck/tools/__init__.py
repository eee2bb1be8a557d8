"""Developer tools on top of the core, each imported only by its own command.

:mod:`gradcheck.tools.benchplot` turns a benchmark JSON into a table and a
plot (``gradcheck plot-bench``).  Nothing in the core imports this package.
"""
from __future__ import annotations

__all__: list[str] = []
