"""`python -m training …` (run from models/): see models/README.md."""

import sys

from .cli import main

sys.exit(main())
