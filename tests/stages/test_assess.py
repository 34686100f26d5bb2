"""Capability assessment: FTS5 tool search, the fit rule, and capability requests from a model."""

from __future__ import annotations

from pathlib import Path

import pytest

from toolfoundry.core import Example, Interface, Permissions, ToolRef
from toolfoundry.errors import UsageError
from toolfoundry.stages.assess import assess
from toolfoundry.store.registry import DeployedTool
from toolfoundry.store.search import ToolIndex, content_words
from toolfoundry.surfaces.metatools import (
    REQUEST_CAPABILITY_TOOL,
    CapabilityRequest,
    parse_need_integration,
    parse_request_capability,
)


def spec(name: str, description: str, params: dict[str, str], result: str = "string") -> dict[str, object]:
    sig = ", ".join(f"{p}: {'str' if t == 'string' else t}" for p, t in params.items())
    return {
        "name": name, "function": name, "description": description,
        "signature": f"({sig}) -> {result}",
        "args_schema": {"type": "object", "properties": {p: {"type": t} for p, t in params.items()},
                        "required": list(params)},
        "result_schema": {"type": result},
    }


TOOLS = {
    "slugify": spec("slugify", "Turn a title into a URL slug: lowercase ASCII words joined by hyphens.",
                    {"title": "string"}),
    "word_stats": spec("word_stats", "Count the words, distinct words and sentences in a text.",
                       {"text": "string"}, "object"),
    "fetch_status": spec("fetch_status", "Fetch a URL over HTTP and return its status code.",
                         {"url": "string", "timeout": "number"}, "integer"),
    "celsius_to_fahrenheit": spec("celsius_to_fahrenheit",
                                  "Convert a temperature in degrees Celsius to degrees Fahrenheit.",
                                  {"celsius": "number"}, "number"),
    "parse_iso_date": spec("parse_iso_date", "Parse an ISO 8601 date string into year, month and day.",
                           {"value": "string"}, "object"),
    "extract_emails": spec("extract_emails", "Find every email address in a text, in order of appearance.",
                           {"text": "string"}, "array"),
    "markdownToHtml": spec("markdownToHtml", "Convert Markdown text to HTML.", {"markdown": "string"}),
}


def deployed(name: str, version: int = 1, description: str | None = None) -> DeployedTool:
    s = dict(TOOLS[name])
    if description is not None:
        s["description"] = description
    return DeployedTool(ref=ToolRef(name=name, version=version, sha256="0" * 64, commit="c" * 40),
                        request_id=f"req-{name}-{version}", interface=Interface.from_json(s), permissions=Permissions(),
                        deployed_at="2025-01-01T00:00:00+00:00", active=True)


@pytest.fixture
def index(tmp_path: Path) -> ToolIndex:
    idx = ToolIndex(tmp_path / "foundry.db")
    idx.rebuild(deployed(n) for n in TOOLS)
    return idx


# ── search ──


FITS = [
    ("turn a blog post title into a url slug", "slugify"),
    ("convert temperature from C to F", "celsius_to_fahrenheit"),
    ("how many words are in this text", "word_stats"),
    ("count words in a text", "word_stats"),
    ("parse a date like 2024-05-01", "parse_iso_date"),
    ("extract email addresses from text", "extract_emails"),
    ("render markdown as html", "markdownToHtml"),
    ("celsius to fahrenheit", "celsius_to_fahrenheit"),
    ("slugify", "slugify"),
]
LOOSE = [  # ranked first, but too loose a paraphrase to be called a fit: the rule errs towards generating
    ("get the HTTP status code of a web page URL", "fetch_status"),
    ("pull all email addresses out of a document", "extract_emails"),
    ("make a url slug from a heading", "slugify"),
]


@pytest.mark.parametrize(("need", "tool"), FITS + LOOSE)
def test_paraphrased_need_ranks_the_right_tool_first(index: ToolIndex, need: str, tool: str) -> None:
    matches = index.search(need)
    assert matches and matches[0].name == tool


