"""Turn titles into URL slugs."""

import re
import unicodedata


def slugify(text: str, max_length: int = 60) -> str:
    """Lowercase ASCII slug of `text`: words joined by '-', at most `max_length` characters."""
    if max_length < 1:
        raise ValueError("max_length must be positive")
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    words = re.findall(r"[a-z0-9]+", ascii_text.lower())
    return _trim("-".join(words), max_length)


def _trim(slug: str, max_length: int) -> str:
    if len(slug) <= max_length:
        return slug
    return slug[:max_length].rstrip("-")
