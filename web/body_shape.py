"""Is a JSON request body shaped like something the page sends? Imports nothing of ours.

What a JSON body costs the server is not its size but the number of values in it, and a few
shapes that cost far more than their bytes: an object with a hundred thousand keys, a number with
thousands of digits (turned into an int digit by digit), a list of fifty thousand turns (each
validated by Gradio). Gradio parses and walks every body it is given on the event loop, so a body
over these limits must never reach it. :func:`fault` finds out by parsing the body; for a large
body ``web/bodies.py`` runs this file as a worker process, so that even a refused body costs the
event loop nothing.

As a worker: the limits come as JSON in argv[1]; each body comes on stdin as a 4-byte big-endian
length and the bytes, and each answer is one line on stdout: empty when the body is fine, else
what is wrong with it ("invalid" when it is not JSON at all).
"""

from __future__ import annotations

import json
import os
import sys

INVALID = "invalid"


class _Fault(Exception):
    pass


def fault(
    body: bytes, *, max_values: int, max_items: int, max_keys: int, max_number_chars: int, max_depth: int
) -> str | None:
    """None when ``body`` is JSON within every limit; else what is wrong (never quoting it)."""

    def number(text: str) -> int:
        # Checked before any conversion: only the length matters here, never the value.
        if len(text) > max_number_chars:
            raise _Fault("a number with too many digits")
        return 0

    try:
        payload = json.loads(body, parse_int=number, parse_float=number)
    except _Fault as found:
        return str(found)
    except RecursionError:
        return "too deeply nested"
    except (ValueError, UnicodeDecodeError):
        return INVALID
    values = 0
    pending: list[tuple[object, int]] = [(payload, 1)]
    while pending:
        value, depth = pending.pop()
        values += 1
        if values > max_values:
            return "too many values"
        if isinstance(value, dict | list):
            if depth > max_depth:
                return "too deeply nested"
            if isinstance(value, dict) and len(value) > max_keys:
                return "an object with too many keys"
            if isinstance(value, list) and len(value) > max_items:
                return "a list with too many items"
            children = value.values() if isinstance(value, dict) else value
            pending.extend((child, depth + 1) for child in children)
    return None


def main() -> None:
    # Behind the server in the queue for a core: a body waits for its verdict, not every visitor.
    os.nice(10)
    limits = json.loads(sys.argv[1])
    source, answers = sys.stdin.buffer, sys.stdout.buffer
    while True:
        head = source.read(4)
        if len(head) < 4:
            return  # the server has gone
        body = source.read(int.from_bytes(head, "big"))
        answers.write(((fault(body, **limits) or "") + "\n").encode())
        answers.flush()


if __name__ == "__main__":
    main()
