import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))


import pytest  # noqa: E402


@pytest.fixture(autouse=True, scope="session")
def _private_data_dir(tmp_path_factory):
    """Routers open a spend ledger under the data dir: keep tests out of the user's."""
    mp = pytest.MonkeyPatch()
    mp.setenv("PROVIDER_FALLBACK_DATA_DIR", str(tmp_path_factory.mktemp("pf-data")))
    yield
    mp.undo()

