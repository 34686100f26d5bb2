"""Tool search latency at 10,000 deployed tools (DESIGN.md target: ≤ 5 ms).

    python bench/search.py [--tools 10000] [--queries 300] [--seed 7]

Builds a ``ToolIndex`` of synthetic but varied tool specs (verbs × objects × formats, snake_case and
camelCase names, templated descriptions, argument names) in a temporary SQLite file, then times
``ToolIndex.search`` (bm25 ranking plus the per-word coverage that ``assess`` uses) and ``assess`` over
free-text needs written the way a model or a person would. Prints one markdown table row.
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from toolfoundry.core import Permissions, ToolRef
from toolfoundry.stages.assess import assess
from toolfoundry.store.registry import DeployedTool
from toolfoundry.store.search import ToolIndex

VERBS = ["parse", "format", "convert", "validate", "extract", "count", "normalize", "compute", "detect",
         "split", "merge", "sort", "filter", "encode", "decode", "hash", "compress", "summarize", "fetch",
         "render", "clean", "diff", "match", "score", "rank", "translate", "round", "check", "build", "find"]
OBJECTS = ["date", "email address", "url", "phone number", "temperature", "currency amount", "json document",
           "csv row", "markdown text", "html page", "ip address", "postal code", "word", "sentence", "title",
           "file path", "color value", "unit of length", "timestamp", "duration", "isbn", "iban", "uuid",
           "version string", "cron expression", "regex pattern", "query string", "http header", "status code",
           "invoice total", "geo coordinate", "time zone", "language code", "country name", "password",
           "hex string", "base64 blob", "yaml config", "xml element", "log line"]
FORMATS = ["", "iso", "utf8", "ascii", "rfc3339", "e164", "us", "eu", "metric", "imperial", "semver", "sha256"]
TEMPLATES = ["{Verb} a {obj}{fmt} and return the result.", "{Verb} the {obj}s found in a text{fmt}.",
             "Given a {obj}, {verb} it{fmt}; raises ValueError on bad input.",
             "{Verb} {obj}s{fmt}, keeping their order.", "Return the {obj} {verb}ed{fmt}."]
ARGS = ["text", "value", "items", "limit", "strict", "locale", "encoding", "pattern", "width", "tz"]
NEEDS = ["I need to {verb} a {obj}", "{verb} {obj}s in a document", "a tool that can {verb} every {obj}",
         "how do I {verb} this {obj}{fmt}", "{verb} the {obj} to {fmt2}", "{obj} {verb}",
         "turn a {obj} into something I can {verb}", "send an email to {obj}", "resize an image by {obj}"]


def specs(n: int, rng: random.Random) -> Iterator[tuple[str, dict[str, object]]]:
    seen: set[str] = set()
    while len(seen) < n:
        verb, obj, fmt = rng.choice(VERBS), rng.choice(OBJECTS), rng.choice(FORMATS)
        words = [verb, *obj.split(), *([fmt] if fmt else []), *([str(rng.randrange(100))] if rng.random() < .3 else [])]
        name = "_".join(words) if rng.random() < 0.8 else words[0] + "".join(w.capitalize() for w in words[1:])
        if name in seen:
            continue
        seen.add(name)
        fmt_text = f" ({fmt})" if fmt else ""
        desc = rng.choice(TEMPLATES).format(Verb=verb.capitalize(), verb=verb, obj=obj, fmt=fmt_text)
        args = rng.sample(ARGS, rng.randint(1, 3))
        yield name, {"name": name, "function": name, "description": desc,
                     "signature": "(" + ", ".join(f"{a}: str" for a in args) + ") -> str",
                     "args_schema": {"type": "object", "properties": {a: {"type": "string"} for a in args}},
                     "result_schema": {"type": "string"}}


def percentile(samples: list[float], q: float) -> float:
    return statistics.quantiles(samples, n=100, method="inclusive")[q - 1] if len(samples) > 1 else samples[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tools", type=int, default=10_000)
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--seed", type=int, default=7)
    opts = parser.parse_args()
    rng = random.Random(opts.seed)
    with tempfile.TemporaryDirectory() as tmp:
        index = ToolIndex(Path(tmp) / "foundry.db")
        items = list(specs(opts.tools, rng))
        t0 = time.perf_counter()
        for name, spec in items:
            index.upsert(name, 1, spec)
        build_s = time.perf_counter() - t0
        deployed = [DeployedTool(ref=ToolRef(name=n, version=1, sha256="0" * 64, commit="0" * 40), request_id=n,
                                 spec=spec, permissions=Permissions(), deployed_at="", active=True)
                    for n, spec in items]
        t0 = time.perf_counter()
        index.rebuild(deployed)  # nothing changed: digests compared, no row written
        rebuild_s = time.perf_counter() - t0
        queries = [rng.choice(NEEDS).format(verb=rng.choice(VERBS), obj=rng.choice(OBJECTS),
                                            fmt=rng.choice(FORMATS), fmt2=rng.choice(FORMATS))
                   for _ in range(opts.queries)]
        for q in queries[:20]:  # warm the page cache
            index.search(q)
        search_ms, assess_ms, hits = [], [], 0
        for q in queries:
            t = time.perf_counter()
            index.search(q)
            search_ms.append((time.perf_counter() - t) * 1000)
            t = time.perf_counter()
            hits += assess(index, q).existing is not None
            assess_ms.append((time.perf_counter() - t) * 1000)
        index.close()
    print("| measure | tools | queries | p50 ms | p90 ms | max ms | target |")
    print("|---|---|---|---|---|---|---|")
    print(f"| tool search (FTS5 bm25 + coverage) | {opts.tools} | {len(queries)} | {statistics.median(search_ms):.2f}"
          f" | {percentile(search_ms, 90):.2f} | {max(search_ms):.2f} | ≤ 5 ms |")
    print(f"| assess (search + fit rule) | {opts.tools} | {len(queries)} | {statistics.median(assess_ms):.2f}"
          f" | {percentile(assess_ms, 90):.2f} | {max(assess_ms):.2f} | — |")
    print(f"\nindex build: {opts.tools} upserts in {build_s:.2f} s ({build_s / opts.tools * 1000:.3f} ms each);"
          f" rebuild with nothing changed {rebuild_s * 1000:.0f} ms;"
          f" {hits}/{len(queries)} needs assessed as fitting an existing tool")


if __name__ == "__main__":
    main()
