"""`python -m dtrlab`: the same as `dtr-upgrade lab`."""

import sys

from dtrlab.cli import main

sys.exit(main())
