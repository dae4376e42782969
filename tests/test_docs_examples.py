"""The Python blocks of the user-facing pages run, in order, as one script per page."""

import pathlib
import re
import warnings

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
PAGES = ["README.md", "docs/core.md", "docs/multilayer.md", "docs/getting_started.md", "docs/choosing_a_pursuit.md",
         "docs/reading_a_result.md", "docs/learn.md", "docs/models.md"]


@pytest.mark.parametrize("page", PAGES)
def test_page_examples_run(page):
    text = (ROOT / page).read_text(encoding="utf-8")
    blocks = re.findall(r"^```python\n(.*?)^```", text, flags=re.S | re.M)
    assert blocks, f"{page} has no python examples"
    namespace = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # some examples stop at max_iter on purpose
        for block in blocks:
            exec(compile(block, f"{page}:example", "exec"), namespace)
