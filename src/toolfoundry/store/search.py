"""The tool search index: SQLite FTS5 over the active version of every deployed tool.

Owns the ``tool_search`` (FTS5) and ``tool_search_meta`` tables (created by ``store/migrations.py``), kept in sync with the registry by
``ToolIndex.rebuild`` (callers pass the active ``DeployedTool``s), and ``search``: bm25 with column
weights (name, description, argument names), plus, per hit, which of the query's content words its name
and description hold, their IDF-weighted share (``relevance``) and whether the query names the tool.
Words are lower-cased with snake_case and camelCase split; stop words, one-letter words and numbers are
not searched for. Whether a hit *fits* a need is not decided here: that is ``stages/assess.py``.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import sqlite3
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from toolfoundry.core import JSON
from toolfoundry.store.db import Database, migrate
from toolfoundry.store.registry import DeployedTool

_WEIGHTS = (8.0, 3.0, 1.0)
"""bm25 column weights: name, description, argument names."""
_HITS = ("SELECT rowid AS id, instr(highlight(tool_search, 0, char(1), ''), char(1)) > 0 AS in0,"
         " instr(highlight(tool_search, 1, char(1), ''), char(1)) > 0 AS in1"
         " FROM tool_search WHERE tool_search MATCH ? AND rowid IN ({marks})")
"""Which of the given rows hold a term in their name (in0) and in their description (in1)."""
_NAME_MARKS = ("SELECT rowid AS id, highlight(tool_search, 0, char(1), char(2)) AS marked"
               " FROM tool_search WHERE tool_search MATCH ? AND rowid IN ({marks})")
"""The given rows' names with the words the search matched between \\x01 and \\x02."""
_DF_CACHE = 50_000
"""Most words whose document frequency is kept between searches."""
_MAX_TERMS = 24
_MAX_LIMIT = 100
_MAX_TERM_CHARS = 64
_PREFIX_MIN = 4
"""Query words at least this long also match as a prefix of a name word (``slug`` → ``slugify``)."""

STOP_WORDS = frozenset("""
a an the to of for in into on onto from with without by at as is are be been being it its this these those
that which who whom what when where how and or but not no nor so than then there their them they i me my
we our us you your he she his her can could should would will shall may might must do does did done have
has had please want wants need needs needed some any each every all given using use used via also just
tool tools function functions capability integration something thing things way able new return returns
many much like out about here more most other such only very own same
""".split())

_WORD = re.compile(r"[^\W_]+")
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")


@dataclass(frozen=True, slots=True, kw_only=True)
class Match:
    """One deployed tool found by a search."""

    name: str
    """The tool's name."""
    version: int
    """The indexed (active) version."""
    score: float
    """FTS5 ``bm25()`` with column weights; lower (more negative) is better. Compare within one search."""
    relevance: float
    """IDF-weighted share of the query's content words found in the name or description, in [0, 1]."""
    matched: tuple[str, ...]
    """The query's content words found in the name or description, in query order."""
    in_name: bool
    """True when at least one of ``matched`` is in the tool's name."""
    in_description: bool
    """True when at least one of ``matched`` is in the tool's description."""
    name_covered: bool
    """True when every word of the tool's name is in the query (a query word may be a prefix of a name
    word: ``slug`` covers ``slugify``); stop words and numbers in the name are ignored."""
    description: str
    """The tool's description."""
    signature: str
    """The tool's signature, e.g. ``(text: str) -> str``."""


def words(text: str) -> list[str]:
    """Lower-case words of ``text`` with snake_case and camelCase split: ``getHTTP_status`` → get http status."""
    return [w.lower() for raw in _WORD.findall(text) for w in _CAMEL.sub(" ", raw).split()]


def content_words(text: str) -> list[str]:
    """The words of a query worth searching for: no stop words, one-letter words, numbers or repeats; capped."""
    out: list[str] = []
    for w in words(text):
        if _is_content(w) and len(w) <= _MAX_TERM_CHARS and w not in out:
            out.append(w)
    return out[:_MAX_TERMS]


def _is_content(word: str) -> bool:
    return len(word) > 1 and not word.isdigit() and word not in STOP_WORDS


