"""Prompt templates, one file per prompt, shipped as package data.

A template is Markdown with `$var` placeholders (string.Template). Messages are
separated by marker lines `<<<system>>>`, `<<<user>>>`, `<<<assistant>>>`; a file
with no marker is one user message. Rendering checks the variables both ways:
a missing or an unknown variable raises PromptError naming the file and the name.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from importlib import resources
from string import Template

from rankgraph.errors import PromptError

_MARKER = re.compile(r"^<<<(system|user|assistant)>>>\s*$", re.MULTILINE)


@dataclass(frozen=True)
class Prompt:
    name: str
    parts: tuple[tuple[str, Template], ...]

    @property
    def variables(self) -> frozenset[str]:
        names: set[str] = set()
        for _, template in self.parts:
            for match in template.pattern.finditer(template.template):
                name = match.group("named") or match.group("braced")
                if name:
                    names.add(name)
        return frozenset(names)

    def render(self, **values: object) -> list[dict[str, str]]:
        """Chat messages with every `$var` filled in."""
        missing = self.variables - values.keys()
        unknown = values.keys() - self.variables
        if missing:
            raise PromptError(f"prompt {self.name!r}: missing variable(s) {sorted(missing)}")
        if unknown:
            raise PromptError(f"prompt {self.name!r}: unknown variable(s) {sorted(unknown)}")
        text = {k: str(v) for k, v in values.items()}
        return [
            {"role": role, "content": template.substitute(text).strip()}
            for role, template in self.parts
        ]


def parse_prompt(name: str, source: str) -> Prompt:
    pieces = _MARKER.split(source)
    if len(pieces) == 1:
        return Prompt(name, (("user", Template(source.strip())),))
    if pieces[0].strip():
        raise PromptError(f"prompt {name!r}: text before the first <<<role>>> marker")
    roles = pieces[1::2]
    bodies = pieces[2::2]
    return Prompt(name, tuple((r, Template(b.strip())) for r, b in zip(roles, bodies, strict=True)))


@cache
def load_prompt(name: str) -> Prompt:
    """Load `prompts/<name>.md` from the installed package."""
    try:
        source = resources.files(__name__).joinpath(f"{name}.md").read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise PromptError(f"no prompt named {name!r} (looked for prompts/{name}.md)") from exc
    return parse_prompt(name, source)
