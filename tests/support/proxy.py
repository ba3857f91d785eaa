"""A loopback TCP proxy a test can make stop forwarding: `Stall(port)` listens on 127.0.0.1
and relays every connection to `port`; `stall()` stops moving bytes in both directions (the
sockets stay open, so to the client the server just stops answering, as behind a
black-holed network), `flow()` moves them again. Use `with Stall(port) as proxy:`.
"""

from __future__ import annotations

import contextlib
import select
import socket
import threading
from types import TracebackType


class Stall:
    def __init__(self, target_port: int, target_host: str = "127.0.0.1") -> None:
        self.target = (target_host, target_port)
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]
        self._flowing = threading.Event()
        self._flowing.set()
        self._closed = threading.Event()
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []

    def url(self, url: str) -> str:
        """`url` (a postgresql:// URL to the target) with this proxy's port instead."""
        return url.replace(f":{self.target[1]}/", f":{self.port}/", 1)

    def stall(self) -> None:
        self._flowing.clear()

    def flow(self) -> None:
        self._flowing.set()

    def __enter__(self) -> Stall:
        self._spawn(self._accept)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._closed.set()
        self._flowing.set()
        with contextlib.suppress(OSError):
            self._listener.shutdown(socket.SHUT_RDWR)  # wakes the accept (close alone does not)
        self._listener.close()
        with self._lock:
            for sock in self._sockets:
                sock.close()
        for thread in self._threads:
            thread.join(10)

    def _spawn(self, target: object, *args: object) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True)  # type: ignore[arg-type]
        self._threads.append(thread)
        thread.start()

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            try:
                server = socket.create_connection(self.target)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._sockets += [client, server]
            self._spawn(self._pump, client, server)

    def _pump(self, a: socket.socket, b: socket.socket) -> None:
        """Relay both ways; while stalled, read nothing (what is sent piles up unread)."""
        peers = {a: b, b: a}
        try:
            while not self._closed.is_set():
                self._flowing.wait()
                ready, _, _ = select.select([a, b], [], [], 0.05)
                for sock in ready:
                    if not self._flowing.is_set():
                        break
                    data = sock.recv(65536)
                    if not data:
                        return
                    peers[sock].sendall(data)
        except OSError:
            return
        finally:
            a.close()
            b.close()
