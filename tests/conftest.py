"""Session fixtures: one real embedded engine for the whole test session.

The engine is real vLLM on the CPU serving the `smollm2-135m` preset (fast, tiny:
it proves the plumbing, not answer quality). Set RANKGRAPH_TEST_PRESET to run the
suite against another preset. An engine that was already running is reused and
left running; one the fixture started is stopped at the end.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from rankgraph.config import Settings, load_settings
from rankgraph.engine import hold
from rankgraph.engine.state import EngineState
from rankgraph.llm import LLMClient

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.skip(f"shared data not found at {SHARED_DATA}")
    return SHARED_DATA


@pytest.fixture(scope="session")
def engine_settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    preset = os.environ.get("RANKGRAPH_TEST_PRESET", "smollm2-135m")
    return load_settings(
        engine={"kind": "embedded", "preset": preset},
        data_dir=tmp_path_factory.mktemp("rankgraph-data"),
    )


@pytest.fixture(scope="session")
def engine(engine_settings: Settings) -> Iterator[EngineState]:
    # `hold` shares one engine between concurrent test sessions and stops it only
    # when the last holder that started it leaves.
    with hold(engine_settings) as state:
        yield state


@pytest.fixture(scope="session")
def engine_config(engine: EngineState, engine_settings: Settings) -> Path:
    """A rankgraph.toml naming the test engine and data dir, for CLI tests (`--config`)."""
    path = engine_settings.data_dir / "engine-test.toml"
    path.write_text(
        f'data_dir = "{engine_settings.data_dir}"\n'
        f'[engine]\nkind = "embedded"\npreset = "{engine_settings.engine.preset}"\n',
        encoding="utf-8",
    )
    return path


@pytest.fixture(scope="session")
async def llm(engine: EngineState, engine_settings: Settings) -> AsyncIterator[LLMClient]:
    client = LLMClient.from_settings(engine_settings)
    yield client
    await client.close()
