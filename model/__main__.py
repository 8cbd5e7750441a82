"""`python -m model`: the offline pipeline's command line."""

import sys

from model.cli import main

sys.exit(main())
