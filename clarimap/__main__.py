"""``python -m clarimap``: the same command line as the ``clarimap`` console script."""

import sys

from clarimap.cli import main

if __name__ == "__main__":
    sys.exit(main())
