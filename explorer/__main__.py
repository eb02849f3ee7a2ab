"""python -m explorer: the same as the norm-explorer command."""

import sys

from .cli import main

sys.exit(main())
