"""pytest at the repository root: what ``--doctest-modules`` must not import."""

# deprecated module paths warn on import (tested in tests/test_deprecated_paths.py)
collect_ignore = ["daskfractal/write.py", "daskfractal/multilevel.py"]
