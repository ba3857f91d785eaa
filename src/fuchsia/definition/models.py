"""The workflow file format (DESIGN.md §3) as typed models.

Every model forbids unknown keys. Fields that accept several spellings (`after: a` or
`after: [a, b]`, `join: any` or `join: {at_least: 2}`, `500ms` or `0.5`) normalise in a
`BeforeValidator`, so a mistake gets one message instead of one per union member, and the
models hold a single canonical shape that locking can serialise.
"""

from __future__ import annotations

import math
import re
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    WithJsonSchema,
    model_validator,
)

from fuchsia.durations import parse_duration
from fuchsia.nodes.kind import KINDS

NAME_PATTERN = r"^[a-z0-9][a-z0-9_-]*$"
NODE_ID = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
RESERVED_IDS = frozenset({"data", "context", "execution", "secrets", "item", "index", "loop"})
NODE_KINDS = tuple(KINDS)  # each is also the key of a `Node` field holding its spec

# Bounds on what a workflow may ask for, so that no number in a file overflows a timer, a
# column or a loop: each breach is a located problem at validation, never a crash later.
MAX_DURATION_SECONDS = 3650 * 86400.0  # ten years: any timer, timeout, delay or interval
MAX_VERSION = 2**31 - 1  # the stores keep versions in 32-bit INTEGER columns
MAX_ITERATIONS = 100_000  # repeat.max_iterations: each iteration is a stored attempt
MAX_CRON_LENGTH = 256  # characters of a cron schedule (its parser expands every list)
MAX_SIGNAL_NAME = 200  # characters of a signal's name: what the API's signal route takes
NUL = "\x00"
HOLDS_NUL = "holds a NUL character (U+0000), which no stored text may hold"


def no_nul(value: str) -> str:
    """`value`, unless it holds a NUL: PostgreSQL's text cannot (SQLite's can: refused on
    both, a name means the same on either)."""
    if NUL in value:
        raise ValueError(HOLDS_NUL)
    return value


SignalName = Annotated[str, Field(min_length=1, max_length=MAX_SIGNAL_NAME), AfterValidator(no_nul)]


def _duration(value: object) -> float:
    """A duration in seconds, finite and at most `MAX_DURATION_SECONDS`."""
    try:
        seconds = parse_duration(value)
    except OverflowError:  # an integer too large for a float
        seconds = math.inf
    if not math.isfinite(seconds) or seconds > MAX_DURATION_SECONDS:
        shown = value if not isinstance(value, str) or len(value) <= 40 else value[:40] + "..."
        raise ValueError(
            f"invalid duration {shown!r}: at most {MAX_DURATION_SECONDS / 86400:.0f}d (ten years)"
        )
    return seconds


Duration = Annotated[
    float,
    BeforeValidator(_duration),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "string", "pattern": r"^(\d+(\.\d+)?(ms|s|m|h|d))+$"},
                {"type": "number", "minimum": 0},
            ],
            "description": "a duration such as 500ms, 30s, 10m, 1h30m, or a number of seconds",
        }
    ),
]


def _string_list(value: object) -> object:
    if isinstance(value, str):
        return [value]
    items = value if isinstance(value, list) else [value]
    if any(isinstance(item, bool) for item in items):
        raise ValueError(
            "YAML reads yes, no, on, off, true and false as booleans: quote a name spelled so"
        )
    return value


