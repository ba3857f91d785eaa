"""Component host benchmarks (issue 3) on the example greeter; prints a Markdown table.

- first compile: wasm bytes to a compiled component (cold, no cache)
- cached load: a fresh process loading the compiled artifact from the disk cache
- instantiate + call: a fresh store and instance per call, p50 and p99, in a host that
  loaded the component from the compiled cache (as every process but the compiling one does:
  there, dropping a store costs more); and its split (p50 of
  each part: the instantiation and the guest call as the host times them, the memory reset
  that dropping a store costs, timed on its own, and the rest: store set-up, lowering and
  lifting, the host's Python)
- python step, p50 and p99: a `python` node's attempt on a 1 KB input as its worker thread runs
  it (`fuchsia.nodes.python.execute`: the installed runtime's manifest checked, instantiate,
  load the step's compiled code, exec it, call it, return its JSON); and the same attempt
  compiling the code in the instance, as a process's first run of a code does
- first `fuchsia run` of a one-node python workflow in a fresh home with the runtime installed
  (and so compiled, as `fuchsia component install --python-runtime` leaves it): a new process
  each time, bytecode cached as in an installed package, the median of 5
- nodes/s with 1 and 2 threads: instantiate + call in a loop on each thread, the two measured
  alternately for several rounds (this 2-core VM's memory bandwidth varies from second to
  second); the medians are reported, and the spread of the per-round ratios

Usage: python bench/components.py [--calls N] [--rounds N]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from wasmtime import Store, WasiConfig

from fuchsia.components import abi
from fuchsia.components.build import build_into
from fuchsia.components.host import Call, Grants, HostSettings, Loaded, WasmHost
from fuchsia.components.imports import ArtifactInfo, Services
from fuchsia.components.package import digest_of
from fuchsia.components.python import TASK, build_runtime
from fuchsia.components.registry import Registry
from fuchsia.nodes import python as python_node
from fuchsia.nodes.component import ComponentRuntime, ComponentSettings
from fuchsia.nodes.kind import Grants as NodeGrants
from fuchsia.nodes.kind import PythonSpec
from fuchsia.observe import metrics

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


class Splits(metrics.Recorder):
    """The host's own timings of each call's instantiation and guest call."""

    def __init__(self) -> None:
        self.instantiate: list[float] = []
        self.call: list[float] = []

    def component_instantiated(self, workflow: str, task: str, seconds: float) -> None:
        self.instantiate.append(seconds)

    def component_called(self, workflow: str, task: str, seconds: float) -> None:
        self.call.append(seconds)


def reset_samples(host: WasmHost, loaded: Loaded, calls: int) -> list[float]:
    """Seconds to drop a store holding an instance of `loaded`: the pool resets the slot."""
    samples = []
    for _ in range(calls):
        store = Store(host.engine)
        store.set_wasi(WasiConfig())
        abi.watch_epochs(store, lambda: None)
        host._linker.instantiate(store, loaded.component)
        begin = time.perf_counter()
        store.close()
        samples.append(time.perf_counter() - begin)
    return samples


def call_samples(host: WasmHost, loaded: Loaded, calls: int) -> tuple[list[float], Splits]:
    for _ in range(20):
        call(host, loaded)  # warm-up
    splits = metrics.recorder = Splits()
    samples = []
    try:
        for _ in range(calls):
            begin = time.perf_counter()
            call(host, loaded)
            samples.append(time.perf_counter() - begin)
    finally:
        metrics.recorder = metrics.Recorder()
    return sorted(samples), splits


def python_samples(tmp: Path, calls: int) -> tuple[list[float], list[float], int]:
    """Seconds per python step attempt on a 1 KB input, sorted, with its code compiled and
    loaded, and compiling it in the instance; and the runtime's size."""
    directory = tmp / "python-runtime"
    wasm = build_runtime(directory).read_bytes()
    registry = Registry(tmp / "registry")
    installed = registry.install(directory)
    installer = WasmHost(HostSettings(cache_dir=tmp / "cache" / "compiled"))
    installer.load(installed.digest, lambda: wasm)  # what installing it does
    installer.close()
    runtime = ComponentRuntime(ComponentSettings(registry, tmp / "cache", threads=1))
    items = [{"sku": f"sku-{i:03d}", "price": 1.5 + i, "quantity": i % 4 + 1} for i in range(20)]
    order = {"id": "A-1", "items": items}
    assert 900 <= len(json.dumps(order)) <= 1100, len(json.dumps(order))
    spec = PythonSpec(
        component=installed.ref,
        digest=installed.digest,
        code=STEP,
        function="main",
        file="bench.yaml",
        line=12,
        inputs={},
        config={},
        grants=NodeGrants(allowed_hosts=(), allowed_paths=(), memory_limit=None, sockets=True),
    )
    document = {"code": STEP, "function": "main", "file": "bench.yaml", "line": 12}
    step = Call("e", "bench", "step", TASK, 1, json.dumps({**document, "inputs": {"order": order}}))

    def compiled() -> None:
        python_node.execute(runtime, spec, step, services())

    def compiling() -> None:
        runtime.execute(spec, step, services())

    try:
        for _ in range(20):
            compiled()  # warm-up; the code is compiled by the runtime's compile task once
            compiling()
        samples: dict[str, list[float]] = {"compiled": [], "compiling": []}
        for _ in range(4):  # blocks of each in turn, as attempts in a row
            for name, attempt in (("compiled", compiled), ("compiling", compiling)):
                for _ in range(calls // 4):
                    begin = time.perf_counter()
                    attempt()
                    samples[name].append(time.perf_counter() - begin)
    finally:
        runtime.close()
    return sorted(samples["compiled"]), sorted(samples["compiling"]), len(wasm)


FIRST_RUN = """\
name: first
nodes:
  score:
    python: |
      def main(order):
          return {"n": len(order["items"])}
    inputs: {order: "{{ order }}"}
"""


def first_run_samples(tmp: Path, repeats: int = 5) -> list[float]:
    """Seconds of `fuchsia run` of a python step in a fresh home holding the runtime that
    `python_samples` installed and compiled."""
    flow = tmp / "first.yaml"
    flow.write_text(FIRST_RUN)
    env = {k: v for k, v in os.environ.items() if not k.startswith("FUCHSIA_")}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    command = [sys.executable, "-m", "fuchsia", "run", str(flow), "--json"]
    command += ["--input", '{"order": {"items": [1, 2]}}']
    samples = []
    for i in range(repeats + 1):  # the first writes the bytecode caches
        home = tmp / f"fresh-{i}"
        shutil.copytree(tmp / "registry", home / "components")
        shutil.copytree(tmp / "cache", home / "cache")
        begin = time.perf_counter()
        subprocess.run(
            command, env={**env, "FUCHSIA_HOME": str(home)}, check=True, capture_output=True
        )
        samples.append(time.perf_counter() - begin)
    return samples[1:]


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
        host.load(digest_of(wasm), lambda: wasm)
        compile_seconds = time.perf_counter() - started
        host.close()
        # Calls are measured as every process after the compiling one makes them: with the
        # artifact loaded from the cache (the compiling process's resets are slower).
        host = WasmHost(HostSettings(cache_dir=cache))
        loaded = host.load(digest_of(wasm), lambda: wasm)
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
        samples, splits = call_samples(host, loaded, args.calls)
        resets = reset_samples(host, loaded, args.calls)
        py_samples, py_compiling, py_size = python_samples(Path(tmp), args.calls)
        first_runs = first_run_samples(Path(tmp))
        ones, twos = [], []
        for _ in range(args.rounds):
            ones.append(throughput(host, loaded, 1, args.calls))
            twos.append(throughput(host, loaded, 2, args.calls))
        host.close()
    one, two = statistics.median(ones), statistics.median(twos)
    ratios = sorted(b / a for a, b in zip(ones, twos, strict=True))
    p50 = statistics.median(samples) * 1000
    p99 = samples[int(len(samples) * 0.99) - 1] * 1000
    instantiate, guest = (statistics.median(x) * 1000 for x in (splits.instantiate, splits.call))
    reset = statistics.median(resets) * 1000
    print(f"component: examples/components/greeter ({len(wasm) / 1e6:.1f} MB)")
    print()
    print("| measure | target | result |")
    print("|---|---|---|")
    print(f"| first compile | - | {compile_seconds:.2f} s |")
    print(
        f"| load from the compiled cache (new process) | < 100 ms | "
        f"{statistics.median(loads) * 1000:.1f} ms |"
    )
    print(f"| instantiate + call, p50 | < 0.6 ms | {p50:.2f} ms |")
    print(f"| instantiate + call, p99 | - | {p99:.2f} ms |")
    print(
        f"| split, p50: instantiate / guest call / memory reset (timed alone) / rest | - | "
        f"{instantiate:.2f} / {guest:.2f} / {reset:.2f} / "
        f"{max(p50 - instantiate - guest, 0.0):.2f} ms |"
    )
    py_p50 = statistics.median(py_samples) * 1000
    py_p99 = py_samples[int(len(py_samples) * 0.99) - 1] * 1000
    print(
        f"| python step, 1 KB input, p50 ({py_size / 1e6:.1f} MB runtime) | < 2 ms | "
        f"{py_p50:.2f} ms |"
    )
    print(f"| python step, 1 KB input, p99 | < 4 ms | {py_p99:.2f} ms |")
    print(
        "| python step compiling in the instance (first run of a code), p50 | - | "
        f"{statistics.median(py_compiling) * 1000:.2f} ms |"
    )
    print(
        "| first `fuchsia run` with a python step, fresh home, runtime installed | < 1 s | "
        f"{statistics.median(first_runs):.2f} s |"
    )
    print(f"| nodes/s, 1 thread | - | {one:,.0f} |")
    print(
        f"| nodes/s, 2 threads | >= 1.6x one thread | {two:,.0f} ({two / one:.2f}x; "
        f"rounds {ratios[0]:.2f}x-{ratios[-1]:.2f}x) |"
    )


if __name__ == "__main__":
    main()
