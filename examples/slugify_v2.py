"""Turn titles into URL slugs, with a choice of separator."""

import re
import unicodedata


def slugify(text: str, max_length: int = 60, separator: str = "-") -> str:
    """Lowercase ASCII slug of `text`: words joined by `separator`, at most `max_length` characters."""
    if max_length < 1:
        raise ValueError("max_length must be positive")
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    words = re.findall(r"[a-z0-9]+", ascii_text.lower())
    return separator.join(words)[:max_length].rstrip(separator)
