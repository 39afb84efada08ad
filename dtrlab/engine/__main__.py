"""`python -m dtrlab.engine`."""

import sys

from dtrlab.engine.cli import main

sys.exit(main())
