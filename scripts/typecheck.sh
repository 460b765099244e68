#!/usr/bin/env bash
# mypy over the rankgraph package, configured by [tool.mypy] in pyproject.toml.
#
# The repository root *is* the `rankgraph` package (package-dir maps it) and mypy
# cannot see the editable install, so it checks the package through a `rankgraph`
# symlink in a scratch directory outside the repository (which also holds mypy's cache).
# Extra arguments go to mypy; MYPY overrides which mypy runs.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
mypy="${MYPY:-$root/.venv/bin/mypy}"
scratch="${TMPDIR:-/tmp}/rankgraph-typecheck-$(printf '%s' "$root" | cksum | cut -d' ' -f1)"

mkdir -p "$scratch"
ln -sfn "$root" "$scratch/rankgraph"
cd "$scratch"
exec "$mypy" --config-file "$root/pyproject.toml" "$@" -p rankgraph
