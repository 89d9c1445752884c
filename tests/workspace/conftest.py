"""Workspace fixtures: the kit on the path, and an app over a store of tagged items."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
