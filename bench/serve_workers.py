"""`python bench/serve_workers.py PORT WORKERS`: app:app under run.py's supervisor, as
`run.py --workers N` serves it (one SO_REUSEPORT socket per worker), with the bench's flags
(no access log, warnings only), so one worker and two are served exactly alike."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from run import supervise  # noqa: E402


def main() -> int:
    port, workers = int(sys.argv[1]), int(sys.argv[2])
    return supervise("127.0.0.1", port, workers, worker_options=("--log-level", "warning", "--no-access-log"))


if __name__ == "__main__":
    sys.exit(main())
