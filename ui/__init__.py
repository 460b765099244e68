"""What every command prints through: safe text, the one error handler, progress bars.

Commands import from here so that document text never turns into terminal markup or
escape sequences, a `RankgraphError` always ends a command the same way, and long
runs show progress only where someone is watching.
"""

from rankgraph.ui.errors import exit_on_error
from rankgraph.ui.progress import progress_bar, watched
from rankgraph.ui.text import plain, safe_text

__all__ = ["exit_on_error", "plain", "progress_bar", "safe_text", "watched"]
