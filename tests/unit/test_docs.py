"""The documentation holds together: a short README, links that land, no outside references.

The README is the front page and stays short; the rest lives in docs/. Every
relative Markdown link must reach a file of the repository and, when it names
an anchor, a heading of that file (GitHub's slugs). And the repository carries
its own references: no file may point at a document that is not in it.
"""

from __future__ import annotations

import re
import subprocess
from collections import Counter
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
README_MAX_LINES = 250

FENCE = re.compile(r"^\s*(```|~~~)")
HEADING = re.compile(r"^ {0,3}(#{1,6})\s+(.*?)\s*#*\s*$")
INLINE_CODE = re.compile(r"`+[^`]*`+")
LINK = re.compile(r"\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
SLUG_DROP = re.compile(r"[^\w\- ]")

# Spelled in pieces so that this file does not name what it forbids.
SHARED = ("../" + "shared/", "/work/" + "shared")
OUTSIDE_DOCS = re.compile(r"\b(?:interface|design|style)\.md\b")
NOOJEE_DOC = "noojee-api" + ".md"
NOOJEE_REFERENCE = "docs/reference/" + NOOJEE_DOC
FILES_ON_DISK = ("--cached", "--others", "--exclude-standard")
"""Tracked files, and new ones as soon as they exist; never what .gitignore ignores."""


def markdown_pages() -> list[Path]:
    """The pages whose links are checked: the top-level ones and everything in docs/."""
    pages = [ROOT / name for name in ("README.md", "CHANGELOG.md", "BENCHMARKS.md")]
    return [page for page in pages if page.exists()] + sorted((ROOT / "docs").rglob("*.md"))


def prose_lines(text: str) -> list[tuple[int, str]]:
    """``(line number, line)`` outside fenced code blocks."""
    lines: list[tuple[int, str]] = []
    fenced = False
    for number, line in enumerate(text.splitlines(), start=1):
        if FENCE.match(line):
            fenced = not fenced
            continue
        if not fenced:
            lines.append((number, line))
    return lines


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to ``-``."""
    text = INLINE_CODE.sub(lambda match: match.group(0).strip("`"), heading)
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", text)  # a link in a heading: its text
    return SLUG_DROP.sub("", text.strip().lower()).replace(" ", "-")


@cache
def anchors(page: Path) -> frozenset[str]:
    """Every anchor GitHub gives ``page``'s headings; repeats get ``-1``, ``-2``, ..."""
    seen: Counter[str] = Counter()
    found: set[str] = set()
    for _, line in prose_lines(page.read_text(encoding="utf-8")):
        match = HEADING.match(line)
        if match is None:
            continue
        base = slug(match.group(2))
        found.add(base if seen[base] == 0 else f"{base}-{seen[base]}")
        seen[base] += 1
    return frozenset(found)


def links(page: Path) -> list[tuple[int, str]]:
    """``(line number, target)`` of every Markdown link outside code."""
    found: list[tuple[int, str]] = []
    for number, line in prose_lines(page.read_text(encoding="utf-8")):
        for match in LINK.finditer(INLINE_CODE.sub("", line)):
            found.append((number, match.group(1)))
    return found


def is_relative(target: str) -> bool:
    return re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*:", target) is None and not target.startswith("//")


def broken(page: Path, target: str) -> str | None:
    """Why a relative link of ``page`` leads nowhere, or None when it lands."""
    path, _, anchor = target.partition("#")
    destination = (page.parent / path).resolve() if path else page
    if not destination.is_relative_to(ROOT):
        return "leaves the repository"
    if not destination.exists():
        return "no such file"
    if anchor and destination.suffix == ".md" and anchor not in anchors(destination):
        return f"no heading with the anchor #{anchor} in {destination.relative_to(ROOT)}"
    return None


def repository_files() -> list[Path]:
    """Tracked files and new ones not ignored, as they are on disk now."""
    try:
        listing = subprocess.run(
            ["git", "-C", str(ROOT), "ls-files", "-z", *FILES_ON_DISK],
            capture_output=True,
            check=True,
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("not a git checkout: the list of the repository's files is unknown")
    names = sorted({name for name in listing.decode().split("\0") if name})
    return [ROOT / name for name in names if (ROOT / name).is_file()]


def text_of(path: Path) -> str | None:
    """The file's text, or None for a binary file."""
    data = path.read_bytes()
    if b"\0" in data:
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None


def noojee_mention_ok(path: Path, line: str, start: int) -> bool:
    """A mention of the vendor reference names it by its path in the repository, or is a
    relative link that resolves to it."""
    before = line[:start]
    if before.endswith("docs/reference/"):
        return True
    link = re.search(r"\]\(\s*<?([^)\s>]*)$", before)
    if link is None:
        return False
    target = (path.parent / (link.group(1) + NOOJEE_DOC)).resolve()
    return target == (ROOT / NOOJEE_REFERENCE).resolve()


def outside_references(path: Path, text: str) -> list[str]:
    """Lines of ``text`` that point at a document outside the repository."""
    problems: list[str] = []
    where = path.relative_to(ROOT)
    for number, line in enumerate(text.splitlines(), start=1):
        for needle in SHARED:
            if needle in line:
                problems.append(f"{where}:{number}: names {needle!r}")
        for match in OUTSIDE_DOCS.finditer(line):
            problems.append(f"{where}:{number}: names {match.group(0)!r}, not in the repository")
        for match in re.finditer(re.escape(NOOJEE_DOC), line):
            if not noojee_mention_ok(path, line, match.start()):
                problems.append(f"{where}:{number}: {NOOJEE_DOC} is {NOOJEE_REFERENCE}")
    return problems


def test_the_readme_is_short() -> None:
    lines = (ROOT / "README.md").read_text(encoding="utf-8").splitlines()
    assert len(lines) <= README_MAX_LINES, (
        f"README.md has {len(lines)} lines, at most {README_MAX_LINES}: move detail to docs/"
    )


def test_the_pages_are_there() -> None:
    pages = {str(page.relative_to(ROOT)) for page in markdown_pages()}
    assert {"README.md", "CHANGELOG.md", "docs/operations.md", NOOJEE_REFERENCE} <= pages


def test_every_relative_link_lands_on_a_file_and_a_heading() -> None:
    problems = [
        f"{page.relative_to(ROOT)}:{number}: ({target}) {why}"
        for page in markdown_pages()
        for number, target in links(page)
        if is_relative(target) and (why := broken(page, target)) is not None
    ]
    assert problems == [], "\n".join(problems)


def test_the_readme_links_every_docs_page() -> None:
    readme = ROOT / "README.md"
    linked = {
        (readme.parent / target.partition("#")[0]).resolve()
        for _, target in links(readme)
        if is_relative(target)
    }
    pages = sorted((ROOT / "docs").rglob("*.md"))
    missing = [str(page.relative_to(ROOT)) for page in pages if page.resolve() not in linked]
    assert missing == [], f"README.md's Documentation section should link: {missing}"


def test_no_file_points_at_a_document_outside_the_repository() -> None:
    problems: list[str] = []
    for path in repository_files():
        text = text_of(path)
        if text is not None:
            problems.extend(outside_references(path, text))
    assert problems == [], "\n".join(problems)


@pytest.mark.parametrize(
    ("heading", "anchor"),
    [
        ("Bad input", "bad-input"),
        (
            "Observability: metrics, traces, logs, alerts",
            "observability-metrics-traces-logs-alerts",
        ),
        ("The mapping file (`LEADSYNC_MAPPING_FILE`)", "the-mapping-file-leadsync_mapping_file"),
        ("2. Understand it", "2-understand-it"),
        ("Native: `lead-change/v1`", "native-lead-changev1"),
        ("What it achieves, and its limits", "what-it-achieves-and-its-limits"),
    ],
)
def test_slugs_are_githubs(heading: str, anchor: str) -> None:
    assert slug(heading) == anchor


def test_a_link_to_a_missing_heading_is_caught() -> None:
    page = ROOT / "README.md"
    assert broken(page, "docs/operations.md#bad-input") is None
    assert broken(page, "docs/operations.md#no-such-heading") is not None
    assert broken(page, "docs/no-such-page.md") is not None
    assert broken(page, "../outside.md") == "leaves the repository"


def test_outside_references_are_caught() -> None:
    page = ROOT / "docs" / "reference" / "event-contract.md"
    bad = [
        "see " + "interface" + ".md",
        "as " + NOOJEE_DOC + " says",
        "from " + SHARED[1] + "/notes",
        "[vendor](../../" + NOOJEE_DOC + ")",
    ]
    good = [
        "see " + NOOJEE_REFERENCE,
        "[vendor](" + NOOJEE_DOC + ")",
        "[vendor](../reference/" + NOOJEE_DOC + "#call)",
    ]
    assert all(outside_references(page, line) for line in bad)
    assert not any(outside_references(page, line) for line in good)