StringList = Annotated[
    list[str],
    BeforeValidator(_string_list),
    WithJsonSchema({"anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]}),
]


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class AtLeast(Model):
    at_least: int = Field(ge=1)


def _join(value: object) -> object:
    if value in ("all", "any") or isinstance(value, AtLeast):
        return value
    if isinstance(value, dict) and set(value) == {"at_least"}:
        return AtLeast.model_validate(value)
    raise ValueError(f"join must be 'all', 'any' or {{at_least: N}}, not {value!r}")


Join = Annotated[
    Literal["all", "any"] | AtLeast,
    BeforeValidator(_join),
    WithJsonSchema(
        {
            "anyOf": [
                {"enum": ["all", "any"]},
                {
                    "type": "object",
                    "properties": {"at_least": {"type": "integer", "minimum": 1}},
                    "required": ["at_least"],
                    "additionalProperties": False,
                },
            ]
        }
    ),
]


class RetrySpec(Model):
    """Retry settings as written; unset fields fall back to `defaults.retry`, then built-ins."""

    max_attempts: int | None = Field(default=None, ge=1, le=1000)
    backoff: Literal["fixed", "exponential"] | None = None
    initial_delay: Duration | None = None
    max_delay: Duration | None = None
    jitter: bool | None = None


class HttpSpec(Model):
    method: Literal["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"] = "GET"
    url: str
    headers: dict[str, str] = Field(default_factory=dict)
    query: dict[str, Any] = Field(default_factory=dict)
    json_body: Any = Field(default=None, alias="json")
    body: str | None = None
    timeout: Duration | None = None
    expect: list[Annotated[int, Field(ge=100, le=599)]] | None = Field(
        default=None, description="accepted response statuses; default: any 2xx"
    )
    follow_redirects: bool = False

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    @model_validator(mode="after")
    def _one_body(self) -> HttpSpec:
        if self.json_body is not None and self.body is not None:
            raise ValueError("an http node takes either `json` or `body`, not both")
        return self


class BranchRule(Model):
    when: str
    then: StringList


class WaitSpec(Model):
    signal: SignalName | None = None
    for_: Duration | None = Field(default=None, alias="for")
    until: str | None = None
    timeout: Duration | None = None

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    @model_validator(mode="after")
    def _one_mode(self) -> WaitSpec:
        modes = [m for m in (self.signal, self.for_, self.until) if m is not None]
        if len(modes) != 1:
            raise ValueError("a wait takes exactly one of `signal`, `for` or `until`")
        return self


class SubWorkflow(Model):
    name: str | None = None
    version: int | None = Field(default=None, ge=1, le=MAX_VERSION)
    path: str | None = None
    inputs: dict[str, Any] = Field(default_factory=dict)


def _function_name(value: str) -> str:
    import keyword

    if keyword.iskeyword(value):
        raise ValueError(f"{value!r} is a Python keyword, which no function can be named")
    return value


def _python(value: object) -> object:
    return {"code": value} if isinstance(value, str) else value


class PythonStep(Model):
    """A `python` node's code: inline (`python: |`, or `{code: ..., function: ...}`) or a step
    file (`{file: steps/report.py, function: build}`, relative to the workflow file)."""

    code: str | None = None
    file: str | None = None
    function: Annotated[str, AfterValidator(_function_name)] = Field(
        default="main", pattern=r"^[A-Za-z_][A-Za-z0-9_]*$"
    )

    @model_validator(mode="after")
    def _one_source(self) -> PythonStep:
        if self.code is not None and self.file is not None:
            raise ValueError("a python step takes either inline code or `file`, not both")
        if self.code is None and self.file is None:
            raise ValueError("a python step needs its code inline or a `file`")
        return self


PythonField = Annotated[
    PythonStep,
    BeforeValidator(_python),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "string", "description": "the step's code, defining `main`"},
                {
                    "type": "object",
                    "properties": {
                        "code": {"type": "string"},
                        "file": {"type": "string"},
                        "function": {"type": "string"},
                    },
                    "additionalProperties": False,
                },
            ]
        }
    ),
]


def _hosts(value: list[str]) -> list[str]:
    from fuchsia.components.hosts import parse_host_pattern

    for pattern in value:
        parse_host_pattern(pattern)
    return value


def _size(value: object) -> object:
    if value is None:
        return None
    from fuchsia.components.manifest import parse_size  # only a file that sets a limit

    return parse_size(value)


class StepCapabilities(Model):
    """What a `python` node is granted beyond running code: nothing unless listed."""

    allowed_hosts: Annotated[list[str], AfterValidator(_hosts)] = Field(default_factory=list)
    memory_limit: Annotated[int | None, BeforeValidator(_size)] = None


class Foreach(Model):
    items: str
    concurrency: int = Field(default=1, ge=1, le=10_000)


class Repeat(Model):
    until: str
    max_iterations: int = Field(default=100, ge=1, le=MAX_ITERATIONS)
    delay: Duration | None = None


class Node(Model):
    description: str | None = None
    after: StringList = Field(default_factory=list)
    join: Join | None = None
    foreach: Foreach | None = None
    repeat: Repeat | None = None
    timeout: Duration | None = None
    retry: RetrySpec | None = None
    on_error: Literal["fail", "continue"] | None = None
    context: dict[str, Any] | None = None
    # node kinds: exactly one of these
    component: str | None = None
    task: str | None = None
    inputs: dict[str, Any] | None = None
    config: dict[str, Any] | None = None
    http: HttpSpec | None = None
    transform: Any = None
    branch: list[BranchRule] | None = None
    default: StringList | None = None
    wait: WaitSpec | None = None
    workflow: SubWorkflow | None = None
    python: PythonField | None = None
    capabilities: StepCapabilities | None = None

    @property
    def kind(self) -> str:
        fields = self.__dict__
        present = [k for k in NODE_KINDS if fields[k] is not None]
        return present[0] if len(present) == 1 else ""

    @model_validator(mode="after")
    def _exactly_one_kind(self) -> Node:
        fields = self.__dict__  # the validated values, without an attribute lookup each
        present = [k for k in NODE_KINDS if fields[k] is not None]
        if not present:
            raise ValueError(f"a node needs exactly one kind: one of {', '.join(NODE_KINDS)}")
        if len(present) > 1:
            raise ValueError(f"a node has exactly one kind, this one has {' and '.join(present)}")
        kind = present[0]
        if kind not in ("component", "python") and (self.inputs is not None or self.config):
            raise ValueError("`inputs` and `config` belong to component and python nodes")
        if kind != "component" and self.task:
            raise ValueError("`task` belongs to component nodes")
        if kind != "python" and self.capabilities is not None:
            raise ValueError(
                "`capabilities` belongs to python nodes (a component's are in its manifest)"
            )
        if kind == "component" and not self.task:
            raise ValueError("a component node needs `task`")
        if kind != "branch" and self.default is not None:
            raise ValueError("`default` belongs to branch nodes")
        if self.foreach is not None and self.repeat is not None:
            # an iteration would find every item of the previous one committed, and rerun none
            raise ValueError(
                "`foreach` and `repeat` do not go on one node: repeat a `workflow` node whose "
                "workflow has the foreach"
            )
        return self


