import sys
from pathlib import Path

# Test helpers (the scenario format) are imported by name from tests/.
sys.path.insert(0, str(Path(__file__).parent))

# The fake API server's fixtures (`pki`, `fake_cluster`).
pytest_plugins = ("fakeapi.fixtures",)
