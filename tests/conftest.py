import multiprocessing
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

# The Windows-like CI pass (.ci/run): processes started the way Windows starts them, so
# nothing relies on fork inheriting state; the gateway's own --workers always spawns.
if os.environ.get("PROVIDER_FALLBACK_TEST_START_METHOD"):
    multiprocessing.set_start_method(os.environ["PROVIDER_FALLBACK_TEST_START_METHOD"],
                                     force=True)


import pytest  # noqa: E402


@pytest.fixture(autouse=True, scope="session")
def _private_data_dir(tmp_path_factory):
    """Routers open a spend ledger under the data dir: keep tests out of the user's."""
    mp = pytest.MonkeyPatch()
    mp.setenv("PROVIDER_FALLBACK_DATA_DIR", str(tmp_path_factory.mktemp("pf-data")))
    yield
    mp.undo()

