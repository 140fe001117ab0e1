"""scripts/mutate's mutants still aim at code that exists.

A refactor that moves or rewrites a mutated line must fail here (re-target the
mutant), not leave scripts/mutate checking a snippet that is no longer there.
Running the mutants themselves takes minutes: that is scripts/mutate's job.
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _load_script():
    loader = importlib.machinery.SourceFileLoader("mutate_script", str(ROOT / "scripts" / "mutate"))
    spec = importlib.util.spec_from_loader("mutate_script", loader)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    loader.exec_module(module)
    return module


mutate = _load_script()


def test_mutant_names_are_unique():
    names = [m.name for m in mutate.MUTANTS]
    assert len(names) == len(set(names))


@pytest.mark.parametrize("mutant", mutate.MUTANTS, ids=lambda m: m.name)
def test_each_snippet_is_in_its_file_once_and_its_tests_exist(mutant):
    text = (ROOT / mutant.file).read_text(encoding="utf-8")
    assert text.count(mutant.snippet) == 1, f"{mutant.name}: re-target it in scripts/mutate"
    assert mutant.replacement != mutant.snippet
    assert mutant.description and "\n" not in mutant.description
    assert mutant.tests
    for target in mutant.tests:
        assert (ROOT / target.split("::")[0]).is_file(), target


def test_a_snippet_that_is_gone_is_an_error_and_the_file_is_left_alone(tmp_path):
    (tmp_path / "m.py").write_text("x = 1\n")
    gone = mutate.Mutant("gone", "m.py", "x = 2", "x = 3", "a refactor moved it", ("t",))
    with pytest.raises(LookupError, match="found 0 times"):
        mutate.apply_mutant(str(tmp_path), gone)
    assert (tmp_path / "m.py").read_text() == "x = 1\n"
    twice = mutate.Mutant("twice", "m.py", "x", "y", "ambiguous", ("t",))
    (tmp_path / "m.py").write_text("x = x\n")
    with pytest.raises(LookupError, match="found 2 times"):
        mutate.apply_mutant(str(tmp_path), twice)


def test_a_mutant_is_applied_to_the_copy_and_restored(tmp_path):
    (tmp_path / "m.py").write_text("a = 1\nb = 2\n")
    mutant = mutate.Mutant("m", "m.py", "b = 2", "b = 3", "b changes", ("t",))
    original = mutate.apply_mutant(str(tmp_path), mutant)
    assert (tmp_path / "m.py").read_text() == "a = 1\nb = 3\n"
    mutate.restore(str(tmp_path), mutant, original)
    assert (tmp_path / "m.py").read_text() == "a = 1\nb = 2\n"
