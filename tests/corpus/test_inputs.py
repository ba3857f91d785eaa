"""The hostile-input corpus: payloads, templates and conditions a user (or an attacker) sends.

Every case goes through the command line (`python -m fuchsia run`, a real process) and through
the HTTP API (a real server on 127.0.0.1), each on SQLite and on PostgreSQL. A payload must be
refused before anything is stored, with a reason (the CLI: exit 1 or 2 and an `error:` line;
the API: a 4xx whose body is `{"error": {"code", "message"}}`). A template or condition must
end its execution promptly: refused when the file is validated (a located problem) or the
node failed with `input_error` and the reason. Never a traceback, never a 5xx, never a hang
(a case that does not finish fails on the subprocess's or the wait's own guard), and an
execution stored before the corpus still reads back the same afterwards.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from support.server import Served

pytestmark = pytest.mark.slow

PAYLOAD_SCHEMA = "{type: object, properties: {name: {type: string}}}"
PAYLOADS: dict[str, str] = {
    "integer_5000_digits": '{"n": ' + "1" * 5000 + "}",
    "negative_integer_5000_digits": '{"n": -' + "9" * 5000 + "}",
    "deep_lists": "[" * 10_000 + "]" * 10_000,
    "deep_objects": '{"a":' * 10_000 + "1" + "}" * 10_000,
    "deep_mixed": '{"a":[' * 3000 + "1" + "]}" * 3000,
    "five_megabytes": '{"s": "' + "x" * (5 * 1024 * 1024) + '"}',
    "two_million_items": "[" + ",".join(["0"] * 2_100_000) + "]",
    "nan": '{"n": NaN}',
    "infinity": '{"n": Infinity}',
    "negative_infinity": '{"n": -Infinity}',
    "overflowing_float": '{"n": 1e999}',
    "lone_surrogate": '{"s": "\\ud800"}',
    "not_json": '{"a": }',
    "trailing_garbage": '{"a": 1} x',
    "single_quotes": "{'a': 1}",
    "empty": "",
    "unterminated_string": '{"a": "abc',
    "schema_type_mismatch": '{"name": 5}',
    "not_an_object": "[1, 2, 3]",
    "bare_string": '"hello"',
}

TEMPLATES: dict[str, str] = {
    "power_tower": "{{ 10**(10**10) }}",
    "power_big": "{{ 2**100000000 }}",
    "power_from_data": "{{ big ** big }}",
    "repeat_string": "{{ 'x' * 10**9 }}",
    "repeat_string_from_data": "{{ 'x' * big }}",
    "repeat_list": "{{ [0] * 10**9 }}",
    "repeat_tuple": "{{ (1,) * 10**9 }}",
    "center": "{{ 'x' | center(10**9) }}",
    "indent": "{{ 'a\\nb' | indent(10**9) }}",
    "percent_width": "{{ '%999999999d' % 1 }}",
    "percent_star_width": "{{ '%*d' % (10**9, 1) }}",
    "percent_precision": "{{ '%.999999999f' % 1.0 }}",
    "format_filter_width": "{{ '%999999999s' | format('x') }}",
    "format_method_width": "{{ '{:999999999}'.format(1) }}",
    "format_nested_width": "{{ '{:{w}}'.format(1, w=10**9) }}",
    "ljust": "{{ 'x'.ljust(10**9) }}",
    "rjust": "{{ 'x'.rjust(10**9) }}",
    "zfill": "{{ 'x'.zfill(10**9) }}",
    "expandtabs": "{{ '\\t'.expandtabs(10**9) }}",
    "lipsum": "{{ lipsum(10**6) }}",
    "range_list": "{{ range(10**9) | list }}",
    "nested_ranges": (
        "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}"
    ),
    "doubling_namespace": (
        "{% set ns = namespace(x='x') %}{% for i in range(64) %}"
        "{% set ns.x = ns.x ~ ns.x %}{% endfor %}{{ ns.x | length }}"
    ),
    "doubling_join": (
        "{% set ns = namespace(x=['x']) %}{% for i in range(64) %}"
        "{% set ns.x = ns.x + ns.x %}{% endfor %}{{ ns.x | length }}"
    ),
    "sandbox_escape_class": "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "sandbox_escape_globals": "{{ lipsum.__globals__ }}",
    "non_finite_result": "{{ 1e308 * 10 }}",
    "undefined_name": "{{ nothing_by_this_name }}",
    "method_of_data": "{{ big.bit_length.__self__ }}",
}

CONDITIONS: dict[str, str] = {
    "triple_map": "data.items.map(x, data.items.map(y, data.items.map(z, x + y + z))).size() > 0",
    "fifty_thousand_terms": " && ".join(["true"] * 50_000),
    "deep_parentheses": "(" * 5000 + "true" + ")" * 5000,
    "division_by_zero": "1 / 0 == 1",
    "not_a_boolean": "data.items.size()",
}

LOCATED = re.compile(r":\d+:\d+: ")


def template_flow(template: str) -> str:
    return (
        "name: hostile\ntrigger:\n  schema: {type: object}\nnodes:\n"
        f"  render:\n    transform: {{out: {json.dumps(template)}}}\n"
    )


def condition_flow(condition: str) -> str:
    return (
        "name: hostile\ntrigger:\n  schema: {type: object}\nnodes:\n"
        "  route:\n    branch:\n"
        f"      - when: {json.dumps(condition)}\n        then: yes_path\n"
        "    default: no_path\n"
        "  yes_path: {after: route, transform: {ok: true}}\n"
        "  no_path: {after: route, transform: {ok: false}}\n"
    )


PAYLOAD_FLOW = (
    f"name: hostile\ntrigger:\n  schema: {PAYLOAD_SCHEMA}\nnodes:\n"
    "  echo:\n    transform: {seen: '{{ name | default(\"\") }}'}\n"
)
DATA = json.dumps({"big": 10**9, "items": list(range(1000))})


def cases() -> list[tuple[str, str, str]]:
    """(id, workflow text, payload text) for every case."""
    found = [(f"payload-{k}", PAYLOAD_FLOW, v) for k, v in PAYLOADS.items()]
    found += [(f"template-{k}", template_flow(v), DATA) for k, v in TEMPLATES.items()]
    found += [(f"condition-{k}", condition_flow(v), DATA) for k, v in CONDITIONS.items()]
    return found


def test_the_corpus_is_large() -> None:
    assert len(PAYLOADS) + len(TEMPLATES) + len(CONDITIONS) >= 30


# -- the command line -------------------------------------------------------------------------


def fuchsia(root: Path, db: str, cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """`python -m fuchsia ARGS` in a real process on the store `db`; the timeout guards a hang."""
    env = {**os.environ, "FUCHSIA_HOME": str(root / "home"), "FUCHSIA_DB": db}
    return subprocess.run(
        [sys.executable, "-m", "fuchsia", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )


def run_in_a_process(root: Path, db: str, case: tuple[str, str, str]) -> dict[str, Any]:
    name, flow, payload = case
    folder = root / name
    folder.mkdir()
    (folder / "flow.yaml").write_text(flow)
    (folder / "payload.json").write_text(payload, encoding="utf-8", errors="surrogatepass")
    done = fuchsia(root, db, folder, "run", "flow.yaml", "--input-file", "payload.json", "--json")
    return {"name": name, "code": done.returncode, "out": done.stdout, "err": done.stderr}


def cli_failure(done: dict[str, Any]) -> str | None:
    """Why a CLI answer is not the refusal the corpus expects, or None."""
    output = done["out"] + done["err"]
    if "Traceback" in output or "Future exception" in output:
        return "a traceback"
    if done["code"] == 0:
        return "accepted"
    if done["name"].startswith("payload-"):
        return None if "error:" in done["err"] else "no error line"
    if LOCATED.search(done["err"]):
        return None  # refused at validation, at its line and column
    try:
        shown = json.loads(done["out"])
    except json.JSONDecodeError:
        return f"neither a located problem nor an execution (exit {done['code']})"
    return node_failure(shown)


def node_failure(shown: dict[str, Any]) -> str | None:
    if shown.get("status") != "failed":
        return f"execution {shown.get('status')}"
    error = shown.get("error") or {}
    if error.get("type") != "input_error" or not error.get("message"):
        return f"not failed with input_error and a reason: {error}"
    return None


def good_run(root: Path, db: str) -> dict[str, Any]:
    folder = root / "good"
    folder.mkdir(exist_ok=True)
    (folder / "flow.yaml").write_text(PAYLOAD_FLOW)
    done = fuchsia(root, db, folder, "run", "flow.yaml", "--input", '{"name": "Ada"}', "--json")
    assert done.returncode == 0, done.stderr
    shown: dict[str, Any] = json.loads(done.stdout)
    return shown


def show(root: Path, db: str, execution_id: str) -> dict[str, Any]:
    done = fuchsia(root, db, root, "runs", "show", execution_id, "--json")
    assert done.returncode == 0, done.stderr
    shown: dict[str, Any] = json.loads(done.stdout)
    return shown


def test_the_command_line_refuses_every_case(store_url: str, tmp_path: Path) -> None:
    db = store_url if "://" in store_url else f"sqlite:///{store_url}"
    before = good_run(tmp_path, db)
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        answers = list(pool.map(lambda c: run_in_a_process(tmp_path, db, c), cases()))
    failures = {
        a["name"]: f"{why}: {(a['err'] or a['out'])[-400:]}"
        for a in answers
        if (why := cli_failure(a)) is not None
    }
    assert failures == {}, "\n".join(f"{k}: {v}" for k, v in failures.items())
    assert show(tmp_path, db, before["id"]) == before


# -- the HTTP API -----------------------------------------------------------------------------


def deploy_and_start(served: Served, name: str, flow: str, payload: str) -> str | None:
    """Deploy `flow` and start it with the raw `payload`; why the answers fall short, or None."""
    with served.client("admin") as client:
        deployed = client.post("/api/v1/workflows", json={"source": flow})
        if deployed.status_code >= 400:
            return refusal_failure(deployed, located=True)
        ref = f"{deployed.json()['name']}@{deployed.json()['version']}"
        body = f'{{"workflow": "{ref}", "payload": {payload}}}'
        started = client.post(
            "/api/v1/executions",
            content=body.encode("utf-8", errors="surrogatepass"),
            headers={"Content-Type": "application/json"},
        )
        if name.startswith("payload-") or started.status_code >= 400:
            return refusal_failure(started, located=False)
        return wait_failed(client, started.json()["id"])


def refusal_failure(answer: Any, *, located: bool) -> str | None:
    if not 400 <= answer.status_code < 500:
        return f"{answer.status_code}: {answer.text[:300]}"
    error = answer.json().get("error")
    if not isinstance(error, dict) or not error.get("code") or not error.get("message"):
        return f"no error code and message: {answer.text[:300]}"
    if located and not LOCATED.search(answer.text):
        return f"no located problem: {answer.text[:300]}"
    return None


def wait_failed(client: Any, execution_id: str) -> str | None:
    deadline = time.monotonic() + 120  # a hang guard, not a timing assertion
    while time.monotonic() < deadline:
        shown = client.get(f"/api/v1/executions/{execution_id}").json()
        if shown["status"] not in ("pending", "running"):
            return node_failure(shown)
        time.sleep(0.02)
    return "still running after 120 s"


def test_the_api_refuses_every_case(store_url: str, tmp_path: Path) -> None:
    with Served(tmp_path, db=store_url, schedule=False) as served:
        with served.client("run") as client:
            health = client.get("/healthz")
            assert health.status_code == 200
        failures: dict[str, str] = {}
        for name, flow, payload in cases():
            # each case deploys its own version of the workflow
            flow = flow.replace("name: hostile\n", f"name: hostile\nversion: {len(failures) + 1}\n")
            why = deploy_and_start(served, name, flow.replace("hostile", f"h-{name[:40]}"), payload)
            if why is not None:
                failures[name] = why
        with served.client("run") as client:
            assert client.get("/healthz").status_code == 200  # still serving
    assert failures == {}, "\n".join(f"{k}: {v}" for k, v in failures.items())
