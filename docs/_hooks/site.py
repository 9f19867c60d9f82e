"""MkDocs hooks of the documentation site.

The table of docs/bad-input.md is generated from the tests; its messages quote Python subscripts
(``params['dense_0']['b']``), which Markdown would read as reference links (and the strict build
as broken cross-references). Escaping their brackets shows them as written.
"""

import re

GENERATED = "bad-input.md"
BRACKET = re.compile(r"(?<!\\)\[")


def on_page_markdown(markdown, page, **kwargs):
    if page.file.src_uri != GENERATED:
        return markdown
    lines = []
    for line in markdown.splitlines():
        if line.startswith("|"):
            cells = line.split(" | ")
            cells[-1] = BRACKET.sub(r"\\[", cells[-1]) if "`" not in cells[-1] else cells[-1]
            line = " | ".join(cells)
        lines.append(line)
    return "\n".join(lines) + "\n"
