"""Stage then swap: a directory being replaced is never lost, even when the process is killed mid-swap."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from corpus.files import recover_dir, staged_dir

KILLED_MID_SWAP = """
import os, signal, sys
from pathlib import Path
from corpus.files import swap_in
staging, target = Path(sys.argv[1]), Path(sys.argv[2])
swap_in(staging, target, between=lambda: os.kill(os.getpid(), signal.SIGKILL))
"""


def _fill(path: Path, text: str) -> None:
    path.mkdir(parents=True, exist_ok=True)
    (path / "weights.bin").write_text(text)


def test_a_kill_between_the_renames_loses_nothing_and_the_next_write_recovers(tmp_path: Path) -> None:
    target, staging = tmp_path / "model", tmp_path / "new-model"
    _fill(target, "old")
    _fill(staging, "new")
    done = subprocess.run([sys.executable, "-c", KILLED_MID_SWAP, str(staging), str(target)], check=False)
    assert done.returncode == -9  # really killed between the two renames
    assert not target.exists()  # the worst moment: the old one is aside, the new one not yet in
    assert recover_dir(target)
    assert (target / "weights.bin").read_text() == "old"
    with staged_dir(target) as fresh:
        _fill(fresh, "newer")
    assert (target / "weights.bin").read_text() == "newer"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model", "new-model"]  # no retired or staging left


def test_staged_dir_recovers_a_retired_directory_before_writing(tmp_path: Path) -> None:
    target = tmp_path / "model"
    _fill(tmp_path / ".model.retired", "old")  # as a killed swap leaves it
    with pytest.raises(RuntimeError), staged_dir(target) as fresh:
        _fill(fresh, "half")
        raise RuntimeError("training crashed")
    assert (target / "weights.bin").read_text() == "old"


def test_a_failed_block_keeps_the_previous_directory_and_no_staging(tmp_path: Path) -> None:
    target = tmp_path / "model"
    _fill(target, "old")
    with pytest.raises(KeyboardInterrupt), staged_dir(target) as fresh:
        _fill(fresh, "half")
        raise KeyboardInterrupt
    assert (target / "weights.bin").read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["model"]
