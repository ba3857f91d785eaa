"""`python` nodes in the workflow format: their shapes, and the checks locking makes of their
code (compiled on the host, never run), each placed in the file the user wrote."""

from __future__ import annotations

import textwrap

import pytest

from fuchsia.definition import parse_text, validate
from fuchsia.definition.python import check_code
from fuchsia.errors import DefinitionError


def problems(text: str) -> list[str]:
    source = parse_text(textwrap.dedent(text), "w.yaml")
    with pytest.raises(DefinitionError) as exc:
        validate(source)
    return [str(p) for p in exc.value.problems]


def test_a_python_step_is_inline_code_or_a_file_never_both_or_neither() -> None:
    assert problems("""
        name: w
        nodes:
          both: {python: {code: "def main(): pass", file: s.py}}
          neither: {python: {function: build}}
          bad_name: {python: {file: s.py, function: "not a name"}}
          keyword: {python: {code: "def main(): pass", function: class}}
          caps_on_transform: {transform: 1, capabilities: {allowed_hosts: [api.example.com]}}
          inputs_on_transform: {transform: 1, inputs: {a: 1}}
          bad_size: {python: "x", capabilities: {memory_limit: lots}}
        """) == [
        "w.yaml:4:18: node 'both': python: a python step takes either inline code or `file`, "
        "not both",
        "w.yaml:5:21: node 'neither': python: a python step needs its code inline or a `file`",
        "w.yaml:6:45: node 'bad_name': python.function: String should match pattern "
        "'^[A-Za-z_][A-Za-z0-9_]*$'",
        "w.yaml:7:58: node 'keyword': python.function: 'class' is a Python keyword, which no "
        "function can be named",
        "w.yaml:8:22: node 'caps_on_transform': `capabilities` belongs to python nodes (a "
        "component's are in its manifest)",
        "w.yaml:9:24: node 'inputs_on_transform': `inputs` and `config` belong to component "
        "and python nodes",
        "w.yaml:10:56: node 'bad_size': capabilities.memory_limit: invalid size 'lots': expected "
        "bytes or a size such as 512KiB, 64MiB, 1GiB or 10MB",
    ]


def test_code_that_reads_like_a_template_is_not_checked_as_one() -> None:
    source = parse_text(
        textwrap.dedent("""
        name: w
        nodes:
          fmt:
            python: |
              def main():
                  return "{{ not a template {% at all"
        """),
        "w.yaml",
    )
    assert validate(source).nodes["fmt"].python is not None


def test_a_syntax_error_is_placed_at_its_line_and_column_in_the_file() -> None:
    # code starting at line 10, column 7 of its file (a YAML block indented by six)
    [problem] = check_code("def main():\n    return 1 +* 2\n", "main", "w.yaml", 10, 7, "n")
    assert (problem.line, problem.column) == (11, 7 + 4 + len("return 1 +"))
    assert problem.message == "node 'n': SyntaxError: invalid syntax"


def test_what_only_the_compiler_refuses_is_a_syntax_error_too() -> None:
    [problem] = check_code("return 1\n", "main", "w.yaml", 3, 5, "n")
    assert (problem.line, problem.column) == (3, 5)
    assert "'return' outside function" in problem.message


def test_the_function_may_be_bound_at_the_top_level_in_any_way() -> None:
    for code in (
        "def main(): pass",
        "main = len",
        "from json import dumps as main",
        "try:\n    def main(): pass\nexcept Exception:\n    pass",
        "if True:\n    def main(): pass",
    ):
        assert check_code(code, "main", "w.yaml", 1, 1, "n") == [], code


def test_a_missing_function_names_what_the_step_defines() -> None:
    [problem] = check_code("def helper(): pass\ndef other(): pass\n", "main", "w.yaml", 4, 7, "n")
    assert (problem.line, problem.column) == (4, 7)
    assert "defines no function 'main' (it defines helper, other)" in problem.message


def test_oversized_or_undecodable_code_is_a_problem_not_a_crash() -> None:
    [big] = check_code("x = 1\n" * 200_000, "main", "w.yaml", 1, 1, "n")
    assert "over 1 MiB" in big.message
    [nul] = check_code("def main(): pass\x00", "main", "w.yaml", 1, 1, "n")
    assert "node 'n'" in nul.message


def test_inputs_the_function_cannot_take_by_keyword_are_problems_at_its_def() -> None:
    def mismatches(code: str, inputs: list[str]) -> list[str]:
        return [str(p) for p in check_code(code, "main", "w.yaml", 5, 7, "n", inputs)]

    assert mismatches("def main():\n    return 1\n", ["x"]) == [
        "w.yaml:5:7: node 'n': main() has no parameter 'x', which `inputs` passes"
    ]
    assert mismatches("def main(order, *, rates, limit=3):\n    pass\n", ["limit", "a-b"]) == [
        "w.yaml:5:7: node 'n': the input 'a-b' is not a Python name, and main() takes no **kwargs",
        "w.yaml:5:7: node 'n': main() needs 'order', which `inputs` does not pass",
        "w.yaml:5:7: node 'n': main() needs 'rates', which `inputs` does not pass",
    ]
    assert mismatches("def main(a, /):\n    pass\n", ["a"]) == [
        "w.yaml:5:7: node 'n': main() takes 'a' by position only; a step passes it by keyword"
    ]
    for fine in (
        "def main(**kw):\n    return kw\n",  # any key, even one that is not a name
        "def main(a, b=2, *args, c=3):\n    return a\n",
        "import functools\n\n@functools.cache\ndef main():\n    return 1\n",  # a decorator decides
        "main = print\n",
    ):
        assert mismatches(fine, ["a", "c", "not-a-name"] if "kw" in fine else ["a"]) == [], fine
