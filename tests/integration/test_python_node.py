"""`python` nodes end to end: real workflows, the real Python runtime component (built from
the package's source with componentize-py once per source change, tests/support/components.py)
run by the real host under the node's grants, timeout and memory limit."""

from __future__ import annotations

import asyncio
import json
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import generate_latest

from fuchsia import Engine, Execution
from fuchsia.components.registry import Registry
from fuchsia.definition import load
from fuchsia.errors import MAX_NODE_MESSAGE, DefinitionError
from fuchsia.observe import metrics
from support.components import CACHE, built_python_runtime
from support.httpserver import LoopbackServer
from support.prometheus import sample

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@pytest.fixture(scope="module")
def runtime_build() -> Iterator[Path]:
    """The runtime's build, and one compiled-component cache for the module (and later
    sessions): each test only installs and deserializes it."""
    cache = CACHE / "compiled-cache"
    cache.mkdir(parents=True, exist_ok=True)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("FUCHSIA_CACHE", str(cache))
        yield built_python_runtime()


@pytest.fixture
def home(tmp_path: Path, runtime_build: Path) -> Path:
    home = tmp_path / "home"
    Registry(home / "components").install(runtime_build)
    return home


def run_flows(home: Path, flows: list[Path], payload: Any = None) -> list[Execution]:
    """Run each workflow file in turn on one engine."""

    async def main() -> list[Execution]:
        async with await Engine.open(str(home / "f.db"), home=home) as engine:
            return [await engine.run(str(flow), payload) for flow in flows]

    return asyncio.run(main())


def events_of(home: Path, execution_id: str) -> list[Any]:
    async def main() -> list[Any]:
        async with await Engine.open(str(home / "f.db"), home=home) as engine:
            return list(await engine.events(execution_id))

    return asyncio.run(main())


def write(directory: Path, name: str, text: str) -> Path:
    path = directory / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip())
    return path


def line_of(path: Path, text: str) -> int:
    """The 1-based line of `path` holding `text`."""
    return next(i for i, line in enumerate(path.read_text().splitlines(), 1) if text in line)


# -- running ----------------------------------------------------------------------------------


def test_the_example_prices_fans_out_and_reports_from_a_step_file(home: Path) -> None:
    payload = json.loads((EXAMPLES / "data" / "order.json").read_text())
    [execution] = run_flows(home, [EXAMPLES / "python-steps.yaml"], payload)
    assert execution.status == "completed", execution.error
    assert execution.node("score").output["total"] == 87.59
    assert [t["position"] for t in execution.node("per_item").output] == [1, 2, 3]
    assert execution.result["line"].startswith("3 items, total 87.59: kettle (")


def test_inline_and_file_steps_run_beside_transforms_joins_and_foreach(
    home: Path, tmp_path: Path
) -> None:
    write(
        tmp_path,
        "steps/stats.py",
        """
        import statistics

        def summarise(values, label="values"):
            return {"label": label, "mean": statistics.mean(values), "n": len(values)}
        """,
    )
    flow = write(
        tmp_path,
        "flow.yaml",
        """
        name: mixed
        trigger:
          context: {factor: 3}
        nodes:
          numbers:
            transform: {values: "{{ values }}"}
          scaled:
            after: numbers
            foreach: {items: "{{ values }}", concurrency: 2}
            python: |
              def main(value, factor):
                  return value * factor
            inputs: {value: "{{ item }}", factor: "{{ context.factor }}"}
          stats:
            after: numbers
            python: {file: steps/stats.py, function: summarise}
            inputs: {values: "{{ values }}", label: raw}
          both:
            after: [scaled, stats]
            join: all
            python:
              code: |
                def combine(scaled, stats):
                    return {"values": scaled, "raw_mean": stats["mean"]}
              function: combine
            inputs: {scaled: "{{ scaled }}", stats: "{{ stats }}"}
          shaped:
            after: both
            transform: {total: "{{ values | sum }}", mean: "{{ raw_mean }}"}
        """,
    )
    [execution] = run_flows(home, [flow], {"values": [1, 2, 3, 4]})
    assert execution.status == "completed", execution.error
    assert execution.node("scaled").output == [3, 6, 9, 12]
    assert execution.node("stats").output == {"label": "raw", "mean": 2.5, "n": 4}
    assert execution.result == {"total": 30, "mean": 2.5}


