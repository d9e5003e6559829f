"""The type stubs match the module (regenerated and compared), parse, and every public name has a docstring."""
import ast
import pydoc
import sys

import liednet
from conftest import ROOT

sys.path.insert(0, str(ROOT / "python" / "tools"))
import make_stubs  # noqa: E402


def test_stubs_are_current(tmp_path):
    generated = make_stubs.main(tmp_path)
    for name, text in generated.items():
        committed = (ROOT / "python" / "liednet" / name).read_text()
        assert committed == text, f"python/liednet/{name} is stale: run python/tools/make_stubs.py"
        ast.parse(text)


def test_help_and_docstrings():
    text = pydoc.render_doc(liednet, renderer=pydoc.plaintext)
    assert "liednet" in text and "from_dlpack" in text
    for mod in (liednet, liednet.ops, liednet.explain):
        for name in mod.__all__:
            obj = getattr(mod, name)
            assert (obj.__doc__ or "").strip(), f"{mod.__name__}.{name} has no docstring"
    assert "(Bt, d, H, W)" in pydoc.render_doc(liednet.ops.ss2d_scan, renderer=pydoc.plaintext)
