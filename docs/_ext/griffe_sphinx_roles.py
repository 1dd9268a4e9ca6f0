"""Griffe extension of the docs site: the package's Sphinx-style markup as Markdown.

The docstrings are numpydoc and name other objects with Sphinx roles (``:func:`load```,
``:class:`~.Expansion```, ``:mod:`.algorithms```) and end literal blocks with ``::``. The
site renders docstrings as Markdown, where those would show as raw text: this extension,
loaded by mkdocstrings (``mkdocs.yml``), rewrites them before the docstrings are parsed:

* a role naming a public name of ``daskfractal`` (its ``__all__``, documented on the API
  page), or a method or attribute of a public class, becomes a link to it;
* any other role becomes a code span holding the name as Sphinx displays it (a leading
  ``.`` dropped; ``~``: the last component only);
* ``text::`` becomes ``text:``.
"""

from __future__ import annotations

import re
from typing import Any

import griffe

_ROLE = re.compile(r":(?:py:)?(func|class|mod|meth|attr|data|exc|obj):`(~?)\.?([^`]+)`")
_LITERAL = re.compile(r"(?<=\S)::$", re.MULTILINE)


def _public() -> frozenset[str]:
    import daskfractal

    return frozenset(n for n in daskfractal.__all__ if not n.startswith("_"))


def to_markdown(text: str, public: frozenset[str] = frozenset()) -> str:
    """``text`` with every Sphinx role as a link or a code span and ``::`` endings as ``:``.

    >>> to_markdown("see :func:`~daskfractal.load` and :mod:`.algorithms`::")
    'see `load` and `algorithms`:'
    >>> to_markdown(":func:`load`, :meth:`.Reduced.keep`", frozenset({"load", "Reduced"}))
    '[`load`][daskfractal.load], [`Reduced.keep`][daskfractal.Reduced.keep]'
    """

    def replace(m: re.Match[str]) -> str:
        role, tilde, name = m.groups()
        shown = name.rsplit(".", 1)[-1] if tilde else name
        parts = name.removeprefix("daskfractal.").split(".")
        if role != "mod" and parts[0] in public and len(parts) <= 2:
            return f"[`{shown}`][daskfractal.{'.'.join(parts)}]"
        return f"`{shown}`"

    return _LITERAL.sub(":", _ROLE.sub(replace, text))


class SphinxRoles(griffe.Extension):
    """Rewrite the Sphinx markup of every docstring as Markdown (see the module docstring)."""

    def __init__(self) -> None:
        self.public = _public()

    def on_instance(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        if obj.docstring is not None:
            obj.docstring.value = to_markdown(obj.docstring.value, self.public)
