"""Make ``tests/common.py`` importable as ``common`` from every test module, and
share the PYME data-server fixtures (one pair of servers for the whole session)."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from pyme_servers import pyme_server_factory, pyme_servers  # noqa: E402,F401  (fixtures)
