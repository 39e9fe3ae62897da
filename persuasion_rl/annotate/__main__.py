"""python -m persuasion_rl.annotate annotate {init,serve,invite,export} ..."""

import sys

from .cli import main

sys.exit(main())
