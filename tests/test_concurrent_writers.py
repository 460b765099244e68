"""Concurrent writers to one collection stay consistent; readers never see half an index."""

from __future__ import annotations

import threading
from pathlib import Path

from rankgraph.retrieval import index_paths
from rankgraph.retrieval.bm25 import BM25Index
from tests.retrieval_fixtures import make_store


def test_concurrent_bm25_rebuilds_never_break_a_reader(tmp_path: Path) -> None:
    directory = tmp_path / "bm25"
    texts = [f"word{i} common" for i in range(200)]
    BM25Index.build([str(i) for i in range(200)], texts, "k0").save(directory)
    errors: list[BaseException] = []
    loads: list[str] = []
    stop = threading.Event()

    def write(n: int) -> None:
        try:
            for round_ in range(5):
                key = f"w{n}-{round_}"
                BM25Index.build([str(i) for i in range(200)], texts, key).save(directory)
        except BaseException as exc:
            errors.append(exc)

    def read() -> None:
        while not stop.is_set():
            try:
                index = BM25Index.load(directory)
                assert index is not None
                assert index.search(["word7"], 1)[0][0][0] == "7"
                loads.append(index.key)
            except BaseException as exc:
                errors.append(exc)
                return

    writers = [threading.Thread(target=write, args=(n,)) for n in range(4)]
    readers = [threading.Thread(target=read) for _ in range(2)]
    for t in writers + readers:
        t.start()
    for t in writers:
        t.join()
    stop.set()
    for t in readers:
        t.join()
    assert errors == []
    assert loads
    assert BM25Index.load(directory) is not None


def test_writers_creating_the_same_new_collection_all_succeed(tmp_path: Path) -> None:
    stores = [make_store(tmp_path, "shared") for _ in range(6)]
    barrier = threading.Barrier(len(stores))
    errors: list[BaseException] = []

    def create(i: int) -> None:
        barrier.wait()
        try:
            stores[i].collection(create=True)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=create, args=(i,)) for i in range(len(stores))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert all(s.exists() for s in stores)


def test_every_write_sets_a_version_no_other_write_set(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    store = make_store(tmp_path)
    seen = {store.version()}
    for i in range(5):
        (src / f"{i}.txt").write_text(f"document number {i} about topic{i}")
        index_paths(store, [src])
        seen.add(store.version())
    assert len(seen) == 6


def test_concurrent_index_runs_into_one_collection_lose_no_document(tmp_path: Path) -> None:
    folders = []
    for w in range(3):
        folder = tmp_path / f"src{w}"
        folder.mkdir()
        for i in range(8):
            (folder / f"{i}.txt").write_text(f"zebra{w}x{i} lives in folder {w}")
        folders.append(folder)
    errors: list[BaseException] = []

    def run(folder: Path) -> None:
        try:
            index_paths(make_store(tmp_path, "together"), [folder], write_batch=2)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(f,)) for f in folders]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    store = make_store(tmp_path, "together")
    assert store.count() == 24
    found = store.bm25([f"zebra{w}x{i}" for w in range(3) for i in range(8)], 1)
    assert all(len(hits) == 1 for hits in found)