@pytest.mark.parametrize(("need", "tool"), FITS)
def test_paraphrased_need_is_assessed_as_fitting_the_existing_tool(index: ToolIndex, need: str, tool: str) -> None:
    result = assess(index, need)
    assert result.existing is not None and result.existing.name == tool, result.reason
    assert result.reason.startswith(f"{tool} matches {need!r} (")
    assert result.candidates[0].name == tool


@pytest.mark.parametrize(("need", "tool"), LOOSE)
def test_loose_paraphrase_is_not_a_fit_but_keeps_the_tool_as_candidate(index: ToolIndex, need: str,
                                                                         tool: str) -> None:
    result = assess(index, need)
    assert result.existing is None and result.candidates[0].name == tool
    assert f"best was {tool} (weak" in result.reason


@pytest.mark.parametrize(("need", "near_miss"), [
    ("send an email", "extract_emails"),                       # one word in common
    ("convert a PDF file to plain text", "markdownToHtml"),    # only the common words covered
    ("count the syllables in a word", "word_stats"),           # the decisive word is missing
    ("validate an email address", "extract_emails"),           # right object, wrong action
    ("parse a cron expression", "parse_iso_date"),
    ("convert miles to kilometres", "celsius_to_fahrenheit"),
    ("fetch the weather forecast for a city", "fetch_status"),
    ("count the lines of a csv file", "word_stats"),
])
def test_unrelated_or_near_miss_need_is_not_a_fit(index: ToolIndex, need: str, near_miss: str) -> None:
    result = assess(index, need)
    assert result.existing is None, result.reason
    assert near_miss in {m.name for m in result.candidates}


def test_search_returns_spec_fields_and_orders_by_bm25(index: ToolIndex) -> None:
    matches = index.search("convert text", limit=10)
    assert [m.score for m in matches] == sorted(m.score for m in matches)
    top = index.search("celsius fahrenheit")[0]
    assert (top.name, top.version, top.signature) == ("celsius_to_fahrenheit", 1, "(celsius: number) -> number")
    assert top.description.startswith("Convert a temperature")
    assert top.in_name and top.in_description and top.matched == ("celsius", "fahrenheit")
    assert 0.0 <= top.relevance <= 1.0 and top.relevance == 1.0


def test_snake_and_camel_case_names_are_searchable_by_their_words(index: ToolIndex) -> None:
    assert index.search("iso date")[0].name == "parse_iso_date"
    assert index.search("markdown to html")[0].name == "markdownToHtml"
    assert index.search("markdownToHtml")[0].name == "markdownToHtml"
    assert index.search("slug")[0].name == "slugify"


def test_argument_names_are_searched_but_weigh_less_than_the_name(index: ToolIndex) -> None:
    assert index.search("timeout")[0].name == "fetch_status"  # only an argument name
    names = [m.name for m in index.search("title", limit=3)]
    assert names[0] == "slugify"


def test_unrelated_need_has_no_existing_tool_and_names_the_weak_candidate(index: ToolIndex) -> None:
    result = assess(index, "send an email")
    assert result.existing is None
    assert result.candidates and result.candidates[0].name == "extract_emails"
    assert "no deployed tool matches 'send an email'; best was extract_emails (weak" in result.reason


def test_need_sharing_only_common_words_does_not_fit(index: ToolIndex) -> None:
    # markdownToHtml covers "convert" and "text", but not the rare, decisive "pdf".
    result = assess(index, "convert a PDF file to plain text")
    assert result.existing is None, result.reason
    assert result.candidates


def test_need_with_no_shared_word_has_no_candidates(index: ToolIndex) -> None:
    result = assess(index, "transcribe audio recordings")
    assert result == type(result)(existing=None, candidates=(), reason=result.reason)
    assert "no deployed tool shares a word" in result.reason


def test_need_of_only_stop_words_finds_nothing(index: ToolIndex) -> None:
    assert index.search("a tool that does the thing") == []
    assert index.search("") == []
    result = assess(index, "the tool to use")
    assert result.existing is None and "no searchable words" in result.reason


def test_a_stricter_threshold_rejects_a_partial_match(index: ToolIndex) -> None:
    assert assess(index, "turn a blog post title into a url slug", threshold=0.95).existing is None