def test_a_foreach_of_200_python_items_runs_every_item(home: Path, tmp_path: Path) -> None:
    flow = write(
        tmp_path,
        "many.yaml",
        """
        name: many
        nodes:
          square:
            foreach: {items: "{{ range(200) | list }}", concurrency: 8}
            python: |
              def main(n):
                  return {"n": n, "square": n * n}
            inputs: {n: "{{ item }}"}
          total:
            after: square
            transform: {sum: "{{ data | map(attribute='square') | sum }}"}
        """,
    )
    [execution] = run_flows(home, [flow])
    assert execution.status == "completed", execution.error
    assert [o["n"] for o in execution.node("square").output] == list(range(200))
    assert execution.result == {"sum": sum(n * n for n in range(200))}


def test_a_step_uses_kv_log_config_and_artifacts_through_the_platform_imports(
    home: Path, tmp_path: Path
) -> None:
    flow = write(
        tmp_path,
        "imports.yaml",
        """
        name: imports
        nodes:
          write:
            python: |
              from fuchsia_sdk import config_get, kv_set, log, put_artifact

              def main(name):
                  kv_set("greeting", config_get("salutation") + ", " + name)
                  log("info", "stored", who=name)
                  print("printed lines are logged too")
                  ref = put_artifact("note.txt", "text/plain", "hello")
                  return {"artifact": ref["name"]}
            inputs: {name: "{{ name }}"}
            config: {salutation: Hej}
          read:
            after: write
            python: |
              from fuchsia_sdk import kv_get

              def main():
                  return {"greeting": kv_get("greeting")}
        """,
    )
    [execution] = run_flows(home, [flow], {"name": "Ada"})
    assert execution.status == "completed", execution.error
    assert execution.node("write").output["artifacts"][0]["name"] == "note.txt"
    assert execution.result == {"greeting": "Hej, Ada"}


BAD_CALLS = {
    # node: (code in main, the words its failure has)
    "kv_key": ("kv_get(5)", "TypeError: a kv key must be a string, not int"),
    "kv_value": (
        'kv_set("k", "\\ud800")',
        "ValueError: a kv value holds a lone surrogate '\\ud800' (at index 0), which is not "
        "Unicode text",
    ),
    "config_key": ("config_get(None)", "TypeError: a config key must be a string, not NoneType"),
    "artifact_name": (
        'put_artifact(5, "text/plain", "x")',
        "TypeError: an artifact name must be a string, not int",
    ),
    "artifact_data": (
        'put_artifact("a.bin", "application/octet-stream", 5)',
        "TypeError: an artifact's data is bytes or str, not int",
    ),
    "url": ('http_fetch("GET", 5)', "TypeError: the url must be a string, not int"),
    "header": (
        'http_fetch("GET", "http://x.example", {"x": "\\udc80"})',
        "ValueError: header 'x' holds a lone surrogate",
    ),
    "timeout": (
        'http_fetch("GET", "http://x.example", timeout_ms=-1)',
        "ValueError: timeout_ms is a number of milliseconds (0 or more), not -1",
    ),
    "raised": ('raise ValueError("bad \\ud800 text")', "ValueError: bad \\ud800 text"),
    "permanent": ('raise Permanent("lone \\udfff")', "fuchsia_sdk.Permanent: lone \\udfff"),
    "bad_str": ("raise Unprintable()", "__step__.Unprintable: <exception str() failed>"),
    "nan": (
        'return {"x": float("nan")}',
        "main() returned a value that is not JSON: Out of range float values are not JSON "
        "compliant",
    ),
}


