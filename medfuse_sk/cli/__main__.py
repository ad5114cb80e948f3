"""``python -m medfuse_sk.cli`` (and ``torchrun ... -m medfuse_sk.cli fit ...``)."""

import sys

from . import main

sys.exit(main())
