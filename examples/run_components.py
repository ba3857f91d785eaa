"""Build, install and run the component example (what `make run` does after hello.yaml).

1. builds examples/components/{greeter,fetcher,csv_summary} with componentize-py, once per
   source change (builds land in $FUCHSIA_HOME/build/<fingerprint>/),
2. installs them with `fuchsia component install` (which compiles them once),
3. serves examples/data on 127.0.0.1:8765 for the fetcher (on a free port when 8765 is taken,
   which the fetcher's installed copy is then allowed to reach instead),
4. runs examples/components-pipeline.yaml with `fuchsia run`.
"""

from __future__ import annotations

import functools
import http.server
import json
import shutil
import subprocess
import sys
import threading
from pathlib import Path

from fuchsia.components.build import build_into, fingerprint
from fuchsia.config import Settings

EXAMPLES = Path(__file__).resolve().parent
COMPONENTS = ("greeter", "fetcher", "csv_summary")
PORT = 8765


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        """Keep the example's output to the run itself."""


def serve_data() -> http.server.ThreadingHTTPServer:
    """examples/data on 127.0.0.1:PORT, or on a free port the system picks when PORT is taken
    (another `make run`, another service): the example must not fail for that."""
    handler = functools.partial(QuietHandler, directory=str(EXAMPLES / "data"))
    try:
        return http.server.ThreadingHTTPServer(("127.0.0.1", PORT), handler)
    except OSError:
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        print(
            f"port {PORT} is taken; serving examples/data on 127.0.0.1:{server.server_port}",
            file=sys.stderr,
            flush=True,
        )
        return server


def allow_port(component: Path, port: int) -> None:
    """Let this build of the fetcher reach the data server's port (its manifest lists 8765)."""
    manifest = component / "component.yaml"
    text = (EXAMPLES / "components" / "fetcher" / "component.yaml").read_text()
    manifest.write_text(text.replace(f":{PORT}", f":{port}"))


def build(name: str, home: Path) -> Path:
    source = EXAMPLES / "components" / name
    target = home / "build" / fingerprint(source).removeprefix("sha256:")[:16]
    if not (target / "component.wasm").exists():
        print(f"building {name} (componentize-py, a few seconds)...", flush=True)
        shutil.rmtree(target, ignore_errors=True)  # what an interrupted build left
        build_into(source, target)
    return target


def main() -> int:
    home = Settings.load().home
    server = serve_data()
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        for name in COMPONENTS:
            install(name, home, server.server_port)
        url = f"http://127.0.0.1:{server.server_port}/cities.csv"
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "fuchsia",
                "run",
                str(EXAMPLES / "components-pipeline.yaml"),
                "--input",
                json.dumps({"name": "Ada", "url": url}),
            ]
        )
        return done.returncode
    finally:
        server.shutdown()
        server.server_close()


def install(name: str, home: Path, port: int) -> None:
    """Install a build; installing compiles the component once (and caches it), so the run
    starts at once."""
    built = build(name, home)
    if name == "fetcher":
        allow_port(built, port)
    subprocess.run(
        [sys.executable, "-m", "fuchsia", "component", "install", str(built), "--force"],
        check=True,
    )


if __name__ == "__main__":
    sys.exit(main())
