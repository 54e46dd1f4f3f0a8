"""`python bench/serve_workers.py PORT WORKERS`: app:app under uvicorn's supervisor on a
socket made as run.py makes it, with the bench's flags (no access log, warnings only), so
one worker and two are served exactly alike."""

from __future__ import annotations

import sys
from pathlib import Path

import uvicorn
from uvicorn.supervisors import Multiprocess

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from run import tcp_listener  # noqa: E402


def main() -> None:
    port, workers = int(sys.argv[1]), int(sys.argv[2])
    config = uvicorn.Config(
        "app:app", host="127.0.0.1", port=port, workers=workers, proxy_headers=False, access_log=False,
        log_level="warning",
    )  # fmt: skip
    Multiprocess(config, sockets=[tcp_listener("127.0.0.1", port)]).run()


if __name__ == "__main__":
    main()