class ToolIndex:
    """FTS5 index over the active version of each deployed tool, in the foundry database."""

    def __init__(self, db_path: Path) -> None:
        self._db = Database(db_path)
        migrate(self._db)
        self._lock = threading.Lock()
        self._df: dict[str, int] = {}
        """Document frequency per word over names and descriptions; cleared whenever the index changes."""
        self._seen_version = -1

    def upsert(self, name: str, version: int, spec: dict[str, JSON]) -> None:
        """Index ``version`` of ``name`` as its only row (replacing any earlier version)."""
        with self._lock:
            self._write(lambda conn: self._put(conn, name, version, spec))

    def remove(self, name: str) -> None:
        """Drop ``name`` from the index; absent names are ignored."""
        with self._lock:
            self._write(lambda conn: self._delete(conn, name))

    def rebuild(self, tools: Iterable[DeployedTool]) -> None:
        """Make the index hold exactly ``tools`` (the registry's active ones); unchanged rows are not touched,
        and an index that is already exact is only read (so searching works on a read-only home)."""
        wanted = {t.ref.name: t for t in tools}
        with self._lock:
            have = {r[0]: r[1] for r in self._query("SELECT name, digest FROM tool_search_meta", ())}
        if have.keys() == wanted.keys() and all(
                have[n] == _digest(t.ref.version, t.interface.to_json()) for n, t in wanted.items()):
            return

        def sync(conn: sqlite3.Connection) -> None:
            have = dict(conn.execute("SELECT name, digest FROM tool_search_meta").fetchall())
            for name in have.keys() - wanted.keys():
                self._delete(conn, name)
            for name, tool in wanted.items():
                spec = tool.interface.to_json()
                if have.get(name) != _digest(tool.ref.version, spec):
                    self._put(conn, name, tool.ref.version, spec)

        with self._lock:
            self._write(sync)

    def search(self, query: str, *, limit: int = 5) -> list[Match]:
        """The best ``limit`` (at most 100) tools for free-text ``query``; [] when it has no searchable word.
        Never raises on query syntax: the query is reduced to its content words, quoted, joined by OR."""
        terms = content_words(query)
        limit = min(limit, _MAX_LIMIT)
        if not terms or limit < 1:
            return []
        expr = " OR ".join(f'"{t}"' + (f' OR name: "{t}"*' if len(t) >= _PREFIX_MIN else "") for t in terms)
        with self._lock:
            rows = self._query(
                "SELECT s.rowid AS id, s.score, m.name, m.version, m.description, m.signature FROM"
                " (SELECT rowid, bm25(tool_search, ?, ?, ?) AS score FROM tool_search WHERE tool_search MATCH ?"
                "  ORDER BY score LIMIT ?) s JOIN tool_search_meta m ON m.id = s.rowid ORDER BY s.score",
                (*_WEIGHTS, expr, limit))
            if not rows:
                return []
            cover = self._coverage(terms, [r["id"] for r in rows])
            named = self._names_covered(expr, [r["id"] for r in rows])
        out = []
        for r in rows:
            in_name, in_desc, relevance = cover[r["id"]]
            matched = tuple(t for t in terms if t in in_name or t in in_desc)
            out.append(Match(name=r["name"], version=r["version"], score=r["score"], relevance=relevance,
                             matched=matched, in_name=bool(in_name), in_description=bool(in_desc),
                             name_covered=r["id"] in named, description=r["description"],
                             signature=r["signature"]))
        return out

    def close(self) -> None:
        """Close the connection."""
        self._db.close()

    # ── internals (called with the lock held) ──

    def _coverage(self, terms: list[str], ids: list[int]) -> dict[int, tuple[set[str], set[str], float]]:
        """Per row: the terms in its name, the terms in its description, its IDF-weighted coverage."""
        marks = ",".join("?" * len(ids))
        version = self._query("PRAGMA data_version", ())[0][0]  # moves on other connections' commits
        if version != self._seen_version:
            self._df.clear()
            self._seen_version = version
        if len(self._df) > _DF_CACHE or not self._df:
            self._df = {"": self._query("SELECT count(*) AS n FROM tool_search_meta", ())[0]["n"]}
        total = self._df[""]  # "" is never a word: it holds the number of tools
        found: dict[int, tuple[set[str], set[str]]] = {i: (set(), set()) for i in ids}
        weights: dict[str, float] = {}
        for t in terms:
            expr = f'{{name description}}: "{t}"'
            if t not in self._df:
                self._df[t] = self._query("SELECT count(*) AS n FROM tool_search WHERE tool_search MATCH ?",
                                          (expr,))[0]["n"]
            df = max(1, self._df[t])
            weights[t] = math.log(1 + (total - df + 0.5) / (df + 0.5))
            for row in self._query(_HITS.format(marks=marks), (expr, *ids)):
                for slot in (0, 1):
                    if row[f"in{slot}"]:
                        found[row["id"]][slot].add(t)
        whole = sum(weights.values()) or 1.0
        return {i: (n, d, round(sum(weights[t] for t in n | d) / whole, 4)) for i, (n, d) in found.items()}

    def _names_covered(self, expr: str, ids: list[int]) -> set[int]:
        """The rows whose every name word (bar stop words) is matched by the search expression."""
        marks = ",".join("?" * len(ids))
        rows = self._query(_NAME_MARKS.format(marks=marks), (expr, *ids))
        return {r["id"] for r in rows
                if not any(map(_is_content, words(re.sub("\x01[^\x02]*\x02", " ", r["marked"]))))}

    def _query(self, sql: str, params: Sequence[object]) -> list[sqlite3.Row]:
        # a syntax error is unreachable with quoted words, but query syntax must never fail the caller
        return self._db.query(sql, params, doing="searching the tools", empty_on=("fts5:", "unterminated string"))

    def _write(self, change: Callable[[sqlite3.Connection], None]) -> None:
        self._df.clear()
        with self._db.transaction(doing="updating the tool search index") as conn:
            change(conn)

    def _put(self, conn: sqlite3.Connection, name: str, version: int, spec: dict[str, JSON]) -> None:
        self._delete(conn, name)
        description = str(spec.get("description") or "")
        schema = spec.get("args_schema")
        props = schema.get("properties") if isinstance(schema, dict) else None
        args = " ".join(words(" ".join(props))) if isinstance(props, dict) else ""
        cur = conn.execute(
            "INSERT INTO tool_search_meta (name, version, digest, description, signature) VALUES (?, ?, ?, ?, ?)",
            (name, version, _digest(version, spec), description, str(spec.get("signature") or "")))
        conn.execute("INSERT INTO tool_search (rowid, name, description, args) VALUES (?, ?, ?, ?)",
                     (cur.lastrowid, " ".join(words(name)), description, args))

    @staticmethod
    def _delete(conn: sqlite3.Connection, name: str) -> None:
        row = conn.execute("SELECT id FROM tool_search_meta WHERE name = ?", (name,)).fetchone()
        if row is not None:
            conn.execute("DELETE FROM tool_search WHERE rowid = ?", (row["id"],))
            conn.execute("DELETE FROM tool_search_meta WHERE id = ?", (row["id"],))


def _digest(version: int, spec: dict[str, JSON]) -> str:
    return hashlib.sha256(json.dumps([version, spec], sort_keys=True, default=str).encode()).hexdigest()
