"""The layering of ../shared/DESIGN.md holds: import-linter checks pyproject.toml's
contracts on the real packages, and breaks them on a copy with a sideways import."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("common", "settings", "model", "training", "service", "poller", "store", "stories")
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"


def lint_imports(root: Path) -> subprocess.CompletedProcess[str]:
    """lint-imports over the packages under ``root``, with its contracts."""
    env = {**os.environ, "PYTHONPATH": str(root), "NO_COLOR": "1"}
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache"],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_every_contract_is_kept() -> None:
    result = lint_imports(REPO)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Contracts: 7 kept, 0 broken." in result.stdout


def _not_python(folder: str, names: list[str]) -> list[str]:
    return [n for n in names if not n.endswith(".py") and not (Path(folder) / n).is_dir()]


# (module, the import added to it, the import-linter line that must report it)
FORBIDDEN = [
    ("service/ops.py", "import poller.poll", "service.ops -> poller.poll"),
    ("model/text.py", "from settings import Settings", "model.text -> settings"),
    ("common/clock.py", "import store", "common.clock -> store"),
    ("store/items.py", "from model import Model", "store.items -> model"),
    ("poller/feeds.py", "import training.fit", "poller.feeds -> training.fit"),
    ("training/corpus.py", "import sqlalchemy", "training.corpus -> sqlalchemy"),
    ("service/api.py", "import httpx", "service.api -> httpx"),
    ("poller/poll.py", "import flask", "poller.poll -> flask"),
    ("training/fit.py", "import joblib", "training.fit -> joblib"),
    ("stories/index.py", "import store", "stories.index -> store"),
    ("store/items.py", "import stories", "store.items -> stories"),
    ("poller/parse.py", "import datasketch", "poller.parse -> datasketch"),
    ("model/artifact.py", "import matplotlib", "model.artifact -> matplotlib"),
]


def test_every_forbidden_import_breaks_its_contract(tmp_path: Path) -> None:
    for package in PACKAGES:
        shutil.copytree(REPO / package, tmp_path / package, ignore=_not_python)
    shutil.copy(REPO / "pyproject.toml", tmp_path)
    for module, line, _ in FORBIDDEN:
        path = tmp_path / module
        path.write_text(path.read_text() + f"\n{line}  # noqa\n")
    result = lint_imports(tmp_path)
    assert result.returncode == 1, result.stdout
    assert "Contracts: 0 kept, 7 broken." in result.stdout
    missed = [chain for _, _, chain in FORBIDDEN if chain not in result.stdout]
    assert not missed, result.stdout
