"""Build, install and run the component example (what `make run` does after hello.yaml).

1. builds examples/components/{greeter,fetcher,csv_summary} with componentize-py, once per
   source change (builds land in $FUCHSIA_HOME/build/<fingerprint>/),
2. installs them with `fuchsia component install` (which compiles them once),
3. serves examples/data on 127.0.0.1:8765 for the fetcher,
4. runs examples/components-pipeline.yaml with `fuchsia run`.
"""

from __future__ import annotations

import functools
import http.server
import shutil
import subprocess
import sys
import threading
from pathlib import Path

from fuchsia.components.build import build_into, fingerprint
from fuchsia.runtime.engine import home_path

EXAMPLES = Path(__file__).resolve().parent
COMPONENTS = ("greeter", "fetcher", "csv_summary")
PORT = 8765


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        """Keep the example's output to the run itself."""


def build(name: str, home: Path) -> Path:
    source = EXAMPLES / "components" / name
    target = home / "build" / fingerprint(source).removeprefix("sha256:")[:16]
    if not (target / "component.wasm").exists():
        print(f"building {name} (componentize-py, a few seconds)...", flush=True)
        shutil.rmtree(target, ignore_errors=True)  # what an interrupted build left
        build_into(source, target)
    return target


def main() -> int:
    home = home_path()
    for name in COMPONENTS:
        # installing compiles the component once (and caches it), so the run starts at once
        subprocess.run(
            [
                sys.executable,
                "-m",
                "fuchsia",
                "component",
                "install",
                str(build(name, home)),
                "--force",
            ],
            check=True,
        )
    handler = functools.partial(QuietHandler, directory=str(EXAMPLES / "data"))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", PORT), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        payload = f'{{"name": "Ada", "url": "http://127.0.0.1:{PORT}/cities.csv"}}'
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "fuchsia",
                "run",
                str(EXAMPLES / "components-pipeline.yaml"),
                "--input",
                payload,
            ]
        )
        return done.returncode
    finally:
        server.shutdown()
        server.server_close()


if __name__ == "__main__":
    sys.exit(main())
