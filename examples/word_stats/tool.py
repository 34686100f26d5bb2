"""Count words."""


def word_stats(text: str) -> dict[str, int]:
    """Number of words and of distinct words (case-insensitive) in `text`."""
    words = text.lower().split()
    return {"words": len(words), "distinct": len(set(words))}
