"""Tests for toolfoundry.stages.contract: reading a tool's interface from its source."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import pytest

from toolfoundry.core import Finding, ToolSpec
from toolfoundry.stages.contract import (
    NAME_RE,
    RESERVED_NAMES,
    check_args,
    compare_versions,
    parse_tool,
    stage,
    validate,
)

HEADER = '"""A tool."""\nfrom __future__ import annotations\nimport typing\nimport typing as t\n' \
         "from typing import Any, Dict, List, Literal, Optional, Tuple, TypedDict, Union\n" \
         "from typing import List as L\n"


def tool(params: str, returns: str = "str", extra: str = "") -> str:
    return HEADER + extra + f'\ndef run({params}) -> {returns}:\n    """Do it."""\n    raise NotImplementedError\n'


def spec_of(code: str, name: str | None = None) -> ToolSpec:
    spec, findings = parse_tool(code, name=name)
    assert spec is not None, findings
    assert [f for f in findings if f.severity == "error"] == []
    return spec


def def_line(code: str) -> int:
    return next(i for i, line in enumerate(code.splitlines(), 1) if "def run" in line)


def codes(code: str, name: str | None = None) -> list[str]:
    return [f.code for f in parse_tool(code, name=name)[1]]


def finding(code: str, wanted: str, name: str | None = None) -> Finding:
    spec, findings = parse_tool(code, name=name)
    assert spec is None
    matches = [f for f in findings if f.code == wanted]
    assert matches, findings
    assert matches[0].file in ("tool.py", "tool.toml")
    return matches[0]


STRING, INTEGER, NUMBER = {"type": "string"}, {"type": "integer"}, {"type": "number"}
BOOLEAN, NULL = {"type": "boolean"}, {"type": "null"}

ANNOTATIONS: list[tuple[str, dict[str, Any]]] = [
    ("str", STRING), ("int", INTEGER), ("float", NUMBER), ("bool", BOOLEAN), ("None", NULL),
    ("list[int]", {"type": "array", "items": INTEGER}),
    ("List[int]", {"type": "array", "items": INTEGER}),
    ("typing.List[int]", {"type": "array", "items": INTEGER}),
    ("t.List[int]", {"type": "array", "items": INTEGER}),
    ("L[str]", {"type": "array", "items": STRING}),
    ("dict[str, float]", {"type": "object", "additionalProperties": NUMBER}),
    ("Dict[str, list[bool]]", {"type": "object", "additionalProperties": {"type": "array", "items": BOOLEAN}}),
    ("int | str", {"anyOf": [INTEGER, STRING]}),
    ("Union[int, str]", {"anyOf": [INTEGER, STRING]}),
    ("t.Union[int, Union[str, bool]]", {"anyOf": [INTEGER, STRING, BOOLEAN]}),
    ("int | None", {"anyOf": [INTEGER, NULL]}),
    ("Optional[int]", {"anyOf": [INTEGER, NULL]}),
    ("typing.Optional[int | None]", {"anyOf": [INTEGER, NULL]}),
    ('Literal["a", 1, True, None]', {"anyOf": [{"type": "string", "enum": ["a"]}, {"type": "integer", "enum": [1]},
                                               {"type": "boolean", "enum": [True]}, {"type": "null", "enum": [None]}]}),
    ('Literal["only"]', {"type": "string", "const": "only"}),
    ("t.Literal[-1, 2]", {"type": "integer", "enum": [-1, 2]}),
    ("tuple[int, str]", {"type": "array", "prefixItems": [INTEGER, STRING], "minItems": 2, "maxItems": 2}),
    ("Tuple[int, str]", {"type": "array", "prefixItems": [INTEGER, STRING], "minItems": 2, "maxItems": 2}),
    ("tuple[float, ...]", {"type": "array", "items": NUMBER}),
    ("typing.Tuple[float, ...]", {"type": "array", "items": NUMBER}),
    ("Any", {}), ("typing.Any", {}), ("t.Any", {}),
    ('"list[int]"', {"type": "array", "items": INTEGER}),
    ("list['int | None']", {"type": "array", "items": {"anyOf": [INTEGER, NULL]}}),
]


@pytest.mark.parametrize(("annotation", "schema"), ANNOTATIONS)
def test_each_supported_annotation_maps_to_its_exact_schema_as_parameter_and_result(
        annotation: str, schema: dict[str, Any]) -> None:
    spec = spec_of(tool(f"x: {annotation}", returns=annotation))
    assert spec.args_schema == {"type": "object", "properties": {"x": schema}, "required": ["x"],
                                "additionalProperties": False}
    assert spec.result_schema == schema


def test_a_spec_carries_name_function_docs_params_signature_and_imports() -> None:
    code = '"""Wraps text."""\nimport textwrap\nfrom math import floor\n\n' \
           'def wrap(text: str, width: int = 80, *, sep: str = "\\n") -> list[str]:\n' \
           '    """Wrap text to a width."""\n    return textwrap.wrap(text, width)\n'
    spec = spec_of(code)
    assert (spec.name, spec.function, spec.description, spec.module_doc) == (
        "wrap", "wrap", "Wrap text to a width.", "Wraps text.")
    assert spec.signature == "(text: str, width: int = 80, *, sep: str = '\\n') -> list[str]"
    assert spec.imports == ("math", "textwrap")
    assert [(p.name, p.annotation, p.required) for p in spec.params] == [
        ("text", "str", True), ("width", "int", False), ("sep", "str", False)]
    assert spec.args_schema["required"] == ["text"]


def test_the_requested_name_overrides_the_function_name() -> None:
    assert spec_of(tool("x: int"), name="my_tool").name == "my_tool"


def test_defaults_become_schema_defaults_and_tuples_become_lists() -> None:
    spec = spec_of(tool('a: int = -3, b: float = 1, c: list[str] = ["x"], d: dict[str, int] = {"k": 1}, '
                        "e: tuple[int, int] = (1, 2), f: str | None = None, g: bool = False"))
    props = spec.args_schema["properties"]
    assert [props[k]["default"] for k in "abcdefg"] == [-3, 1, ["x"], {"k": 1}, [1, 2], None, False]
    assert props["f"] == {"anyOf": [STRING, NULL], "default": None}
    assert spec.args_schema["required"] == []


def test_string_annotations_give_the_same_schema_and_signature_as_plain_ones() -> None:
    quoted = spec_of(tool('x: "list[int]", y: "int" = 2', returns='"str | None"'))
    plain = spec_of(tool("x: list[int], y: int = 2", returns="str | None"))
    assert (quoted.args_schema, quoted.result_schema) == (plain.args_schema, plain.result_schema)
    assert quoted.signature == plain.signature == "(x: list[int], y: int = 2) -> str | None"


def test_typeddict_becomes_a_closed_object_with_required_keys() -> None:
    extra = "\nclass Point(TypedDict):\n    x: int\n    y: float\n"
    spec = spec_of(tool("p: Point", returns="list[Point]", extra=extra))
    point = {"type": "object", "properties": {"x": INTEGER, "y": NUMBER}, "required": ["x", "y"],
             "additionalProperties": False}
    assert spec.args_schema["properties"]["p"] == point
    assert spec.result_schema == {"type": "array", "items": point}


def test_typeddict_total_false_required_notrequired_and_inheritance() -> None:
    extra = ("\nfrom typing import NotRequired, Required\n"
             "class Base(t.TypedDict, total=False):\n    a: int\n    b: Required[str]\n"
             "class Child(Base):\n    c: bool\n    d: 'NotRequired[float]'\n")
    schema = spec_of(tool("c: Child", extra=extra)).args_schema["properties"]["c"]
    assert schema == {"type": "object", "properties": {"a": INTEGER, "b": STRING, "c": BOOLEAN, "d": NUMBER},
                      "required": ["b", "c"], "additionalProperties": False}


def test_missing_module_docstring_is_only_a_warning() -> None:
    code = 'def run(x: int) -> int:\n    """Do it."""\n    return x\n'
    spec, findings = parse_tool(code)
    assert spec is not None
    assert [(f.code, f.severity) for f in findings] == [("contract.no-module-docstring", "warning")]


def test_syntax_error_is_a_finding_with_its_line() -> None:
    found = finding('"""Doc."""\n\ndef run(x: int -> int:\n    pass\n', "contract.syntax")
    assert found.line == 3


def test_module_without_public_function_is_rejected() -> None:
    finding('"""Doc."""\n\ndef _helper(x: int) -> int:\n    """H."""\n    return x\n', "contract.no-public-function")


def test_two_public_functions_are_named_with_their_lines() -> None:
    code = tool("x: int") + '\ndef other(y: int) -> int:\n    """O."""\n    return y\n'
    found = finding(code, "contract.several-public-functions")
    other = next(i for i, line in enumerate(code.splitlines(), 1) if "def other" in line)
    assert f"run (line {def_line(code)})" in found.message and f"other (line {other})" in found.message


def test_unannotated_parameter_is_named_with_its_line() -> None:
    code = tool("x: int, y")
    found = finding(code, "contract.missing-annotation")
    assert "'y'" in found.message and found.line == def_line(code)


def test_unannotated_return_is_rejected() -> None:
    code = '"""Doc."""\n\ndef run(x: int):\n    """Do it."""\n    return x\n'
    found = finding(code, "contract.missing-annotation")
    assert "return value" in found.message and found.line == 3


@pytest.mark.parametrize(("annotation", "why"), [
    ("set[int]", "sets"), ("frozenset[str]", "sets"), ("bytes", "bytes"), ("_Thing", "class"),
    ("dict[int, str]", "keys"), ("typing.Callable[[int], int]", "function"), ("object", "Any"),
    ("list[complex]", "complex"), ("Unknown", "not a known JSON type"), ('"list[int"', "not a valid"),
])
def test_annotations_that_are_not_json_are_rejected_with_a_reason(annotation: str, why: str) -> None:
    code = tool(f"x: {annotation}", extra="\nclass _Thing:\n    pass\n")
    found = finding(code, "contract.unsupported-annotation")
    assert why in found.message and annotation.strip('"') in found.message
    assert found.line == def_line(code)


def test_star_args_and_kwargs_are_rejected() -> None:
    spec, findings = parse_tool(tool("*args: int, **kwargs: int"))
    assert spec is None
    assert [f.code for f in findings if f.code == "contract.star-args"] == ["contract.star-args"] * 2


def test_positional_only_parameters_are_rejected() -> None:
    assert "contract.positional-only" in codes(tool("x: int, /"))


def test_invalid_requested_name_says_what_is_allowed() -> None:
    found = finding(tool("x: int"), "contract.bad-name", name="My-Tool")
    assert "ASCII letters (either case), digits and underscores" in found.message and found.file == "tool.toml"
    assert "contract.bad-name" in codes(tool("x: int"), name="digit.sum")
    assert NAME_RE.match("a" * 63) and not NAME_RE.match("a" * 64) and not NAME_RE.match("1a")


@pytest.mark.parametrize("reserved", sorted(RESERVED_NAMES))
def test_meta_tool_names_are_reserved(reserved: str) -> None:
    found = finding(tool("x: int"), "contract.reserved-name", name=reserved)
    assert reserved in found.message and found.file == "tool.toml"
    assert "contract.reserved-name" in codes(tool("x: int").replace("def run", f"def {reserved}"))


@pytest.mark.parametrize("default", ["set()", "float('inf')", "b'x'", "[x for x in 'ab']", "1e999",
                                     '"not an int"', "True"])
def test_defaults_that_are_not_json_literals_of_the_right_type_are_rejected(default: str) -> None:
    code = tool(f"x: int = {default}")
    found = finding(code, "contract.bad-default")
    assert found.line == def_line(code) and "default of 'x'" in found.message


def test_public_non_typeddict_class_async_decorated_and_undocumented_functions_are_rejected() -> None:
    assert "contract.public-class" in codes(tool("x: int", extra="\nclass Helper:\n    pass\n"))
    assert "contract.async-function" in codes(tool("x: int").replace("def run", "async def run"))
    assert "contract.decorated" in codes(tool("x: int").replace("def run", "@_deco\ndef run"))
    assert "contract.no-docstring" in codes(tool("x: int").replace('"""Do it."""', "pass"))
    assert "contract.relative-import" in codes(tool("x: int", extra="from . import sibling\n"))


def test_stage_wraps_findings_in_a_timed_contract_verdict() -> None:
    spec, good = stage(tool("x: int"))
    assert spec is not None and good.stage == "contract" and good.ok and good.ms > 0
    spec, bad = stage(tool("x"))
    assert spec is None and not bad.ok and bad.findings[0].code == "contract.missing-annotation"


def test_validate_is_strict_about_json_types() -> None:
    assert validate(INTEGER, True) == ["$: expected integer, got boolean true"]
    assert validate(BOOLEAN, 1) == ["$: expected boolean, got integer 1"]
    assert validate(NUMBER, 1) == []
    assert validate(INTEGER, 1.5) == ["$: expected integer, got number 1.5"]
    assert validate(INTEGER, 1.0) != []
    assert validate(NULL, None) == [] and validate(STRING, None) != []


def test_validate_compares_enum_and_const_with_strict_types() -> None:
    assert validate({"enum": [1, "a"]}, True) != []
    assert validate({"enum": [True, "a"]}, 1) != []
    assert validate({"enum": [True, "a"]}, True) == []
    assert validate({"const": 0}, False) != []


def test_enums_stored_without_a_type_get_one_wherever_they_sit() -> None:
    from toolfoundry.stages.contract.annotations import with_types
    old = {"type": "object", "properties": {
        "mode": {"enum": ["sum", "max"]}, "one": {"const": 3}, "mixed": {"enum": ["a", None, False]},
        "pts": {"type": "array", "items": {"anyOf": [{"enum": [1, 2]}, NULL]}},
        "kw": {"type": "object", "additionalProperties": {"const": "x"}},
        "pair": {"type": "array", "prefixItems": [{"enum": ["a"]}, INTEGER]}, "free": {}},
        "required": ["mode"], "additionalProperties": False}
    typed = with_types(old)
    props = typed["properties"]
    assert props["mode"] == {"type": "string", "enum": ["sum", "max"]}
    assert props["one"] == {"type": "integer", "const": 3}
    assert props["mixed"] == {"anyOf": [{"type": "string", "enum": ["a"]}, {"type": "null", "enum": [None]},
                                        {"type": "boolean", "enum": [False]}]}
    assert validate(props["mixed"], 0) != [] and validate(props["mixed"], False) == []  # strict: 0 is not False
    assert props["pts"]["items"]["anyOf"][0] == {"type": "integer", "enum": [1, 2]}
    assert props["kw"]["additionalProperties"] == {"type": "string", "const": "x"}
    assert props["pair"]["prefixItems"][0] == {"type": "string", "enum": ["a"]}
    assert props["free"] == {} and typed["required"] == ["mode"] and with_types(typed) == typed
    assert validate(props["mode"], "avg") == ['$: expected one of "sum", "max", got string "avg"']


def test_validate_names_nested_paths() -> None:
    schema = {"type": "object", "properties": {"pts": {"type": "array", "items": {
        "type": "object", "properties": {"x": INTEGER}, "required": ["x"], "additionalProperties": False}}},
        "required": ["pts"], "additionalProperties": False}
    assert validate(schema, {"pts": [{"x": 1}, {"x": "2", "y": 0}]}) == [
        '$.pts[1].x: expected integer, got string "2"', "$.pts[1]: unexpected property 'y' (allowed: x)"]
    assert validate(schema, {}) == ["$: missing required property 'pts'"]


def test_validate_checks_tuples_unions_and_additional_properties() -> None:
    pair = {"type": "array", "prefixItems": [INTEGER, STRING], "minItems": 2, "maxItems": 2}
    assert validate(pair, [1, "a"]) == []
    assert validate(pair, [1]) == ["$: expected exactly 2 items, got 1"]
    assert validate(pair, ["a", 1]) == ['$[0]: expected integer, got string "a"',
                                       "$[1]: expected string, got integer 1"]
    maybe = {"anyOf": [{"type": "array", "items": INTEGER}, NULL]}
    assert validate(maybe, None) == [] and validate(maybe, [1]) == []
    assert validate(maybe, [1, "x"]) == ['$[1]: expected integer, got string "x"']
    assert validate(maybe, "x") == ['$: expected array of integer or null, got string "x"']
    assert validate({"type": "object", "additionalProperties": NUMBER}, {"a": 1, "b": "x"}) == [
        '$.b: expected number, got string "x"']


def test_validate_rejects_values_json_cannot_hold_even_for_any() -> None:
    assert validate({}, {"a": [1, None, "x", {"b": True}]}) == []
    assert validate({}, float("nan")) != []
    assert validate(NUMBER, float("inf")) != []
    assert validate({}, {1, 2}) != [] and validate({}, b"x") != []
    assert validate({}, {1: "a"}) != []
    assert validate({"type": "array"}, [float("nan")]) == ["$[0]: nan is not a JSON value (JSON has no NaN or "
                                                          "infinity)"]


def test_check_args_names_missing_unknown_and_mistyped_parameters() -> None:
    spec = spec_of(tool("text: str, width: int = 80"))
    assert check_args(spec, {"text": "hi"}) == []
    assert check_args(spec, {"width": 3}) == ["$: missing required parameter 'text' (str)"]
    assert check_args(spec, {"text": "a", "colour": 1}) == ["$: unknown parameter 'colour'; run takes: text, width"]
    assert check_args(spec, {"text": "a", "width": True}) == ["$.width: expected integer, got boolean true"]
    assert check_args(spec, ["a"])[0].startswith("$: the arguments must be a JSON object")


def test_compare_versions_warns_only_when_the_signature_changes() -> None:
    spec = spec_of(tool("x: int"))
    assert compare_versions(spec.signature, spec) is None
    changed = compare_versions("(x: str) -> str", spec)
    assert changed is not None and changed.code == "contract.signature-changed"
    assert changed.severity == "warning"
    assert "(x: str) -> str" in changed.message and "(x: int) -> str" in changed.message


def test_parse_tool_never_executes_the_code(tmp_path: Path) -> None:
    canary = tmp_path / "canary"
    code = textwrap.dedent(f'''\
        """Tries to run at import."""
        open({str(canary)!r}, "w").write("ran")

        def run(x: int = __import__("os").system("touch {canary}")) -> int:
            """D."""
            return x
        ''')
    parse_tool(code)
    stage(code)
    assert not canary.exists()


def test_validate_checks_string_lengths_and_number_ranges() -> None:
    text = {"type": "string", "minLength": 1, "maxLength": 3}
    assert validate(text, "") == ["$: must have at least 1 characters, got 0"]
    assert validate(text, "abcd") == ["$: must have at most 3 characters, got 4"]
    assert validate(text, "abc") == []
    limit = {"type": "integer", "minimum": 1, "maximum": 20}
    assert validate(limit, 0) == ["$: must be at least 1, got 0"]
    assert validate(limit, 21) == ["$: must be at most 20, got 21"]
    assert validate(limit, 20) == [] and validate(limit, True) == ["$: expected integer, got boolean true"]
