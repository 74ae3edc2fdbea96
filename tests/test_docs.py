"""The documentation (issue 39): a short README that leads into a site built with MkDocs from
``docs/``; every page is in the site's navigation, every link between pages resolves, and the
site builds without a warning where MkDocs is installed (the ``docs`` extra)."""
import os
import re
import subprocess
import sys

import pytest

from conftest import ROOT

yaml = pytest.importorskip("yaml")
PAGES = sorted((ROOT / "docs").glob("*.md"))


def nav_files(nav) -> list[str]:
    """Every file the ``nav`` of mkdocs.yml names, nested sections included."""
    if isinstance(nav, str):
        return [nav]
    if isinstance(nav, dict):
        return [f for v in nav.values() for f in nav_files(v)]
    return [f for item in nav for f in nav_files(item)]


def config() -> dict:
    class Loader(yaml.SafeLoader):  # mkdocs.yml may hold !!python tags; none are needed to read nav
        pass

    Loader.add_multi_constructor("", lambda loader, suffix, node: None)
    return yaml.load((ROOT / "mkdocs.yml").read_text(), Loader=Loader)


def test_the_readme_is_short_and_leads_into_the_docs():
    readme = (ROOT / "README.md").read_text()
    assert len(readme.splitlines()) <= 200
    assert "## Two commands on a fresh machine" in readme
    for page in ("docs/step-laws.md", "docs/forecasts.md", "docs/size-laws.md", "docs/cli.md"):
        assert f"({page})" in readme, page


def test_every_page_is_in_the_navigation_and_every_entry_exists():
    named = nav_files(config()["nav"])
    assert sorted(p.name for p in PAGES) == sorted(f for f in named if f.endswith(".md") and "/" not in f)
    for f in named:
        assert (ROOT / "docs" / f).exists(), f


def test_every_link_between_pages_resolves():
    for page in [ROOT / "README.md", *PAGES]:
        for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", page.read_text()):
            if "://" in target or target.startswith("mailto:"):
                continue
            assert (page.parent / target).exists(), f"{page.name}: a link to {target}, which is not there"


@pytest.mark.slow
def test_the_site_builds_without_a_warning(tmp_path):
    pytest.importorskip("mkdocs")
    pytest.importorskip("material")
    done = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-q", "-d", str(tmp_path / "site")],
                          cwd=ROOT, capture_output=True, text=True, env={**os.environ, "NO_MKDOCS_2_WARNING": "1"})
    assert done.returncode == 0, done.stderr[-3000:]
    assert (tmp_path / "site" / "index.html").exists() and (tmp_path / "site" / "api" / "index.html").exists()
    assert "scalelaw.auto.fit" in (tmp_path / "site" / "api" / "index.html").read_text()
