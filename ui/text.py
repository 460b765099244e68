"""Text from documents, questions and model replies, made safe to print.

Why: rich reads `[...]` as markup (a document mentioning `[/etc/hosts]` crashed
`search`, `[link=…]` became a live link) and a terminal obeys ANSI/OSC escape
sequences (colours, titles, hyperlinks, cursor moves). Such text is data: it is
wrapped in `rich.text.Text`, which rich never parses, after every escape sequence
and control character has been replaced by a visible U+FFFD.
"""

from __future__ import annotations

import re

from rich.style import Style
from rich.text import Text

REPLACEMENT = "\ufffd"

# CSI (ESC [ … final), OSC (ESC ] … BEL or ST), other two-byte ESC sequences, and
# their 8-bit C1 forms (CSI 0x9b, OSC 0x9d, DCS/SOS/PM/APC … ST).
_ESCAPE = re.compile(
    r"\x1b\[[0-?]*[ -/]*[@-~]"
    r"|\x1b[\]PX^_][^\x07\x1b\x9c]*(?:\x07|\x1b\\|\x9c)?"
    r"|\x1b[ -~]?"
    r"|\x9b[0-?]*[ -/]*[@-~]"
    r"|[\x90\x98\x9d\x9e\x9f][^\x07\x1b\x9c]*(?:\x07|\x1b\\|\x9c)?"
)
# Remaining C0/C1 controls except tab and newline, DEL, and the bidirectional
# overrides that can make text read differently from what it is.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def plain(text: object) -> str:
    """`text` with escape sequences and control characters replaced by U+FFFD.

    >>> plain("a\\x1b[31mred\\x1b[0m [b]bold[/b]\\tok")
    'a\ufffdred\ufffd [b]bold[/b]\\tok'
    """
    cleaned = _ESCAPE.sub(REPLACEMENT, str(text))
    return _CONTROL.sub(REPLACEMENT, cleaned)


def safe_text(text: object, style: str | Style = "") -> Text:
    """`text` as a rich `Text`: printed as written, never read as markup."""
    return Text(plain(text), style=style)
