"""``python -m model classify``: good lines written, bad lines reported with their numbers."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def run(model_dir: Path, stdin: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "model", "classify", "--model", str(model_dir)],
        input=stdin,
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=60,
        check=False,
    )


def test_good_input(tiny_model_dir: Path) -> None:
    lines = [
        {"id": "a", "title": "Gunmen storm a hotel in Gao, taking hostages", "text": "Many dead."},
        {"id": "b", "title": "Football club signs a new coach", "summary": "Before the season."},
    ]
    done = run(tiny_model_dir, "".join(json.dumps(x) + "\n" for x in lines))
    assert done.returncode == 0, done.stderr
    out = [json.loads(x) for x in done.stdout.splitlines()]
    assert [o["id"] for o in out] == ["a", "b"]
    assert "attack" in out[0]["labels"]
    assert out[1]["labels"] == []
    assert set(out[0]) == {"id", "labels", "scores", "evidence"}
    assert all(isinstance(pair, list) and len(pair) == 2 for pair in out[0]["evidence"]["attack"])


def test_bad_lines_are_reported_and_good_ones_still_written(tiny_model_dir: Path) -> None:
    stdin = "\n".join(
        [
            json.dumps({"id": "a", "title": "Troops recapture Mosul", "text": ""}),
            "{broken",
            json.dumps({"id": "c"}),
            json.dumps({"id": "d", "title": 5}),
            json.dumps({"id": "e", "text": "Clerics launch campaign countering messages online"}),
        ]
    )
    done = run(tiny_model_dir, stdin)
    assert done.returncode == 1
    assert [json.loads(x)["id"] for x in done.stdout.splitlines()] == ["a", "e"]
    assert "line 2: invalid JSON" in done.stderr
    assert "line 3: needs a title or a text (or summary)" in done.stderr
    assert "line 4: 'title': " in done.stderr


def test_unloadable_model_exits_2(tmp_path: Path) -> None:
    done = run(tmp_path, '{"id": "a", "title": "x"}\n')
    assert done.returncode == 2
    assert "no model card" in done.stderr
