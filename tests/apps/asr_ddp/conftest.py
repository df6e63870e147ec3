import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))


@pytest.fixture(autouse=True, scope="session")
def _asr_cache(tmp_path_factory):
    """Generated corpora, feature and SentencePiece caches of these tests go to one temporary folder
    ($SPARSELAB_CACHE), never to ~/.cache or the current directory; the shipped-data corpora build once."""
    old = os.environ.get("SPARSELAB_CACHE")
    os.environ["SPARSELAB_CACHE"] = str(tmp_path_factory.mktemp("sparselab_cache"))
    yield
    if old is None:
        os.environ.pop("SPARSELAB_CACHE", None)
    else:
        os.environ["SPARSELAB_CACHE"] = old
