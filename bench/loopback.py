"""An HTTP server on 127.0.0.1 in a background thread, for the benchmarks that need one."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from http.server import HTTPServer


@contextlib.contextmanager
def serving(server: HTTPServer, name: str = "bench-http") -> Iterator[str]:
    """Serve `server` (bound to 127.0.0.1) until the block ends; yields its base URL."""
    thread = threading.Thread(target=server.serve_forever, name=name, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
