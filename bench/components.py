"""Component host benchmarks (issue 3) on the example greeter; prints a Markdown table.

- first compile: wasm bytes to a compiled component (cold, no cache)
- cached load: a fresh process loading the compiled artifact from the disk cache
- instantiate + call: a fresh store and instance per call, p50 and p99
- nodes/s with 1 and 2 threads: instantiate + call in a loop on each thread, the two measured
  alternately for several rounds (this 2-core VM's memory bandwidth varies from second to
  second); the medians are reported, and the spread of the per-round ratios

Usage: python bench/components.py [--calls N] [--rounds N]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from fuchsia.components.build import build_into
from fuchsia.components.host import Call, Grants, HostSettings, Loaded, WasmHost
from fuchsia.components.imports import ArtifactInfo, Services
from fuchsia.components.package import digest_of

GREETER = Path(__file__).resolve().parents[1] / "examples" / "components" / "greeter"
LOAD_SCRIPT = """
import sys, time
from pathlib import Path
from fuchsia.components.host import HostSettings, WasmHost
from fuchsia.components.package import digest_of
data = Path(sys.argv[1]).read_bytes()
host = WasmHost(HostSettings(cache_dir=Path(sys.argv[2])))
started = time.perf_counter()
host.load(digest_of(data), lambda: data)
print(time.perf_counter() - started)
host.close()
"""


def services() -> Services:
    kv: dict[str, str] = {}

    def delete(key: str) -> None:
        kv.pop(key, None)

    def put(name: str, content_type: str, data: bytes) -> ArtifactInfo:
        return ArtifactInfo("a", name, content_type, len(data), digest_of(data))

    return Services(
        kv_get=kv.get,
        kv_set=kv.__setitem__,
        kv_delete=delete,
        put_artifact=put,
        get_artifact=lambda _: b"",
    )


def call(host: WasmHost, loaded: Loaded) -> None:
    host.run_task(
        loaded, Grants(), Call("e", "bench", "greet", "greet", 1, '{"name": "Ada"}'), services()
    )


def throughput(host: WasmHost, loaded: Loaded, threads: int, calls: int) -> float:
    per_thread = calls // threads

    def work() -> None:
        for _ in range(per_thread):
            call(host, loaded)

    workers = [threading.Thread(target=work) for _ in range(threads)]
    started = time.perf_counter()
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return per_thread * threads / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--calls", type=int, default=400)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        wasm_path = build_into(GREETER, Path(tmp) / "greeter")
        wasm = wasm_path.read_bytes()
        cache = Path(tmp) / "compiled"
        host = WasmHost(HostSettings(cache_dir=cache))
        started = time.perf_counter()
        loaded = host.load(digest_of(wasm), lambda: wasm)
        compile_seconds = time.perf_counter() - started
        loads = [
            float(
                subprocess.run(
                    [sys.executable, "-c", LOAD_SCRIPT, str(wasm_path), str(cache)],
                    capture_output=True,
                    text=True,
                    check=True,
                ).stdout
            )
            for _ in range(5)
        ]
        for _ in range(20):
            call(host, loaded)  # warm-up
        samples = []
        for _ in range(args.calls):
            begin = time.perf_counter()
            call(host, loaded)
            samples.append(time.perf_counter() - begin)
        samples.sort()
        ones, twos = [], []
        for _ in range(args.rounds):
            ones.append(throughput(host, loaded, 1, args.calls))
            twos.append(throughput(host, loaded, 2, args.calls))
        host.close()
    one, two = statistics.median(ones), statistics.median(twos)
    ratios = sorted(b / a for a, b in zip(ones, twos, strict=True))
    p50 = statistics.median(samples) * 1000
    p99 = samples[int(len(samples) * 0.99) - 1] * 1000
    print(f"component: examples/components/greeter ({len(wasm) / 1e6:.1f} MB)")
    print()
    print("| measure | target | result |")
    print("|---|---|---|")
    print(f"| first compile | - | {compile_seconds:.2f} s |")
    print(
        f"| load from the compiled cache (new process) | < 100 ms | "
        f"{statistics.median(loads) * 1000:.1f} ms |"
    )
    print(f"| instantiate + call, p50 | < 5 ms | {p50:.2f} ms |")
    print(f"| instantiate + call, p99 | - | {p99:.2f} ms |")
    print(f"| nodes/s, 1 thread | - | {one:,.0f} |")
    print(
        f"| nodes/s, 2 threads | >= 1.6x one thread | {two:,.0f} ({two / one:.2f}x; "
        f"rounds {ratios[0]:.2f}x-{ratios[-1]:.2f}x) |"
    )


if __name__ == "__main__":
    main()
