"""Reads a docstring's ``Example:`` section as an examples section (rendered as a console session).

jaxnet's docstrings title their doctests ``Example:``, as the Google style guide does; griffe's
Google parser knows only ``Examples:`` and would otherwise render ``Example:`` as an admonition
whose ``>>>`` lines turn into Markdown block quotes.
"""

import re

import griffe

SINGULAR = re.compile(r"^(\s*)Example:\s*$", flags=re.M)


class ExampleSections(griffe.Extension):
    def on_instance(self, *, obj, **kwargs):
        if obj.docstring is not None:
            obj.docstring.value = SINGULAR.sub(r"\1Examples:", obj.docstring.value)
