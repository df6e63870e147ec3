import pytest
from e2enet_fixtures import write_dataset


@pytest.fixture
def tiny_dataset(tmp_path):
    return write_dataset(tmp_path / "Task00_Tiny")
