"""Reading workflow files: data with positions, duplicate keys, and one clear line for bad files."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import pytest

from fuchsia.definition import source as source_module
from fuchsia.definition.source import Source, parse_text, read_file
from fuchsia.errors import DefinitionError, Problem


def parse(text: str, file: str = "w.yaml") -> Source:
    return parse_text(textwrap.dedent(text), file, is_json=file.endswith(".json"))


def only_problem(exc: pytest.ExceptionInfo[DefinitionError]) -> str:
    assert len(exc.value.problems) == 1, exc.value.problems
    return str(exc.value.problems[0])


def read_problem(path: Path) -> str:
    with pytest.raises(DefinitionError) as exc:
        read_file(path)
    return only_problem(exc)


# --- positions -----------------------------------------------------------------------------


def test_yaml_values_and_keys_keep_their_line_and_column() -> None:
    src = parse("""\
        name: demo
        nodes:
          first:
            transform: {a: 1, b: [x, "y"]}
          second:
            after: first
            transform: 2
        """)
    assert src.data["nodes"]["first"]["transform"] == {"a": 1, "b": ["x", "y"]}
    assert src.values[("name",)] == (1, 7)
    assert src.keys[("nodes", "first")] == (3, 3)
    assert src.values[("nodes", "first")] == (4, 5)
    assert src.values[("nodes", "first", "transform", "a")] == (4, 20)
    assert src.values[("nodes", "first", "transform", "b", 1)] == (4, 30)
    assert src.keys[("nodes", "second", "after")] == (6, 5)
    assert src.values[("nodes", "second", "after")] == (6, 12)
    assert src.problems == []


def test_json_values_and_keys_keep_their_line_and_column() -> None:
    text = '{\n  "name": "demo",\n  "nodes": {\n    "a": {"transform": [1, 2]}\n  }\n}\n'
    src = parse_text(text, "w.json", is_json=True)
    assert src.data == {"name": "demo", "nodes": {"a": {"transform": [1, 2]}}}
    assert src.values[("name",)] == (2, 11)
    assert src.keys[("nodes", "a")] == (4, 5)
    assert src.values[("nodes", "a", "transform", 1)] == (4, 28)


def test_position_falls_back_to_the_nearest_recorded_enclosing_value() -> None:
    src = parse("""\
        name: demo
        nodes:
          a: {transform: 1}
        """)
    assert src.position(("nodes", "a", "not", "there")) == (3, 6)
    assert src.position(("nodes", "a"), key=True) == (3, 3)
    assert src.problem(("nodes", "a"), "msg", key=True) == Problem("w.yaml", 3, 3, "msg")


def test_a_literal_block_value_starts_on_its_first_content_line() -> None:
    src = parse("""\
        name: demo
        nodes:
          a:
            transform:
              text: |
                line one
                line two
        """)
    assert src.data["nodes"]["a"]["transform"]["text"] == "line one\nline two\n"
    assert src.values[("nodes", "a", "transform", "text")] == (6, 9)


@pytest.mark.parametrize("word", ["yes", "no", "on", "off", "y", "n", "true", "False", "NO"])
def test_a_key_that_yaml_11_reads_as_a_boolean_is_the_word_written(word: str) -> None:
    src = parse(f"""\
        name: demo
        nodes:
          {word}:
            transform: {{{word}: {word}}}
            context: {{{word}: 1}}
            http: {{url: x, headers: {{{word}: v}}}}
        """)
    node = src.data["nodes"][word]
    assert list(node["transform"]) == [word]
    assert list(node["context"]) == [word]
    assert list(node["http"]["headers"]) == [word]
    assert src.keys[("nodes", word)] == (3, 3)
    assert src.problems == []


@pytest.mark.parametrize(
    ("key", "kind"),
    [
        ("1", "a number"),
        ("2.5", "a number"),
        ("0x1f", "a number"),
        ("null", "null"),
        ("~", "null"),
        ("2024-01-01", "a date"),
    ],
)
def test_a_key_that_is_not_a_string_is_a_located_problem(key: str, kind: str) -> None:
    src = parse(f"""\
        name: demo
        nodes:
          a:
            transform: {{ok: 1, {key}: one}}
        """)
    assert src.data["nodes"]["a"]["transform"] == {"ok": 1}
    assert [str(p) for p in src.problems] == [
        f"w.yaml:4:24: a mapping key must be a string, not {kind}; quote it: '{key}'"
    ]


def test_a_quoted_number_key_is_a_string() -> None:
    src = parse("""\
        name: demo
        nodes:
          a: {transform: {"1": one, '2.5': half, "null": x}}
        """)
    assert src.data["nodes"]["a"]["transform"] == {"1": "one", "2.5": "half", "null": "x"}
    assert src.problems == []


def test_a_yaml_merge_key_is_a_located_problem() -> None:
    src = parse("""\
        name: demo
        base: &base {a: 1}
        nodes:
          a: {transform: {<<: *base, b: 2}}
        """)
    assert [str(p) for p in src.problems] == [
        "w.yaml:4:19: YAML merge keys (<<) are not supported; write the keys out"
    ]


def test_a_key_that_is_a_collection_is_a_problem() -> None:
    src = parse("""\
        name: demo
        ? [a, b]
        : value
        """)
    assert [str(p) for p in src.problems] == [
        "w.yaml:2:3: a mapping key must be a string, not a list or a mapping"
    ]


# --- syntax errors -------------------------------------------------------------------------


def test_yaml_syntax_error_gives_its_line_and_column() -> None:
    with pytest.raises(DefinitionError) as exc:
        parse("""\
            name: demo
            nodes:
              a: {transform: [1, 2}
            """)
    assert only_problem(exc) == "w.yaml:3:23: invalid YAML: expected ',' or ']', but found '}'"


def test_tab_indentation_in_yaml_is_a_syntax_error_with_position() -> None:
    with pytest.raises(DefinitionError) as exc:
        parse_text("name: demo\nnodes:\n\ta: 1\n", "w.yaml")
    assert only_problem(exc).startswith("w.yaml:3:1: invalid YAML: found character '\\t'")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            '{\n  "name": "demo",\n  "nodes": {,}\n}',
            "w.json:3:13: invalid JSON: Expecting property name enclosed in double quotes",
        ),
        ('{"name": "demo",}', "w.json:1:17: invalid JSON: "),
        ('{"name": "demo"\n "nodes": {}}', "w.json:2:2: invalid JSON: Expecting ',' delimiter"),
        ("{'name': 'demo'}", "w.json:1:2: invalid JSON: Expecting property name enclosed in"),
        ("name: demo\n", "w.json:1:1: invalid JSON: Expecting value"),
    ],
)
def test_json_syntax_error_gives_its_line_and_column(text: str, expected: str) -> None:
    with pytest.raises(DefinitionError) as exc:
        parse_text(text, "w.json", is_json=True)
    assert only_problem(exc).startswith(expected)


def test_more_than_one_yaml_document_is_one_problem() -> None:
    with pytest.raises(DefinitionError) as exc:
        parse("name: a\n---\nname: b\n")
    assert only_problem(exc) == "w.yaml:2:1: invalid YAML: but found another document"


# --- JSON read as JSON ---------------------------------------------------------------------


def test_tab_indented_json_is_accepted_with_positions() -> None:
    text = '{\n\t"name": "demo",\n\t"nodes": {\n\t\t"a": {"transform": 1}\n\t}\n}\n'
    src = parse_text(text, "w.json", is_json=True)
    assert src.data == {"name": "demo", "nodes": {"a": {"transform": 1}}}
    assert src.keys[("nodes", "a")] == (4, 3)


def test_json_numbers_in_exponent_form_are_numbers() -> None:
    text = '{"name": "demo", "nodes": {"a": {"transform": [1e3, 2E+2, 1.5e-1, -0.0, 7]}}}'
    src = parse_text(text, "w.json", is_json=True)
    assert src.data["nodes"]["a"]["transform"] == [1000.0, 200.0, 0.15, -0.0, 7]


def test_json_string_escapes_read_as_json_defines_them() -> None:
    text = r'{"name": "demo", "nodes": {"a": {"transform": ["\ud83d\ude00", "a\/b", "\u00e9"]}}}'
    src = parse_text(text, "w.json", is_json=True)
    assert src.data["nodes"]["a"]["transform"] == ["\U0001f600", "a/b", "é"]
    assert src.problems == []


@pytest.mark.parametrize(
    ("text", "file", "position"),
    [
        ('{"name": "demo",\n "nodes": {"a": {"transform": "\\ude00"}}}', "w.json", "2:31"),
    ],
)
def test_an_unpaired_surrogate_is_a_problem_not_a_crash(
    text: str, file: str, position: str
) -> None:
    src = parse_text(text, file, is_json=file.endswith(".json"))
    [problem] = src.problems
    assert str(problem).startswith(f"{file}:{position}: the string holds an unpaired surrogate")


# --- hostile structure ---------------------------------------------------------------------


def test_a_yaml_alias_bomb_is_one_problem(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(source_module, "MAX_ALIAS_VALUES", 1000)
    levels = ['a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for i in range(1, 9):
        levels.append(f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]")
    with pytest.raises(DefinitionError) as exc:
        parse_text("\n".join(levels) + "\nname: demo\n", "w.yaml")
    assert "YAML aliases expand to more than 1000 values" in only_problem(exc)


@pytest.mark.parametrize(
    "text",
    [
        "name: demo\nnodes:\n  a:\n    transform: &loop [1, *loop]\n",
        "name: demo\nnodes: &loop\n  a:\n    transform: 1\n    again: *loop\n",
    ],
)
def test_a_recursive_yaml_alias_is_one_problem(text: str) -> None:
    with pytest.raises(DefinitionError) as exc:
        parse_text(text, "w.yaml")
    assert "a YAML alias refers to a value that contains it" in only_problem(exc)


def test_a_surrogate_escape_in_yaml_is_a_located_syntax_error() -> None:
    with pytest.raises(DefinitionError) as exc:
        parse_text('name: demo\nnodes:\n  a: {transform: "x\\ud83d"}\n', "w.yaml")
    assert only_problem(exc) == (
        "w.yaml:3:22: invalid YAML: found invalid Unicode character escape code"
    )


@pytest.mark.parametrize(
    ("text", "file", "position"),
    [
        ("[" * 10_000 + "]" * 10_000, "w.json", "1:1001"),
        ("[" * 10_000 + "]" * 10_000, "w.yaml", "1:1001"),
        ("[" * 101 + "]" * 101, "w.json", "1:101"),
        ("a: " + "[" * 101 + "]" * 101, "w.yaml", "1:103"),
        ('{"a": ' * 101 + "1" + "}" * 101, "w.json", "1:596"),
        ("a:\n" + "".join("  " * i + "k:\n" for i in range(1, 2000)), "w.yaml", "1000:2000"),
        (
            "a:\n" + "".join("  " * i + "k:\n" for i in range(1, 101)) + "  " * 101 + "v",
            "w.yaml",
            "100:199",
        ),
    ],
)
def test_a_file_nested_too_deeply_is_one_located_problem(
    text: str, file: str, position: str
) -> None:
    with pytest.raises(DefinitionError) as exc:
        parse_text(text, file, is_json=file.endswith(".json"))
    assert only_problem(exc) == f"{file}:{position}: the file is nested more than 100 levels deep"


def test_nesting_up_to_the_limit_is_accepted() -> None:
    src = parse_text("a: " + "[" * 99 + "]" * 99, "w.yaml")
    assert src.problems == []


@pytest.mark.parametrize(
    ("text", "file", "position"),
    [
        ("name: demo\nversion: " + "9" * 5000 + "\n", "w.yaml", "2:10"),
        ("name: demo\nnodes:\n  a: {transform: [-" + "1" * 101 + "]}\n", "w.yaml", "3:19"),
        ('{"name": "demo",\n "version": ' + "9" * 5000 + "}", "w.json", "2:13"),
        ('{"name": "demo", "x": [1.' + "5" * 200 + "]}", "w.json", "1:24"),
    ],
)
def test_a_number_with_too_many_digits_is_a_located_problem(
    text: str, file: str, position: str
) -> None:
    src = parse_text(text, file, is_json=file.endswith(".json"))
    assert [str(p) for p in src.problems] == [
        f"{file}:{position}: a number with more than 100 digits"
    ]


def test_a_number_of_one_hundred_digits_is_a_number() -> None:
    src = parse_text("name: demo\nx: " + "9" * 100 + "\n", "w.yaml")
    assert src.data["x"] == int("9" * 100)
    assert src.problems == []


# --- unusable files ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "name", "message"),
    [
        (b"", "empty.yaml", "the file is empty; expected a workflow mapping"),
        (b"  \n\n\t\n", "blank.yaml", "the file is empty; expected a workflow mapping"),
        (b"# only a comment\n", "comment.yaml", "the file holds no document"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "image.yaml", "a binary file, not a YAML"),
        (b"name: caf\xe9\n", "latin1.yaml", "not UTF-8 text (byte 9); save the file as UTF-8"),
        (b"- a\n- b\n", "list.yaml", "must be a mapping at the top level, not a list"),
        (b"just words\n", "scalar.yaml", "must be a mapping at the top level, not a str"),
        (b"42\n", "number.json", "must be a mapping at the top level, not a int"),
        (b"[1, 2]", "list.json", "must be a mapping at the top level, not a list"),
        (b"", "empty.json", "the file is empty; expected a workflow mapping"),
    ],
)
def test_unusable_file_gives_one_clear_problem_at_its_start(
    tmp_path: Path, content: bytes, name: str, message: str
) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    problem = read_problem(path)
    assert problem.startswith(f"{path}:1:1: ")
    assert message in problem


def test_a_missing_file_is_one_problem(tmp_path: Path) -> None:
    path = tmp_path / "nowhere.yaml"
    assert read_problem(path) == f"{path}:1:1: no such file"


def test_a_directory_is_one_problem(tmp_path: Path) -> None:
    assert read_problem(tmp_path) == f"{tmp_path}:1:1: is a directory, not a workflow file"


def test_a_file_over_the_size_limit_is_one_problem(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(source_module, "MAX_FILE_BYTES", 100)
    path = tmp_path / "big.yaml"
    path.write_text("name: demo\n" + "# padding\n" * 20)
    assert read_problem(path) == f"{path}:1:1: the file is larger than 100 bytes"


def test_a_utf8_byte_order_mark_is_accepted(tmp_path: Path) -> None:
    path = tmp_path / "bom.yaml"
    path.write_bytes(b"\xef\xbb\xbfname: demo\nnodes:\n  a: {transform: 1}\n")
    src = read_file(path)
    assert src.data["name"] == "demo"
    assert src.values[("name",)] == (1, 7)


def test_a_json_file_is_read_as_json_by_its_extension(tmp_path: Path) -> None:
    path = tmp_path / "flow.json"
    path.write_text('{"name": "demo", "nodes": {"a": {"transform": 1e2}}}')
    src = read_file(path)
    assert src.file == str(path)
    assert src.data["nodes"]["a"]["transform"] == 100.0


def test_text_over_the_size_limit_is_one_problem_as_a_file_is(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(source_module, "MAX_FILE_BYTES", 100)
    with pytest.raises(DefinitionError) as exc:
        parse_text("name: demo\n" + "# é\n" * 30, "<request>")  # 131 characters, 161 bytes
    assert only_problem(exc) == "<request>:1:1: the source is larger than 100 bytes"
    with pytest.raises(DefinitionError) as exc:
        parse_text("name: demo\n" + "# é\n" * 20, "<request>")  # 91 characters, 111 bytes
    assert only_problem(exc) == "<request>:1:1: the source is larger than 100 bytes"


def test_a_nul_character_in_text_is_a_binary_file() -> None:
    with pytest.raises(DefinitionError) as exc:
        parse_text("name: demo\x00\n", "<request>")
    assert only_problem(exc) == "<request>:1:1: a binary file, not a YAML or JSON workflow"


def test_a_control_character_is_a_located_problem() -> None:
    with pytest.raises(DefinitionError) as exc:
        parse_text('name: demo\nnodes: {a: {transform: "x\x07"}}\n', "w.yaml")
    assert only_problem(exc) == (
        "w.yaml:2:26: invalid YAML: character '\\x07' is not allowed "
        "(control characters are not allowed)"
    )


def test_parsing_leaves_the_garbage_collector_as_it_found_it() -> None:
    import gc

    assert gc.isenabled()
    parse_text("name: demo\nnodes: {a: {transform: 1}}\n", "w.yaml")
    assert gc.isenabled()
    with pytest.raises(DefinitionError):
        parse_text("name: demo\nnodes: {a: [1}\n", "w.yaml")
    assert gc.isenabled()
    gc.disable()
    try:
        parse_text("name: demo\nnodes: {a: {transform: 1}}\n", "w.yaml")
        assert not gc.isenabled()
    finally:
        gc.enable()


# --- cost ------------------------------------------------------------------------------------


_BOOL_AND_NULL = "yes Yes YES no No NO true True TRUE false False FALSE on On ON off Off OFF"
_NEAR_MISSES = "yES oN nULL nope transform true1 falsey NULL! n y _x t f o"
_OTHERS = ["~", "", "12", "012", "0x1f", "1_000", "1.5", ".inf", "-3", "+4", "2001-12-14"]


@pytest.mark.parametrize(
    "scalar",
    [
        *f"{_BOOL_AND_NULL} null Null NULL".split(),
        *_NEAR_MISSES.split(),
        *_OTHERS,
        *["<<", "=", "a b", "0", "7", "é", "{{ x }}"],
    ],
)
def test_scalars_resolve_as_the_safe_loader_resolves_them(scalar: str) -> None:
    import yaml

    ours, theirs = source_module._Loader(""), yaml.SafeLoader("")  # theirs: pure Python
    resolve: Any = theirs.resolve
    for implicit in [(True, False), (False, True), (False, False)]:
        expected = resolve(yaml.ScalarNode, scalar, implicit)
        assert ours.resolve(yaml.ScalarNode, scalar, implicit) == expected, (scalar, implicit)
    ours.dispose()


def test_parsed_data_skips_the_young_collections() -> None:
    import gc

    src = parse("""\
        name: demo
        nodes:
          a: {transform: {v: 1}}
        """)
    young = {id(o) for o in gc.get_objects(generation=0)}
    assert id(src.data) not in young and id(src.values) not in young
    assert src.data in gc.get_objects(generation=2)


def test_objects_a_program_froze_stay_frozen() -> None:
    import gc

    kept = [object()]  # a container made before the program freezes
    gc.freeze()
    try:
        parse("name: demo\nnodes:\n  a: {transform: 1}\n")
        assert all(id(kept) not in {id(o) for o in gc.get_objects(g)} for g in range(3))
    finally:
        gc.unfreeze()
