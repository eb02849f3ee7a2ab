"""python -m explorer: the same as the norm-explorer command."""

import sys

from .entry import main

sys.exit(main())
