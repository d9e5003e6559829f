"""docs/python.md: every ```pycon example runs and prints what the page shows (doctest)."""
import doctest
import os
import re

from conftest import ROOT


def test_python_md_examples(tmp_path):
    text = (ROOT / "docs" / "python.md").read_text()
    blocks = re.findall(r"```pycon\n(.*?)```", text, flags=re.S)
    assert len(blocks) >= 8
    parser = doctest.DocTestParser()
    test = parser.get_doctest("\n".join(blocks), {"ROOT": str(ROOT)}, "docs/python.md", "docs/python.md", 0)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        runner.run(test)
    finally:
        os.chdir(cwd)
    result = runner.summarize(verbose=False)
    assert result.attempted > 30 and result.failed == 0, f"{result.failed} of {result.attempted} examples failed"