def test_content_words_drop_stop_words_and_split_identifiers() -> None:
    assert content_words("A tool that converts getHTTPStatus and word_count to the C/F") == [
        "converts", "get", "http", "status", "word", "count"]


# ── keeping the index in sync ──


def test_upsert_replaces_the_previous_version(index: ToolIndex) -> None:
    index.upsert("slugify", 2, deployed("slugify", 2, "Make a permalink from a headline.").interface.to_json())
    assert index.search("permalink headline")[0].name == "slugify"
    assert index.search("permalink")[0].version == 2
    assert all(m.name != "slugify" for m in index.search("hyphens lowercase ascii"))
    assert [m.name for m in index.search("slugify", limit=10)].count("slugify") == 1


def test_remove_drops_the_tool_and_ignores_unknown_names(index: ToolIndex) -> None:
    index.remove("fetch_status")
    index.remove("no_such_tool")
    assert all(m.name != "fetch_status" for m in index.search("fetch http status code url", limit=10))


def test_rebuild_is_idempotent_and_follows_the_registry(tmp_path: Path) -> None:
    idx = ToolIndex(tmp_path / "foundry.db")
    tools = [deployed(n) for n in TOOLS]
    idx.rebuild(tools)
    first = [(m.name, m.score) for m in idx.search("convert text words", limit=10)]
    idx.rebuild(tools)
    idx.rebuild(iter(tools))
    assert [(m.name, m.score) for m in idx.search("convert text words", limit=10)] == first
    idx.rebuild([deployed("word_stats", 3, "Count lines in a text."), deployed("slugify")])
    assert {m.name for m in idx.search("convert text words count lines slug title", limit=10)} == {
        "word_stats", "slugify"}
    assert idx.search("lines")[0].version == 3
    idx.rebuild([])
    assert idx.search("slug") == []


def test_relevance_follows_changes_made_through_another_connection(tmp_path: Path) -> None:
    reader, writer = ToolIndex(tmp_path / "foundry.db"), ToolIndex(tmp_path / "foundry.db")
    writer.rebuild(deployed(n) for n in TOOLS)
    before = reader.search("count syllables in a text")[0]
    for i in range(20):
        writer.upsert(f"text_tool_{i}", 1, {"description": f"Reverse a text, variant {i}."})
    after = reader.search("count syllables in a text")[0]
    fresh = ToolIndex(tmp_path / "foundry.db").search("count syllables in a text")[0]
    assert after.relevance == fresh.relevance < before.relevance  # "text" got common, so it weighs less


def test_index_survives_reopening_the_database(tmp_path: Path) -> None:
    ToolIndex(tmp_path / "foundry.db").rebuild([deployed("slugify")])
    assert ToolIndex(tmp_path / "foundry.db").search("url slug")[0].name == "slugify"


@pytest.mark.parametrize("query", [
    '"', '""', "'", 'foo AND (', "AND (", "*", "NEAR(", "NEAR(a b, 3)", "OR OR OR", "NOT", "^slug",
    "title:slug", "{name}: x", "slug*", "-slug", "(((((", "slug\x00ify", "\ud800 broken surrogate",
    "Ünïcödé tëmpërätürë 日本語のテキスト 😀 emoji", "x" * 100_000, "word " * 10_000,
    " ".join(f"w{i}" for i in range(5000)),
])
def test_hostile_queries_never_raise(index: ToolIndex, query: str) -> None:
    assert isinstance(index.search(query), list)
    assert isinstance(assess(index, query).reason, str)


def test_limit_is_honoured_and_capped(index: ToolIndex) -> None:
    assert len(index.search("convert text words email url", limit=2)) == 2
    assert index.search("convert text", limit=0) == []
    assert len(index.search("convert text words email url title date", limit=10**9)) == len(TOOLS)


def test_diacritics_and_case_are_folded(index: ToolIndex) -> None:
    assert index.search("CÉLSIUS")[0].name == "celsius_to_fahrenheit"


# ── NEED_INTEGRATION markers ──


