"""Indexing a tree with bad entries: skipped and reported, never fatal, never outside it."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from rankgraph.errors import IngestError
from rankgraph.retrieval import Retriever, index_paths
from tests.retrieval_fixtures import make_settings, make_store

REPO_PARENT = Path(__file__).resolve().parents[2]


def _tree(root: Path) -> Path:
    src = root / "src"
    src.mkdir()
    (src / "a.txt").write_text("The quokka is a small marsupial.")
    (src / "z.txt").write_text("The axolotl is a salamander that keeps its gills.")
    return src


def _skipped(report: object) -> dict[str, str]:
    return {Path(where).name: why for where, why in report.skipped}  # type: ignore[attr-defined]


def test_broken_and_looping_symlinks_are_skipped_and_the_rest_indexed(tmp_path: Path) -> None:
    src = _tree(tmp_path)
    (src / "b-dangling.txt").symlink_to(src / "gone.txt")
    (src / "c-loop.txt").symlink_to(src / "c-loop.txt")
    store = make_store(tmp_path)
    report = index_paths(store, [src])
    skipped = _skipped(report)
    assert skipped["b-dangling.txt"].startswith("broken symlink")
    assert skipped["c-loop.txt"] == "symlink loop"
    assert len(report.added) == 2
    retriever = Retriever(store, make_settings(tmp_path).retrieval)
    assert [p.source for p in retriever.search("axolotl", mode="bm25")] == [str(src / "z.txt")]


def test_a_symlink_out_of_the_tree_is_not_followed_unless_asked(tmp_path: Path) -> None:
    src = _tree(tmp_path)
    secret = tmp_path / "outside" / "passwd.txt"
    secret.parent.mkdir()
    secret.write_text("root:x:0:0:root:/root:/bin/bash")
    (src / "passwd.txt").symlink_to(secret)
    (src / "etc").symlink_to(secret.parent, target_is_directory=True)
    store = make_store(tmp_path)
    report = index_paths(store, [src])
    assert "outside the indexed folders" in _skipped(report)["passwd.txt"]
    assert "outside the indexed folders" in _skipped(report)["etc"]
    assert str(secret) not in store.sources()
    followed = index_paths(store, [src], follow_symlinks=True)
    assert str(secret) in followed.added


def test_a_symlink_loop_through_folders_ends_when_following(tmp_path: Path) -> None:
    src = _tree(tmp_path)
    (src / "sub").mkdir()
    (src / "sub" / "up").symlink_to(src, target_is_directory=True)
    report = index_paths(make_store(tmp_path), [src], follow_symlinks=True)
    assert len(report.added) == 2


def test_a_fifo_is_skipped_not_read(tmp_path: Path) -> None:
    src = _tree(tmp_path)
    os.mkfifo(src / "pipe.txt")
    report = index_paths(make_store(tmp_path), [src])
    assert _skipped(report)["pipe.txt"].startswith("not a regular file")
    assert len(report.added) == 2


def test_unreadable_and_binary_files_are_skipped_reported_once_and_the_rest_indexed(
    tmp_path: Path,
) -> None:
    src = _tree(tmp_path)
    locked = src / "m-locked.txt"
    locked.write_text("secret")
    locked.chmod(0)
    (src / "blob.txt").write_bytes(b"\x00\x01\x02 not text")
    config = tmp_path / "rg.toml"
    config.write_text(f'data_dir = "{tmp_path / "data"}"\n')
    command = [sys.executable, "-m", "rankgraph.cli", "index", str(src), "--config", str(config)]
    if os.geteuid() == 0 and shutil.which("setpriv"):  # root reads anything: drop that power
        caps = "-dac_override,-dac_read_search"
        command = ["setpriv", f"--inh-caps={caps}", f"--bounding-set={caps}", "--", *command]
    env = {**os.environ, "PYTHONPATH": os.environ.get("PYTHONPATH", str(REPO_PARENT))}
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "2 added" in done.stderr
    assert (
        "skipped" in done.stderr and "m-locked.txt: cannot read: permission denied" in done.stderr
    )
    assert done.stderr.count("blob.txt: binary file") == 1  # in the summary, not logged again


def test_sync_against_an_empty_folder_is_refused_unless_forced(tmp_path: Path) -> None:
    src = _tree(tmp_path)
    store = make_store(tmp_path)
    index_paths(store, [src])
    empty = tmp_path / "mnt"
    empty.mkdir()
    with pytest.raises(IngestError, match=r"would remove all 2 chunks .* pass --force"):
        index_paths(store, [empty], sync=True)
    assert store.count() == 2
    report = index_paths(store, [empty], sync=True, force=True)
    assert len(report.removed) == 2 and store.count() == 0


def test_random_bytes_without_nul_are_skipped_as_binary(tmp_path: Path) -> None:
    src = _tree(tmp_path)
    noise = bytes(b % 255 + 1 for b in os.urandom(64 * 1024))  # no NUL byte
    (src / "noise.txt").write_bytes(noise)
    report = index_paths(make_store(tmp_path), [src])
    assert _skipped(report)["noise.txt"].startswith("binary file")
    assert report.chunks_added == 2


def test_latin1_text_is_indexed_with_a_warning_not_skipped(tmp_path: Path) -> None:
    src = _tree(tmp_path)
    (src / "de.txt").write_bytes("Die Größe der Fjorde überrascht.".encode("latin-1"))
    report = index_paths(make_store(tmp_path), [src])
    assert "de.txt" not in _skipped(report)
    assert len(report.added) == 3