def test_what_a_step_hands_the_platform_wrongly_fails_it_naming_the_argument(
    home: Path, tmp_path: Path
) -> None:
    """A host import called with what it cannot take (a number for a string, text with a lone
    surrogate, a negative timeout), an exception whose message is not Unicode or whose str()
    raises, a NaN result: each fails its node with the step's own error and traceback (they
    trapped the instance: "wasm `unreachable` instruction executed"). Log lines and printed
    text holding a lone surrogate are kept, the surrogate escaped."""
    prelude = (
        "from fuchsia_sdk import Permanent, config_get, http_fetch, kv_get, kv_set, log, "
        "put_artifact\n\nclass Unprintable(Exception):\n    def __str__(self):\n"
        "        raise RuntimeError('no')\n\n"
    )
    nodes = "".join(
        f"  {name}:\n    python: |\n"
        + textwrap.indent(f"{prelude}def main():\n    {call}\n", " " * 6)
        for name, (call, _) in BAD_CALLS.items()
    )
    logged = (
        "    python: |\n      from fuchsia_sdk import log\n\n      def main():\n"
        '          log("info", "a \\ud800 b")\n          print("p \\udc80 q")\n'
        "          return 1\n"
    )
    flow = write(
        tmp_path,
        "bad-calls.yaml",
        "name: bad-calls\ndefaults: {on_error: continue, retry: {max_attempts: 1}}\n"
        f"nodes:\n{nodes}  logged:\n{logged}",
    )
    [execution] = run_flows(home, [flow])
    assert execution.status == "completed_with_errors", execution.error
    for name, (call, words) in BAD_CALLS.items():
        error = execution.node(name).error
        assert error is not None, name
        assert words in error["message"], (name, error)
        if not name.startswith("nan"):
            assert f"line {line_of(flow, call)}, in main" in error["message"], (name, error)
    assert execution.node("logged").status == "succeeded"
    lines = [e.data or {} for e in events_of(home, execution.id) if e.type == "log"]
    assert {"a \\ud800 b", "p \\udc80 q"} <= {line["message"] for line in lines}


def test_text_the_store_keeps_holding_a_nul_fails_the_step_when_handed_over(
    home: Path, tmp_path: Path
) -> None:
    """A kv key or value, or an artifact's name or content type, holding a NUL is refused by
    the host as the step hands it over (PostgreSQL's text cannot hold one: it failed the
    attempt's commit there with an internal error, and SQLite stored it)."""
    calls = {
        "key": ('kv_set("a\\x00b", "v")', "a kv key holds a NUL character (U+0000)"),
        "value": ('kv_set("k", "\\x00")', "a kv value holds a NUL character (U+0000)"),
        "read": ('kv_get("\\x00")', "a kv key holds a NUL character (U+0000)"),
        "name": ('put_artifact("a\\x00", "text/plain", "x")', "an artifact name holds a NUL"),
        "type": ('put_artifact("a", "text/\\x00", "x")', "an artifact content type holds a NUL"),
    }
    prelude = "from fuchsia_sdk import kv_get, kv_set, put_artifact\n\n"
    nodes = "".join(
        f"  {name}:\n    python: |\n"
        + textwrap.indent(f"{prelude}def main():\n    {call}\n    return 1\n", " " * 6)
        for name, (call, _) in calls.items()
    )
    flow = write(
        tmp_path,
        "nul.yaml",
        "name: nul\ndefaults: {on_error: continue, retry: {max_attempts: 1}}\n"
        f"nodes:\n{nodes}  fine:\n    python: |\n      def main():\n          return 2\n",
    )
    [execution] = run_flows(home, [flow])
    assert execution.status == "completed_with_errors", execution.error
    for name, (_, words) in calls.items():
        error = execution.node(name).error
        assert error is not None and words in error["message"], (name, error)
        assert error["type"] == "output_error"
    assert execution.node("fine").output == 2


# -- containment ------------------------------------------------------------------------------


