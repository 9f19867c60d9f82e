"""The documentation's code runs as written, its figures are true, and its links resolve.

Every page (README.md and each Markdown file under docs/) is a program: its ```python blocks run
top to bottom in one fresh namespace, in an empty working folder, with JAX's default NumPy
semantics (as a reader runs them, not the suite's strict ones). Two marks, each an HTML comment on
the line before a block's fence, change that:

- ``<!-- no-run -->``: the block is shown, not run (a signature, a fragment, a loop body).
- ``<!-- requires: MODULE -->``: the block runs only where MODULE can be imported (the comparison
  page's other libraries); each such block is its own (slow) test, run after the page's unmarked
  blocks.

Most pages train something, which takes seconds to a minute of CPU each, so a page's run is a slow
test (``pytest -m slow``; CI runs both sets) unless it is listed in QUICK_PAGES or has no code to
run. The site itself (``mkdocs build --strict``) is built by slow tests when MkDocs is installed
(the ``docs`` extra): every link of the built site resolves, no docstring's Sphinx role shows as
text, and no API object is documented twice on a page; the Markdown links are checked here
without it.
"""

import contextlib
import importlib.util
import os
import re
import subprocess
import sys
import unicodedata
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

import jax
import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
PAGES = ["README.md"] + sorted(str(p.relative_to(ROOT)) for p in DOCS.rglob("*.md")
                               if "_hooks" not in p.parts)
# Pages whose code runs in a few seconds of CPU, in the default test run; the others are slow.
QUICK_PAGES = {"docs/data.md"}

FENCE = re.compile(r"^```python[^\n]*\n(.*?)^```", flags=re.S | re.M)
MARK = re.compile(r"<!--\s*(no-run|requires:\s*([\w.]+))\s*-->\s*$")


def blocks(page: str) -> list[tuple[str, str | None, int]]:
    """The page's python blocks as ``(code, mark, line)``; mark is None, "no-run" or a module."""
    text = (ROOT / page).read_text()
    found = []
    for match in FENCE.finditer(text):
        before = text[:match.start()].rstrip("\n").rsplit("\n", 1)[-1]
        mark = MARK.search(before)
        kind = None if mark is None else (mark.group(2) or mark.group(1))
        line = text.count("\n", 0, match.start()) + 2
        # Pad with blank lines so that a traceback names the page's own line numbers.
        found.append(("\n" * (line - 1) + match.group(1), kind, line))
    return found


@contextlib.contextmanager
def as_a_reader(folder: Path):
    """JAX's default semantics and a working folder of its own, as when a reader runs a page;
    NumPy's print options are restored afterwards (pages set their own)."""
    previous = os.getcwd()
    os.chdir(folder)
    try:
        with jax.numpy_dtype_promotion("standard"), jax.numpy_rank_promotion("allow"), \
                np.printoptions():
            yield
    finally:
        os.chdir(previous)


def run(page: str, code: str, namespace: dict) -> None:
    exec(compile(code, str(ROOT / page), "exec"), namespace)


def run_page(page: str, folder: Path) -> dict:
    namespace: dict = {"__name__": "__docs__"}
    with as_a_reader(folder):
        for code, mark, _ in blocks(page):
            if mark is None:
                run(page, code, namespace)
    return namespace


def is_slow(page: str) -> bool:
    return page not in QUICK_PAGES and any(mark is None for _, mark, _ in blocks(page))


def page_params():
    return [pytest.param(page, marks=pytest.mark.slow) if is_slow(page) else page
            for page in PAGES]


@pytest.mark.parametrize("page", page_params())
def test_the_page_code_runs(page, tmp_path, capsys):
    namespace = run_page(page, tmp_path)
    if page == "docs/getting-started.md":
        assert namespace["result"].history["val_accuracy"][-1] > 0.95


def requirement_params():
    params = []
    for page in PAGES:
        for _, mark, line in blocks(page):
            if mark not in (None, "no-run"):
                params.append(pytest.param(page, line, mark, marks=pytest.mark.slow,
                                           id=f"{page}:{line}:{mark}"))
    return params


@pytest.mark.parametrize(("page", "line", "module"), requirement_params())
def test_the_block_for_another_library_runs_where_it_is_installed(page, line, module, tmp_path,
                                                                   capsys):
    if importlib.util.find_spec(module) is None:
        pytest.skip(f"{module} is not installed")
    namespace = run_page(page, tmp_path)
    code = next(code for code, _, at in blocks(page) if at == line)
    with as_a_reader(tmp_path):
        run(page, code, namespace)


def test_blocks_are_marked_only_with_known_marks():
    for page in PAGES:
        text = (ROOT / page).read_text()
        for comment in re.findall(r"<!--\s*((?:no-run|requires)[^>]*?)\s*-->", text):
            assert re.fullmatch(r"no-run|requires:\s*[\w.]+", comment), (page, comment)


def test_the_summary_shown_in_getting_started_is_what_summary_prints(capsys):
    import jax.numpy as jnp

    import jaxnet as jn

    page = (ROOT / "docs/getting-started.md").read_text()
    shown = re.search(r"```\n(layer \(type\).*?)```", page, flags=re.S).group(1).strip()
    model = jn.Sequential([
        jn.Dense(512), jn.relu, jn.Dropout(0.2),
        jn.Dense(512), jn.BatchNorm(), jn.relu, jn.Dropout(0.2),
        jn.Dense(10),
    ])
    params, state = model.init(jax.random.key(0), jnp.zeros((1, 784)))
    assert jn.summary(model, params, state, jnp.zeros((1, 784))).strip() == shown


# Links -------------------------------------------------------------------------------------------

LINK = re.compile(r"(?<!!)\[[^\]\n]*\]\(([^)\s]+)\)")
IMAGE = re.compile(r"!\[[^\]\n]*\]\(([^)\s]+)\)")