class Defaults(Model):
    timeout: Duration | None = None
    retry: RetrySpec | None = None
    on_error: Literal["fail", "continue"] | None = None


class WebhookSpec(Model):
    """A webhook route, `/hooks/<path>`, authenticated by a signature over the raw body."""

    method: Literal["POST", "PUT", "PATCH"] = "POST"
    path: str = Field(pattern=r"^/[A-Za-z0-9._~/-]*$")
    secret: str = Field(description="the signing secret, or env:NAME to read it at serve time")
    scheme: Literal["standard", "github", "stripe"] = Field(
        default="standard",
        description="Standard Webhooks headers, GitHub's X-Hub-Signature-256, or Stripe's",
    )
    tolerance: Duration = 300.0
    max_body: int = Field(default=1024 * 1024, ge=1, le=64 * 1024 * 1024)
    component: str | None = Field(default=None, description="a component trigger to ask")
    trigger: str | None = None

    @model_validator(mode="after")
    def _both(self) -> WebhookSpec:
        if (self.component is None) != (self.trigger is None):
            raise ValueError("a component webhook names both `component` and `trigger`")
        return self


def _cron_expression(value: str) -> str:
    """A cron expression that parses and fires at least once from now on (`0 0 30 2 *` never
    does, nor does `0 0 1 1 * 0 2020`, whose seventh field is a year)."""
    from datetime import UTC, datetime

    from croniter import CroniterBadDateError, croniter

    if not croniter.is_valid(value):
        raise ValueError(f"{value!r} is not a cron expression (5 fields, or 6 with seconds last)")
    for start, what in ((datetime(2000, 1, 1, tzinfo=UTC), "that exists"), (None, "from now on")):
        try:
            croniter(value, start or datetime.now(UTC)).get_next(datetime)
        except CroniterBadDateError:
            raise ValueError(f"{value!r} names no date {what}: it would never fire") from None
    return value


def _timezone(value: str) -> str:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    shown = value if len(value) <= 60 else value[:60] + "..."
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError, OSError):  # OSError: a name too long for a path
        raise ValueError(f"unknown time zone {shown!r} (e.g. UTC, Europe/Berlin)") from None
    return value


CronExpression = Annotated[str, Field(max_length=MAX_CRON_LENGTH), AfterValidator(_cron_expression)]


class CronSpec(Model):
    """Fire at the instants of a cron schedule (in `timezone`)."""

    schedule: CronExpression
    timezone: Annotated[str, AfterValidator(_timezone)] = "UTC"
    catch_up: bool = Field(
        default=True, description="after downtime, run a missed instant once (else skip it)"
    )


class PollSpec(Model):
    """Fire every `every` (instants aligned to the epoch). With `component` and `trigger`, each
    tick asks that component trigger, which answers ready (with a payload) or pending."""

    every: Duration
    catch_up: bool = True
    component: str | None = None
    trigger: str | None = None

    @model_validator(mode="after")
    def _positive(self) -> PollSpec:
        if self.every <= 0:
            raise ValueError("`every` must be more than 0")
        if (self.component is None) != (self.trigger is None):
            raise ValueError("a component poll names both `component` and `trigger`")
        return self


class Trigger(Model):
    type: Literal["manual", "webhook", "poll", "cron"] = "manual"
    schema_: dict[str, Any] | None = Field(default=None, alias="schema")
    context: dict[str, Any] = Field(default_factory=dict)
    webhook: WebhookSpec | None = None
    poll: PollSpec | None = None
    cron: CronSpec | None = None

    @model_validator(mode="after")
    def _spec_for_type(self) -> Trigger:
        if self.type != "manual" and getattr(self, self.type) is None:
            raise ValueError(f"a {self.type} trigger needs `{self.type}:` settings")
        return self

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class WorkflowDef(Model):
    """A workflow file, as written."""

    name: str = Field(pattern=NAME_PATTERN)
    version: int = Field(default=1, ge=1, le=MAX_VERSION)
    description: str | None = None
    timeout: Duration | None = None
    defaults: Defaults = Field(default_factory=Defaults)
    components: dict[str, str] = Field(default_factory=dict)
    trigger: Trigger = Field(default_factory=Trigger)
    nodes: dict[str, Node] = Field(min_length=1)
    on_success: StringList = Field(
        default_factory=list, description="nodes that run after the execution completes"
    )
    on_failure: StringList = Field(
        default_factory=list, description="nodes that run after the execution fails or times out"
    )