def test_hostile_code_is_contained_and_the_next_node_runs_normally(
    home: Path, tmp_path: Path, loopback: LoopbackServer
) -> None:
    steps = {
        "spin": ("def main():\n    while True:\n        pass\n", "timeout: 500ms"),
        "bomb": (
            "def main():\n    hoard = []\n    while True:\n        hoard.append(' ' * 2**20)\n",
            "capabilities: {memory_limit: 64MiB}",
        ),
        "passwd": ("def main():\n    return open('/etc/passwd').read()\n", ""),
        "sock": ("import socket\n\ndef main():\n    return 1\n", ""),
        "denied": (
            "from fuchsia_sdk import http_fetch\n\n"
            f"def main():\n    return http_fetch('GET', '{loopback.url('/ok/py')}').status\n",
            "",
        ),
    }
    flows = []
    for name, (code, extra) in steps.items():
        body = textwrap.indent(code, " " * 6)
        flows.append(
            write(
                tmp_path,
                f"{name}.yaml",
                f"name: {name}\nnodes:\n  step:\n    {extra or 'description: hostile'}\n"
                f"    python: |\n{body}"
                "  after_step: {after: step, transform: {never: true}}\n",
            )
        )
    flows.append(
        write(
            tmp_path,
            "calm.yaml",
            """
            name: calm
            nodes:
              step:
                python: |
                  import os

                  def main():
                      return {"environ": dict(os.environ), "ok": True}
            """,
        )
    )
    spin, bomb, passwd, sock, denied, calm = run_flows(home, flows)
    assert spin.node("step").status == "timed_out"
    assert spin.node("after_step").status == "cancelled"
    assert bomb.error is not None and bomb.error["type"] == "memory_limit"
    for failed, words in (
        (passwd, "FileNotFoundError"),
        (sock, "No module named 'socket'"),
        (denied, "the step raised fuchsia_sdk.HttpDenied: "),
    ):
        assert failed.status == "failed"
        assert failed.error is not None and words in failed.error["message"], failed.error
    assert denied.error is not None and not denied.error["retryable"]
    add = f"add 'http://127.0.0.1:{loopback.port}' to the node's capabilities.allowed_hosts"
    assert add in denied.error["message"]
    assert "fuchsia_sdk.py" not in denied.error["message"]
    assert loopback.counts("/ok/py") == {}
    assert calm.status == "completed", calm.error
    assert calm.result == {"environ": {}, "ok": True}


def test_a_granted_host_is_reached(home: Path, tmp_path: Path, loopback: LoopbackServer) -> None:
    flow = write(
        tmp_path,
        "granted.yaml",
        f"""
        name: granted
        nodes:
          fetch:
            capabilities: {{allowed_hosts: ["http://127.0.0.1:{loopback.port}"]}}
            python: |
              from fuchsia_sdk import http_fetch

              def main():
                  return http_fetch("GET", "{loopback.url("/ok/granted")}").json()
        """,
    )
    [execution] = run_flows(home, [flow])
    assert execution.status == "completed", execution.error
    assert execution.result["name"] == "granted"


def test_one_attempt_cannot_see_what_another_left_behind(home: Path, tmp_path: Path) -> None:
    flow = write(
        tmp_path,
        "isolated.yaml",
        """
        name: isolated
        nodes:
          mark:
            foreach: {items: "{{ [1, 2, 3] }}"}
            python: |
              import builtins
              import json

              def main():
                  seen = hasattr(builtins, "left_behind")
                  builtins.left_behind = True
                  json.left_behind = True
                  return seen
        """,
    )
    [execution] = run_flows(home, [flow])
    assert execution.status == "completed", execution.error
    assert execution.result == [False, False, False]