def test_need_integration_lines_are_found_in_messy_reasoning() -> None:
    text = """I looked at the tools I have. None of them converts units.
NEED_INTEGRATION: convert miles to kilometres
- NEED_INTEGRATION: look up a country's ISO code \t\r
  * **NEED_INTEGRATION:** parse a cron expression**
1. need_integration:   count syllables in a word
> `NEED_INTEGRATION: hash a file with sha256`
**NEED_INTEGRATION**: convert miles to kilometres
NEED_INTEGRATION: CONVERT MILES TO KILOMETRES
NEED_INTEGRATION:
NEED_INTEGRATION:    **
NEED_INTEGRATION: <what>
Then I will use them. (Not a marker: I did not write NEED_INTEGRATION: here.)
NEED_INTEGRATION without a colon
"""
    assert parse_need_integration(text) == [
        "convert miles to kilometres", "look up a country's ISO code", "parse a cron expression",
        "count syllables in a word", "hash a file with sha256"]


def test_text_without_markers_has_no_needs() -> None:
    assert parse_need_integration("") == []
    assert parse_need_integration("All tools present.\nDone.") == []


# ── request_capability ──


def test_request_capability_tool_is_an_openai_function_spec() -> None:
    fn = REQUEST_CAPABILITY_TOOL["function"]
    assert REQUEST_CAPABILITY_TOOL["type"] == "function" and fn["name"] == "request_capability"
    assert "missing capability" in fn["description"]
    assert fn["parameters"]["required"] == ["description"]
    assert set(fn["parameters"]["properties"]) == {"description", "examples"}


def test_valid_request_capability_arguments_are_parsed() -> None:
    req = parse_request_capability(
        '{"description": "  Count vowels in a string ", "examples": ['
        '{"args": {"text": "banana"}, "expect": 3}, {"args": {"text": ""}, "expect": null},'
        '{"args": {"text": 5}, "raises": "TypeError"}]}')
    assert req == CapabilityRequest(description="Count vowels in a string", examples=(
        Example(args={"text": "banana"}, expect=3), Example(args={"text": ""}, expect=None),
        Example(args={"text": 5}, raises="TypeError")))
    assert parse_request_capability('{"description": "x", "examples": null}').examples == ()
    assert parse_request_capability('```json\n{"description": "x"}\n```').description == "x"
    assert parse_request_capability('"{\\"description\\": \\"x\\"}"').description == "x"


@pytest.mark.parametrize(("arguments", "message"), [
    ("", "request_capability arguments are empty"),
    ('{"description": "count vowels"', "request_capability arguments are not valid JSON: "),
    ("{description: 'x'}", "request_capability arguments are not valid JSON: "),
    ('["count vowels"]', "must be a JSON object like"),
    ("{}", "description must be a non-empty string"),
    ('{"description": "   "}', "description must be a non-empty string"),
    ('{"description": 42}', "description must be a non-empty string"),
    ('{"description": "x", "exmples": []}', "unknown field(s) 'exmples'"),
    ('{"description": "x", "examples": {"args": {}}}', "examples: must be a JSON list of examples"),
    ('{"description": "x", "examples": [3]}', "examples: example 1: must be an object"),
    ('{"description": "x", "examples": [{"expect": 1}]}', 'examples: example 1: needs "args", an object'),
    ('{"description": "x", "examples": [{"args": [1], "expect": 1}]}', 'examples: example 1: needs "args", an object'),
    ('{"description": "x", "examples": [{"args": {}}]}', "examples: example 1: needs exactly one of"),
    ('{"description": "x", "examples": [{"args": {}, "expect": 1, "raises": "E"}]}', "exactly one of"),
    ('{"description": "x", "examples": [{"args": {}, "raises": ""}]}', "examples: example 1: \"raises\" must be an exception class name"),
    ('{"description": "x", "examples": [{"args": {}, "expect": 1}, {"args": {}, "output": 1}]}',
     "examples: example 2: unknown key(s) 'output'"),
])
def test_malformed_request_capability_arguments_are_usage_errors(arguments: str, message: str) -> None:
    with pytest.raises(UsageError) as err:
        parse_request_capability(arguments)
    assert message in str(err.value)
