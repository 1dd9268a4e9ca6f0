"""``python -m daskfractal.cli``: the ``daskfractal`` command without the console script."""

import sys

from .main import main

if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
