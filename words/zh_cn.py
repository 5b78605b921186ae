"""placeholder"""

WORDS: dict[str, str] = {}
