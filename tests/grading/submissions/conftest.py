"""The files here are *submissions* (some hostile): never import them into pytest.

``--doctest-modules`` would import every ``.py`` file it collects, running an
infinite loop or ``os._exit`` inside the test process.  They are run by
``tests/grading/test_sandbox.py`` through the sandbox instead.
"""
collect_ignore_glob = ["*.py", "*.ipynb"]