def test_a_steps_code_is_compiled_once_and_its_attempts_run_the_compiled_code(
    home: Path, tmp_path: Path
) -> None:
    flow = write(
        tmp_path,
        "compiled.yaml",
        """
        name: compiled
        nodes:
          each:
            foreach: {items: "{{ [1, 2, 3, 4] }}"}
            python: |
              def main():
                  return not_defined_anywhere
        """,
    )
    registry = metrics.enable()
    try:
        executions = run_flows(home, [flow, flow])
        text = generate_latest(registry).decode()
    finally:
        metrics.disable()
    count = "fuchsia_component_instantiate_seconds_count"
    assert sample(text, count, workflow="compiled", task="compile") == 1
    assert sample(text, count, workflow="compiled", task="run") == 8
    for execution in executions:  # loaded from the compiled code, the frames are the YAML's
        error = execution.node("each").error
        assert execution.status == "failed" and error is not None
        message = error["message"]
        assert f'File "compiled.yaml", line {line_of(flow, "return not_")}, in main' in message
        assert "return not_defined_anywhere" in message  # the source line, from linecache
        assert "NameError: name 'not_defined_anywhere' is not defined" in message


# -- errors, placed in the files the user wrote -----------------------------------------------


def test_an_exception_fails_the_node_with_its_traceback_in_yaml_lines(
    home: Path, tmp_path: Path
) -> None:
    flow = write(
        tmp_path,
        "raising.yaml",
        """
        name: raising
        nodes:
          check:
            python: |
              def main(order):
                  if not order.get("items"):
                      raise ValueError(f"order {order['id']} has no items")
                  return order
            inputs: {order: "{{ order }}"}
        """,
    )
    [execution] = run_flows(home, [flow], {"order": {"id": "A-1"}})
    assert execution.status == "failed"
    error = execution.node("check").error
    assert error is not None and error["type"] == "task_error"
    message = error["message"]
    assert message.startswith("the step raised ValueError: order A-1 has no items\n")
    raising = line_of(flow, "raise ValueError")
    assert f'File "raising.yaml", line {raising}, in main' in message
    assert "raise ValueError(f\"order {order['id']} has no items\")" in message
    assert "app.py" not in message  # the runtime's own frames are left out


def test_a_huge_exception_message_is_stored_cut_keeping_its_start_and_its_traceback(
    home: Path, tmp_path: Path
) -> None:
    flow = write(
        tmp_path,
        "shouting.yaml",
        """
        name: shouting
        nodes:
          shout:
            retry: {max_attempts: 2, initial_delay: 1ms}
            python: |
              def main():
                  raise ValueError("start " + "x" * 3_000_000 + " end")
        """,
    )
    [execution] = run_flows(home, [flow])
    assert execution.status == "failed"
    node = execution.node("shout")
    errors = [node.error, execution.error, *(a.error for a in node.attempts)]
    assert len(node.attempts) == 2
    for error in errors:
        assert error is not None and error["type"] == "task_error"
        message = error["message"]
        assert len(message.encode()) <= MAX_NODE_MESSAGE + 100
        assert message.startswith("the step raised ValueError: start xxx")
        assert "bytes of the message left out ...]" in message
        assert message.endswith('    raise ValueError("start " + "x" * 3_000_000 + " end")')


def test_an_exception_in_a_step_file_names_the_step_file_line(home: Path, tmp_path: Path) -> None:
    step = write(
        tmp_path,
        "steps/divide.py",
        """
        def ratio(a, b):
            return a / b
        """,
    )
    flow = write(
        tmp_path,
        "dividing.yaml",
        """
        name: dividing
        nodes:
          divide:
            python: {file: steps/divide.py, function: ratio}
            inputs: {a: 1, b: 0}
        """,
    )
    [execution] = run_flows(home, [flow])
    error = execution.node("divide").error
    assert error is not None
    assert "ZeroDivisionError: division by zero" in error["message"]
    assert f'File "steps/divide.py", line {line_of(step, "a / b")}, in ratio' in error["message"]


