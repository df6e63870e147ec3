import pytest
import torch


@pytest.fixture(autouse=True)
def _one_thread():
    torch.set_num_threads(1)


@pytest.fixture(scope="session")
def tiny_corpus(tmp_path_factory):
    """The smallest embedded AV corpus (built once per session)."""
    from apps.msrs.data import build_av_corpus

    return build_av_corpus(tmp_path_factory.mktemp("msrs_corpus"), "tiny", 0, max_words=5, num_speakers=2)


@pytest.fixture(scope="session")
def grid_corpus(tmp_path_factory):
    """The tiny GRID-style corpus with the parameters of the ``quick`` preset (built once per session)."""
    from apps.msrs.data import build_grid_corpus

    return build_grid_corpus(tmp_path_factory.mktemp("msrs_grid"), "tiny", 0, num_speakers=2, heldout_speakers=1,
                             frame_size=44)
