"""Component host benchmarks (issue 3) on the example greeter; prints a Markdown table.

- first compile: wasm bytes to a compiled component (cold, no cache)
- cached load: a fresh process loading the compiled artifact from the disk cache
- instantiate + call: a fresh store and instance per call, p50 and p99
- python step, p50 and p99: a `python` node's call into the Python runtime component on a
  1 KB input (instantiate, compile and exec the step's code, call it, return its JSON)
- nodes/s with 1 and 2 threads: instantiate + call in a loop on each thread, the two measured
  alternately for several rounds (this 2-core VM's memory bandwidth varies from second to
  second); the medians are reported, and the spread of the per-round ratios

Usage: python bench/components.py [--calls N] [--rounds N]
"""

from __future__ import annotations

import argparse
import json
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
from fuchsia.components.python import build_runtime

GREETER = Path(__file__).resolve().parents[1] / "examples" / "components" / "greeter"
LOAD_SCRIPT = """
import sys, time
from pathlib import Path
from fuchsia.components.host import HostSettings, WasmHost
from fuchsia.components.package import digest_of
from fuchsia.components.python import build_runtime
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


STEP = """\
def main(order):
    total = sum(item["price"] * item["quantity"] for item in order["items"])
    return {"total": round(total, 2), "n": len(order["items"])}
"""


def python_call(host: WasmHost, loaded: Loaded, step: str) -> None:
    call = Call("e", "bench", "step", "run", 1, step)
    host.run_task(loaded, Grants(sockets=True), call, services())


def python_samples(host: WasmHost, tmp: Path, calls: int) -> tuple[list[float], int]:
    """Seconds per python step call on a 1 KB input, sorted; and the runtime's size."""
    wasm = build_runtime(tmp / "python-runtime").read_bytes()
    loaded = host.load(digest_of(wasm), lambda: wasm)
    items = [{"sku": f"sku-{i:03d}", "price": 1.5 + i, "quantity": i % 4 + 1} for i in range(20)]
    order = {"id": "A-1", "items": items}
    step = json.dumps(
        {
            "code": STEP,
            "function": "main",
            "file": "bench.yaml",
            "line": 12,
            "inputs": {"order": order},
        }
    )
    assert 900 <= len(json.dumps(order)) <= 1100, len(json.dumps(order))
    for _ in range(20):
        python_call(host, loaded, step)  # warm-up
    samples = []
    for _ in range(calls):
        begin = time.perf_counter()
        python_call(host, loaded, step)
        samples.append(time.perf_counter() - begin)
    return sorted(samples), len(wasm)


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
        py_samples, py_size = python_samples(host, Path(tmp), args.calls)
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
    py_p50 = statistics.median(py_samples) * 1000
    py_p99 = py_samples[int(len(py_samples) * 0.99) - 1] * 1000
    print(
        f"| python step, 1 KB input, p50 ({py_size / 1e6:.1f} MB runtime) | < 2 ms | "
        f"{py_p50:.2f} ms |"
    )
    print(f"| python step, 1 KB input, p99 | < 4 ms | {py_p99:.2f} ms |")
    print(f"| nodes/s, 1 thread | - | {one:,.0f} |")
    print(
        f"| nodes/s, 2 threads | >= 1.6x one thread | {two:,.0f} ({two / one:.2f}x; "
        f"rounds {ratios[0]:.2f}x-{ratios[-1]:.2f}x) |"
    )


if __name__ == "__main__":
    main()
