"""`python -m ctcd_jupyter.cli ...` is `ctcd ...`."""

import sys

from . import main

sys.exit(main())
