"""``python -m segue.orchestration.cli ARGS`` = ``segue ARGS``."""

import sys

from .main import main

sys.exit(main())
