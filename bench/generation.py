"""How often a real model gets a tool deployed: capability requests run through `toolfoundry request`.

    python bench/generation.py --model local:qwen2.5-coder-1.5b [--only ID,...] [--record DIR]
                               [--toml EXTRA.toml] [--json OUT.json] [--write BENCHMARKS.md]

Each request below is a need in plain words, visible examples (shown to the model) and held-out examples
(judged by the oracle, never shown). Each runs in a fresh home, as a user would run it: `toolfoundry init`,
then `toolfoundry request NEED --examples V --holdout H --model M --json`, in its own process (so a
local model's server starts, and its seed sequence begins, afresh for every request). Reported per request
and in total: deployed on the first attempt, deployed after refinement, rejected (or pending or failed),
generation attempts, tokens, wall time, and how often the held-out examples caught a candidate that
passed every visible example. With --record, every model exchange of request ID is saved in DIR/ID/.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REQUESTS: list[dict[str, Any]] = [
    # ── strings ──
    {"id": "count_vowels", "kind": "string", "need": "Count the vowels (a, e, i, o, u, either case) in a text.",
     "examples": [({"text": "hello"}, 2), ({"text": "xyz"}, 0)],
     "holdout": [({"text": "AEIOU"}, 5), ({"text": ""}, 0), ({"text": "Programming"}, 3)]},
    {"id": "reverse_words", "kind": "string", "need": "Reverse the order of the words in a sentence; words are"
     " separated by single spaces.",
     "examples": [({"sentence": "hello world"}, "world hello"), ({"sentence": "a b c"}, "c b a")],
     "holdout": [({"sentence": "one"}, "one"), ({"sentence": "the quick brown fox"}, "fox brown quick the")]},
    {"id": "slugify", "kind": "string", "need": "Turn a title into a URL slug: lowercase, runs of characters"
     " that are not letters or digits become one hyphen, no hyphen at either end.",
     "examples": [({"title": "Hello, World!"}, "hello-world"), ({"title": "  Python 3.11 Release "}, "python-3-11-release")],
     "holdout": [({"title": "A--B"}, "a-b"), ({"title": "already-a-slug"}, "already-a-slug"), ({"title": "!!!"}, "")]},
    {"id": "is_palindrome", "kind": "string", "need": "Tell whether a text is a palindrome, ignoring case and"
     " everything that is not a letter or a digit.",
     "examples": [({"text": "A man, a plan, a canal: Panama"}, True), ({"text": "hello"}, False)],
     "holdout": [({"text": ""}, True), ({"text": "No 'x' in Nixon"}, True), ({"text": "ab"}, False)]},
    {"id": "caesar_shift", "kind": "string", "need": "Shift every ASCII letter of a text forward in the"
     " alphabet by a number of places, wrapping around and keeping case; other characters stay as they are.",
     "examples": [({"text": "abc", "shift": 1}, "bcd"), ({"text": "xyz", "shift": 3}, "abc")],
     "holdout": [({"text": "Hello, World!", "shift": 13}, "Uryyb, Jbeyq!"), ({"text": "abc", "shift": 26}, "abc")]},
    {"id": "roman_to_int", "kind": "string", "need": "Convert a Roman numeral (I, V, X, L, C, D, M, with"
     " subtractive pairs like IV and CM) to an integer.",
     "examples": [({"numeral": "III"}, 3), ({"numeral": "MCMXCIV"}, 1994)],
     "holdout": [({"numeral": "IV"}, 4), ({"numeral": "LVIII"}, 58), ({"numeral": "MMXXIV"}, 2024)]},
    {"id": "snake_to_camel", "kind": "string", "need": "Convert a snake_case identifier to lowerCamelCase.",
     "examples": [({"name": "hello_world"}, "helloWorld"), ({"name": "make_it_so"}, "makeItSo")],
     "holdout": [({"name": "single"}, "single"), ({"name": "a_b_c"}, "aBC")]},
    # ── numbers ──
    {"id": "celsius_to_fahrenheit", "kind": "number", "need": "Convert a temperature from degrees Celsius to"
     " degrees Fahrenheit.",
     "examples": [({"celsius": 100}, 212.0), ({"celsius": 0}, 32.0)],
     "holdout": [({"celsius": -40}, -40.0), ({"celsius": 37}, 98.6)]},
    {"id": "is_prime", "kind": "number", "need": "Tell whether an integer is a prime number.",
     "examples": [({"n": 7}, True), ({"n": 8}, False)],
     "holdout": [({"n": 1}, False), ({"n": 2}, True), ({"n": 0}, False), ({"n": 97}, True), ({"n": -7}, False)]},
    {"id": "gcd", "kind": "number", "need": "The greatest common divisor of two non-negative integers.",
     "examples": [({"a": 12, "b": 18}, 6), ({"a": 7, "b": 5}, 1)],
     "holdout": [({"a": 0, "b": 9}, 9), ({"a": 100, "b": 75}, 25)]},
    {"id": "digit_sum", "kind": "number", "need": "The sum of the decimal digits of an integer (the sign is"
     " ignored).",
     "examples": [({"n": 123}, 6), ({"n": 9}, 9)],
     "holdout": [({"n": 0}, 0), ({"n": -45}, 9), ({"n": 99999}, 45)]},
    {"id": "luhn_valid", "kind": "number", "need": "Check a card number with the Luhn algorithm; the number is"
     " a string of digits that may contain spaces.",
     "examples": [({"number": "4539 3195 0343 6467"}, True), ({"number": "8273 1232 7352 0569"}, False)],
     "holdout": [({"number": "79927398713"}, True), ({"number": "79927398710"}, False), ({"number": "0"}, True)]},
    {"id": "compound_interest", "kind": "number", "need": "The balance after compounding interest yearly:"
     " principal times (1 + rate) to the power of years, rounded to 2 decimals.",
     "examples": [({"principal": 1000.0, "rate": 0.05, "years": 2}, 1102.5), ({"principal": 100.0, "rate": 0.1, "years": 1}, 110.0)],
     "holdout": [({"principal": 500.0, "rate": 0.0, "years": 10}, 500.0), ({"principal": 1000.0, "rate": 0.07, "years": 10}, 1967.15)]},
    # ── lists ──
    {"id": "running_sum", "kind": "list", "need": "The running (cumulative) sums of a list of numbers.",
     "examples": [({"numbers": [1, 2, 3]}, [1, 3, 6]), ({"numbers": [5]}, [5])],
     "holdout": [({"numbers": []}, []), ({"numbers": [1, -1, 1, -1]}, [1, 0, 1, 0])]},
    {"id": "dedupe_keep_order", "kind": "list", "need": "Remove duplicate strings from a list, keeping the"
     " first occurrence of each in the original order.",
     "examples": [({"items": ["a", "b", "a", "c", "b"]}, ["a", "b", "c"]), ({"items": ["x"]}, ["x"])],
     "holdout": [({"items": []}, []), ({"items": ["b", "a", "b", "a"]}, ["b", "a"])]},
    {"id": "chunk_list", "kind": "list", "need": "Split a list of integers into consecutive chunks of a given"
     " size; the last chunk may be shorter.",
     "examples": [({"items": [1, 2, 3, 4, 5], "size": 2}, [[1, 2], [3, 4], [5]]), ({"items": [1, 2], "size": 2}, [[1, 2]])],
     "holdout": [({"items": [], "size": 3}, []), ({"items": [1, 2, 3], "size": 1}, [[1], [2], [3]])]},
    {"id": "second_largest", "kind": "list", "need": "The second largest distinct value in a list of integers,"
     " or null when there is none.",
     "examples": [({"numbers": [3, 1, 4, 1, 5]}, 4), ({"numbers": [2, 2]}, None)],
     "holdout": [({"numbers": []}, None), ({"numbers": [10, 9]}, 9), ({"numbers": [-1, -5, -3]}, -3)]},
    {"id": "median", "kind": "list", "need": "The median of a non-empty list of numbers (the mean of the two"
     " middle values when the count is even).",
     "examples": [({"numbers": [3, 1, 2]}, 2), ({"numbers": [4, 1, 3, 2]}, 2.5)],
     "holdout": [({"numbers": [7]}, 7), ({"numbers": [1, 1, 1, 10]}, 1.0)]},
    # ── dicts ──
    {"id": "word_frequencies", "kind": "dict", "need": "Count how often each word occurs in a text: words are"
     " lowercased and split on whitespace.",
     "examples": [({"text": "a b a"}, {"a": 2, "b": 1}), ({"text": "Hi hi"}, {"hi": 2})],
     "holdout": [({"text": ""}, {}), ({"text": "x  y\nx"}, {"x": 2, "y": 1})]},
    {"id": "invert_mapping", "kind": "dict", "need": "Invert a mapping of names to string values: the result"
     " maps each value to the sorted list of names that had it.",
     "examples": [({"mapping": {"a": "1", "b": "2", "c": "1"}}, {"1": ["a", "c"], "2": ["b"]}), ({"mapping": {}}, {})],
     "holdout": [({"mapping": {"z": "k", "y": "k"}}, {"k": ["y", "z"]})]},
    {"id": "parse_query_string", "kind": "dict", "need": "Parse a URL query string like 'a=1&b=two' into a"
     " mapping of keys to values (the last value wins for a repeated key).",
     "examples": [({"query": "a=1&b=two"}, {"a": "1", "b": "two"}), ({"query": "x=5"}, {"x": "5"})],
     "holdout": [({"query": ""}, {}), ({"query": "k=1&k=2"}, {"k": "2"}), ({"query": "name=a%20b"}, {"name": "a b"})]},
    {"id": "merge_counts", "kind": "dict", "need": "Merge two mappings of words to counts by adding the counts"
     " of words present in both.",
     "examples": [({"first": {"a": 1, "b": 2}, "second": {"b": 3, "c": 4}}, {"a": 1, "b": 5, "c": 4}),
                  ({"first": {}, "second": {"x": 1}}, {"x": 1})],
     "holdout": [({"first": {}, "second": {}}, {}), ({"first": {"a": 2}, "second": {"a": -2}}, {"a": 0})]},
]


def _examples(pairs: list[tuple[dict[str, Any], Any]]) -> str:
    return json.dumps([{"args": args, "expect": expect} for args, expect in pairs])


def run_one(req: dict[str, Any], model: str, toolfoundry: list[str], extra_toml: str, record: Path | None,
            env: dict[str, str]) -> dict[str, Any]:
    """One request in a fresh home: its outcome, attempts, tokens, wall time and held-out catches."""
    with tempfile.TemporaryDirectory(prefix=f"tf-bench-{req['id']}-") as tmp:
        home = Path(tmp) / "home"
        init = subprocess.run([*toolfoundry, "init", "--home", str(home)], capture_output=True, text=True, env=env)
        if init.returncode != 0:
            return {"id": req["id"], "kind": req["kind"], "status": "error", "exit": init.returncode,
                    "reason": f"init failed: {init.stderr.strip()[-300:]}", "attempts": 0, "tokens": 0,
                    "seconds": 0.0, "holdout_caught": 0, "first": False}
        rec = f'record = "{record / req["id"]}"\n' if record else ""
        if "[generation]" in extra_toml:  # the written defaults are all comments: the extra text replaces them
            extra_toml = extra_toml.replace("[generation]\n", "[generation]\n" + rec, 1)
        elif rec:
            extra_toml += "\n[generation]\n" + rec
        (home / "toolfoundry.toml").write_text(extra_toml)
        (Path(tmp) / "v.json").write_text(_examples(req["examples"]))
        (Path(tmp) / "h.json").write_text(_examples(req["holdout"]))
        start = time.perf_counter()
        done = subprocess.run([*toolfoundry, "request", req["need"], "--examples", str(Path(tmp) / "v.json"),
                               "--holdout", str(Path(tmp) / "h.json"), "--model", model, "--home", str(home),
                               "--json"], capture_output=True, text=True, env=env)
        wall = time.perf_counter() - start
    try:
        outcome = json.loads(done.stdout)
    except ValueError:
        return {"id": req["id"], "kind": req["kind"], "status": "error", "exit": done.returncode,
                "reason": (done.stderr.strip().splitlines() or ["no output"])[-1][:300], "attempts": 0,
                "tokens": 0, "seconds": round(wall, 1), "holdout_caught": 0, "first": False}
    stages = outcome.get("stages") or []
    generated = [s for s in stages if s.get("stage") == "generate"]
    tokens = max([int((s.get("details") or {}).get("tokens") or 0) for s in generated] or [0])
    spent = re.search(r"\((\d+) tokens", str(outcome.get("reason", "")))  # the request's total, when it says
    tokens = max(tokens, int(spent.group(1)) if spent else 0)
    caught = sum(1 for s in stages if s.get("stage") == "oracle" and not s.get("ok")
                 and {f.get("code") for f in s.get("findings") or [] if f.get("severity", "error") == "error"}
                 == {"oracle.holdout-failed"})
    status = outcome.get("status", "error")
    return {"id": req["id"], "kind": req["kind"], "status": status, "exit": done.returncode,
            "reason": str(outcome.get("reason", ""))[:300], "attempts": len(generated),
            "spec_retries": sum(1 for s in stages if s.get("stage") == "spec"),
            "tokens": tokens, "seconds": round(wall, 1), "holdout_caught": caught,
            "first": status == "deployed" and len(generated) == 1,
            "tool": (outcome.get("tool") or {}).get("name")}


def table(rows: list[dict[str, Any]], model: str, machine: str) -> str:
    """The markdown section for BENCHMARKS.md."""
    n = len(rows)
    first = sum(r["first"] for r in rows)
    later = sum(r["status"] == "deployed" and not r["first"] for r in rows)
    rejected = sum(r["status"] == "rejected" for r in rows)
    other = n - first - later - rejected
    lines = [
        "## Generation with a local model", "",
        f"`python bench/generation.py --model {model}`: {n} capability requests (need + visible examples +"
        " held-out examples; string, number, list and dict tools, some with edge cases), each run through"
        " `toolfoundry request` in a fresh home. " + machine, "",
        "| request | kind | outcome | attempts | spec retries | tokens | wall s | held-out caught |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        outcome = "deployed (1st attempt)" if r["first"] else r["status"]
        lines.append(f"| {r['id']} | {r['kind']} | {outcome} | {r['attempts']} | {r.get('spec_retries', 0)} |"
                     f" {r['tokens']} | {r['seconds']} | {r['holdout_caught']} |")
    tokens = sum(r["tokens"] for r in rows)
    seconds = sum(r["seconds"] for r in rows)
    attempts = sum(r["attempts"] for r in rows)
    lines += ["", f"**Total:** {n} requests: **{first} deployed on the first attempt, {later} deployed after"
              f" refinement, {rejected} rejected**, {other} other (pending review or failed); {attempts}"
              f" generation attempts, {tokens} tokens, {seconds:.0f} s wall ({seconds / max(n, 1):.0f} s a"
              f" request). Held-out examples caught a candidate that passed every visible example"
              f" {sum(r['holdout_caught'] for r in rows)} time(s), in"
              f" {sum(1 for r in rows if r['holdout_caught'])} request(s)."]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True, help="PROVIDER:NAME, e.g. local:qwen2.5-coder-1.5b")
    parser.add_argument("--only", default="", help="comma-separated request ids")
    parser.add_argument("--record", type=Path, help="save each request's model exchanges in DIR/<id>/")
    parser.add_argument("--toml", type=Path, help="extra toolfoundry.toml text for every home (e.g. [generation])")
    parser.add_argument("--json", type=Path, help="write the per-request results here")
    parser.add_argument("--write", type=Path, help="replace the 'Generation with a local model' section here")
    parser.add_argument("--toolfoundry", default=f"{sys.executable} -m toolfoundry",
                        help="the command that runs toolfoundry")
    args = parser.parse_args()
    by_id = {r["id"]: r for r in REQUESTS}
    wanted = [w for w in args.only.split(",") if w]
    unknown = [w for w in wanted if w not in by_id]
    if unknown:
        parser.error(f"unknown request id(s): {', '.join(unknown)} (known: {', '.join(by_id)})")
    todo = [by_id[w] for w in wanted] if wanted else REQUESTS  # in the order given
    extra = args.toml.read_text() if args.toml else ""
    env = dict(os.environ)
    rows = []
    for req in todo:
        row = run_one(req, args.model, args.toolfoundry.split(), extra, args.record.absolute() if args.record
                      else None, env)
        rows.append(row)
        print(json.dumps(row), flush=True)
        if args.json:
            args.json.write_text(json.dumps(rows, indent=1))
    machine = (f"Measured {time.strftime('%Y-%m-%d')} on {platform.machine()}, {os.cpu_count()} cores,"
               f" Python {platform.python_version()}; the machine was shared with other work.")
    text = table(rows, args.model, machine)
    print(text)
    if args.write:
        old = args.write.read_text() if args.write.exists() else ""
        head, sep, rest = old.partition("## Generation with a local model")
        tail = rest[rest.find("\n## "):] if sep and "\n## " in rest else ""
        args.write.write_text(head.rstrip() + "\n\n" + text + tail if head.strip() else text + tail)


if __name__ == "__main__":
    main()
