"""Sphinx configuration for the documentation site (`make docs`, `tox -e docs`).

The source directory is the repository root, not docs/: README.md, CHANGELOG.md and
benchmarks/README.md are pages of the site too, so every relative link between them and
docs/*.md works the same on GitHub and in the built site, and a broken one fails the build
(sphinx-build -W -n). Only the files in include_patterns are read.

    sphinx-build -W --keep-going -n -c docs . build/docs
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from sphinx import addnodes
from sphinx.application import Sphinx
from sphinx.transforms.post_transforms import SphinxPostTransform

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from django_seably import __version__  # noqa: E402  (after the path is set; the module imports nothing)

project = "django-seably"
author = "django-seably contributors"
copyright = "django-seably contributors"
version = release = __version__

extensions = ["myst_parser"]
source_suffix = {".md": "markdown"}
root_doc = "docs/index"
include_patterns = ["docs/**", "README.md", "CHANGELOG.md", "benchmarks/README.md"]
exclude_patterns = ["docs/conf.py", "docs/screenshots/**"]

# Headings get anchors, so `page.md#a-heading` links resolve (and are checked).
myst_heading_anchors = 4
myst_enable_extensions = ["colon_fence", "deflist"]

html_theme = "furo"
html_title = f"django-seably {release}"
html_extra_path = ["_extra"]  # relative to docs/: a redirect from the site's root

# Pages included from the README (docs/settings.md, ...) start at its level-2 headings;
# Pygments cannot lex the SQL the benchmarks cut short, nor crontab lines. Neither is a
# broken reference: every other warning fails the build.
suppress_warnings = ["myst.header", "misc.highlighting_failure"]
nitpicky = True


class _RootRelativeLinks(SphinxPostTransform):
    """Resolve, in README text included into a page under docs/, a link relative to the repository root.

    MyST resolves a link relative to the page that shows it, so README's `benchmarks/README.md`,
    shown in docs/how-it-works.md, would point to docs/benchmarks/README.md. A link that fits
    neither place stays unresolved, and MyST's warning fails the build.
    """

    default_priority = 5  # before MyST's own resolver

    def run(self, **kwargs: Any) -> None:
        for node in self.document.findall(addnodes.pending_xref):
            target = node.get("reftarget", "")
            if node.get("reftype") != "myst" or node.get("refdomain") == "doc" or not target.endswith(".md"):
                continue
            path = (ROOT / target).resolve()
            docname = path.relative_to(ROOT).with_suffix("").as_posix() if path.is_relative_to(ROOT) else ""
            if docname in self.env.all_docs:
                node["refdomain"] = "doc"
                node["reftarget"] = docname
                node["reftargetid"] = None


def setup(app: Sphinx) -> None:
    app.add_post_transform(_RootRelativeLinks)
