"""`python -m gs_enhancer_addon ...`: the headless command line (see cli.py)."""

import sys

from .cli import main

sys.exit(main())