def test_a_syntax_error_is_reported_at_its_line_and_column_in_the_yaml_file(
    home: Path, tmp_path: Path
) -> None:
    flow = write(
        tmp_path,
        "broken.yaml",
        """
        name: broken
        nodes:
          ok: {transform: {a: 1}}
          bad:
            python: |
              def main(x):
                  return (x +
                          * 2)
            inputs: {x: 1}
        """,
    )
    with pytest.raises(DefinitionError) as caught:
        load(flow, Registry(home / "components"))
    [problem] = caught.value.problems
    line = line_of(flow, "* 2)")
    assert (problem.file, problem.line) == (str(flow), line)
    assert problem.column == flow.read_text().splitlines()[line - 1].index("*") + 1
    assert "node 'bad': SyntaxError: invalid syntax" in problem.message
    assert f"{flow}:{line}:{problem.column}: " in str(caught.value)


def test_a_syntax_error_in_a_step_file_is_placed_in_the_step_file(
    home: Path, tmp_path: Path
) -> None:
    step = write(tmp_path, "steps/bad.py", "x = 1\ndef main(:\n    pass\n")
    flow = write(
        tmp_path,
        "uses-bad.yaml",
        "name: uses-bad\nnodes:\n  run_it: {python: {file: steps/bad.py}}\n",
    )
    with pytest.raises(DefinitionError) as caught:
        load(flow, Registry(home / "components"))
    [problem] = caught.value.problems
    assert (problem.file, problem.line, problem.column) == (str(step), 2, 10)


def test_validation_reports_a_missing_function_and_a_missing_step_file(
    home: Path, tmp_path: Path
) -> None:
    write(tmp_path, "steps/helpers.py", "def helper():\n    return 1\n")
    flow = write(
        tmp_path,
        "missing.yaml",
        """
        name: missing
        nodes:
          no_main:
            python: |
              def helper():
                  return 1
          no_build:
            python: {file: steps/helpers.py, function: build}
          no_file:
            python: {file: steps/absent.py}
          not_async:
            python: |
              async def main():
                  return 1
        """,
    )
    with pytest.raises(DefinitionError) as caught:
        load(flow, Registry(home / "components"))
    messages = {p.message.split(":")[0]: (p.line, p.message) for p in caught.value.problems}
    assert set(messages) == {
        "node 'no_main'",
        "node 'no_build'",
        "node 'no_file'",
        "node 'not_async'",
    }
    assert "defines no function 'main' (it defines helper)" in messages["node 'no_main'"][1]
    assert "defines no function 'build'" in messages["node 'no_build'"][1]
    assert "no step file 'steps/absent.py'" in messages["node 'no_file'"][1]
    assert messages["node 'no_file'"][0] == line_of(flow, "steps/absent.py")
    assert "async function" in messages["node 'not_async'"][1]


def test_locking_embeds_the_step_file_and_pins_the_runtime(home: Path, tmp_path: Path) -> None:
    step = write(tmp_path, "steps/one.py", "def main():\n    return 1\n")
    flow = write(
        tmp_path, "pinned.yaml", "name: pinned\nnodes:\n  one: {python: {file: steps/one.py}}\n"
    )
    registry = Registry(home / "components")
    first = load(flow, registry)
    spec = first.document["nodes"]["one"]["spec"]
    runtime = registry.python_runtime()
    assert (spec["component"], spec["digest"]) == (runtime.ref, runtime.digest)
    assert spec["code"] == step.read_text()
    step.write_text("def main():\n    return 2\n")
    second = load(flow, registry)
    assert second.hash != first.hash  # the hash pins the step's content
    [execution] = run_flows(home, [flow])
    assert execution.result == 2


def test_a_step_whose_code_reads_like_a_template_is_not_rendered(
    home: Path, tmp_path: Path
) -> None:
    flow = write(
        tmp_path,
        "braces.yaml",
        """
        name: braces
        nodes:
          fmt:
            python: |
              def main(name):
                  return f"{{{{ {name} }}}}"
            inputs: {name: "{{ name }}"}
        """,
    )
    [execution] = run_flows(home, [flow], {"name": "Ada"})
    assert execution.status == "completed", execution.error
    assert execution.result == "{{ Ada }}"