def slug(heading: str) -> str:
    """The anchor MkDocs (Python-Markdown's toc) gives a heading."""
    text = re.sub(r"`|\*\*|\[([^\]]*)\]\([^)]*\)", r"\1", heading)
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().strip().lower()
    text = re.sub(r"[^\w\s-]", "", text)
    return re.sub(r"[-\s]+", "-", text).strip("-")


def anchors(path: Path) -> set[str]:
    if path.suffix != ".md":
        return set()
    text = re.sub(r"^```.*?^```", "", path.read_text(), flags=re.S | re.M)
    headings = {slug(h) for h in re.findall(r"^#{1,6}\s+(.*?)\s*#*$", text, flags=re.M)}
    # An API page's `::: module.name` line renders as a heading anchored at the full name.
    return headings | set(re.findall(r"^:::\s+(\S+)", text, flags=re.M))


def prose(path: Path) -> str:
    """A page's text outside code blocks and inline code."""
    text = re.sub(r"^```.*?^```", "", path.read_text(), flags=re.S | re.M)
    return re.sub(r"`[^`\n]*`", "", text)


@pytest.mark.parametrize("page", PAGES)
def test_every_relative_link_and_image_of_the_page_resolves(page):
    source = ROOT / page
    for target in LINK.findall(prose(source)) + IMAGE.findall(prose(source)):
        parts = urlsplit(target)
        if parts.scheme or target.startswith("mailto:"):
            continue
        path = (source.parent / unquote(parts.path)).resolve() if parts.path else source
        assert path.exists(), f"{page}: {target} does not exist"
        if page.startswith("docs/"):
            assert DOCS in path.parents, f"{page}: {target} leaves the site (link to GitHub)"
        if parts.fragment and path.suffix == ".md":
            assert parts.fragment in anchors(path), f"{page}: no heading for #{parts.fragment}"


def test_every_page_is_in_the_site_navigation():
    nav = (ROOT / "mkdocs.yml").read_text()
    for page in PAGES:
        if page.startswith("docs/"):
            assert page.removeprefix("docs/") in nav, f"{page} is not in mkdocs.yml's nav"
    for notebook in sorted(DOCS.glob("notebooks/*.ipynb")):
        assert str(notebook.relative_to(DOCS)) in nav, notebook


# A Sphinx role in a docstring (":func:`grid`"), which mkdocstrings shows as text before the code.
RAW_ROLE = re.compile(r":(?:func|meth|class|mod|attr|exc|data|obj):(?:<code>[^<]*|`[^`]*)")


class _Links(HTMLParser):
    def __init__(self):
        super().__init__()
        self.links: list[str] = []
        self.ids: set[str] = set()
        self.repeated_ids: list[str] = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if "id" in attrs:
            if attrs["id"] in self.ids:
                self.repeated_ids.append(attrs["id"])
            self.ids.add(attrs["id"])
        if tag == "a" and attrs.get("href"):
            self.links.append(attrs["href"])
        if tag == "img" and attrs.get("src"):
            self.links.append(attrs["src"])


@pytest.fixture(scope="module")
def built_site(tmp_path_factory) -> tuple[Path, dict[Path, _Links]]:
    """The site built strictly, and each page's parsed links and anchors (but 404.html's, which
    links absolutely, to wherever the site is served; every other page links relatively)."""
    pytest.importorskip("mkdocs")
    pytest.importorskip("mkdocstrings")
    site = tmp_path_factory.mktemp("docs") / "site"
    build = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir",
                            str(site)], cwd=ROOT, capture_output=True, text=True,
                           env={**os.environ, "NO_MKDOCS_2_WARNING": "1"})
    assert build.returncode == 0, build.stdout + build.stderr
    parsed = {}
    for html in (page for page in site.rglob("*.html") if page.name != "404.html"):
        parser = _Links()
        parser.feed(html.read_text())
        parsed[html] = parser
    return site, parsed


@pytest.mark.slow
def test_the_site_builds_strictly_and_no_link_of_it_is_broken(built_site):
    site, parsed = built_site
    broken = []
    for html, parser in parsed.items():
        for link in parser.links:
            parts = urlsplit(link)
            if parts.scheme or link.startswith(("mailto:", "data:")):
                continue
            target = (html.parent / unquote(parts.path)).resolve() if parts.path else html
            if target.is_dir():
                target = target / "index.html"
            if not target.exists():
                broken.append(f"{html.relative_to(site)}: {link}")
            elif parts.fragment and target in parsed and parts.fragment not in parsed[target].ids:
                broken.append(f"{html.relative_to(site)}: {link} (no such anchor)")
    assert not broken, "\n".join(broken)
    api = {p.parent.name for p in (site / "api").glob("*/index.html")}
    assert api >= {"layers", "losses", "regularizers", "metrics", "training", "data", "classic",
                   "checkpoint", "parallel", "viz"}


@pytest.mark.slow
def test_no_sphinx_role_shows_as_text_in_the_built_site(built_site):
    site, parsed = built_site
    shown = [f"{html.relative_to(site)}: {role}" for html in parsed
             for role in RAW_ROLE.findall(html.read_text())]
    assert not shown, "write [`name`][jaxnet.module.name] for an object the API pages " \
        "document, ``name`` for any other:\n" + "\n".join(shown)


@pytest.mark.slow
def test_no_api_object_is_documented_twice_on_a_page(built_site):
    site, parsed = built_site
    twice = [f"{html.relative_to(site)}: {anchor}" for html, parser in parsed.items()
             for anchor in parser.repeated_ids if anchor.startswith("jaxnet.")]
    assert not twice, "documented twice on one page (its anchor repeats):\n" + "\n".join(twice)
