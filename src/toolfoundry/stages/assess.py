"""Capability assessment: is there already a deployed tool for this need?

``assess`` decides with a documented rule whether one of the search index's matches (``store/search.py``)
fits a need. It does not keep the index, generate anything, or write the audit log (the workflow
records ``Assessment.reason``).

The fit rule (``assess``), deliberately conservative (a wrong "fits" blocks a tool the agent needs; a
missed fit only costs a duplicate that review can catch): take the need's *content words* (lower-cased,
snake_case and camelCase split; stop words, one-letter words and numbers dropped). A word is *covered* by
a tool when its name or description contains it after the index's own tokenizer (``porter unicode61``:
``titles`` covers ``title``). Each word weighs its inverse document frequency over names and descriptions
(a word no tool uses weighs as much as the rarest one), so ``pdf`` counts for more than ``convert``; the
*relevance* is the covered share of that weight. A candidate fits when it covers at least two content
words (or the only one) and either

* it covers every content word of the need, or
* the need names it (every word of the tool's name is in the need; ``slug`` names ``slugify``) and its
  relevance reaches ``threshold`` (default 0.6).

Among fitting candidates, one the need names wins, then the most relevant, then the best bm25. Search is
lexical: a paraphrase with little in common with the tool's words ("pull email addresses out of a
document" for ``extract_emails``) is not a fit, and the workflow goes on to generate a tool.
"""

from __future__ import annotations

from dataclasses import dataclass

from toolfoundry.store.search import Match, ToolIndex, content_words


@dataclass(frozen=True, slots=True, kw_only=True)
class Assessment:
    """Whether a deployed tool already fits a need, and why (the reason goes into the audit log)."""

    existing: Match | None
    """The tool that fits, or None: generate a new one."""
    candidates: tuple[Match, ...]
    """The top matches, best bm25 first."""
    reason: str
    """One sentence saying what was decided and on what evidence."""


def assess(index: ToolIndex, need: str, *, threshold: float = 0.6) -> Assessment:
    """Whether a deployed tool fits ``need``, by the rule in the module docstring."""
    quoted = repr(_clip(need))
    terms = content_words(need)
    if not terms:
        return Assessment(existing=None, candidates=(), reason=f"the need {quoted} has no searchable words")
    candidates = tuple(index.search(need, limit=5))
    if not candidates:
        return Assessment(existing=None, candidates=(),
                          reason=f"no deployed tool shares a word with {quoted}")
    fitting = sorted((m for m in candidates if _fits(m, len(terms), threshold)),  # stable: bm25 order on ties
                     key=lambda m: (not m.name_covered, -m.relevance))
    best = fitting[0] if fitting else max(candidates, key=lambda m: (m.relevance, m.name_covered))
    evidence = f"{len(best.matched)} of {len(terms)} words: {', '.join(best.matched) or 'none'}"
    if fitting:
        where = " and ".join(w for w, hit in (("name", best.in_name or best.name_covered), ("description", best.in_description)) if hit)
        return Assessment(existing=best, candidates=candidates,
                          reason=f"{best.name} matches {quoted} ({where}; {evidence})")
    why = ("too few words" if len(best.matched) < min(2, len(terms)) else
           f"relevance {best.relevance:.2f} < {threshold:.2f}" if best.relevance < threshold else
           "its name is not in the need and the need is not fully covered")
    return Assessment(existing=None, candidates=candidates,
                      reason=f"no deployed tool matches {quoted}; best was {best.name} (weak: {evidence}; {why})")


def _fits(m: Match, n_terms: int, threshold: float) -> bool:
    """The fit rule of the module docstring for one candidate."""
    if len(m.matched) < min(2, n_terms):
        return False
    return len(m.matched) == n_terms or (m.name_covered and m.relevance >= threshold)


def _clip(text: str, size: int = 80) -> str:
    text = " ".join(text.split())
    return text if len(text) <= size else text[: size - 1] + "…"
