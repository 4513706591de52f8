"""Pytest puts every test folder on sys.path, so two helper modules with one name shadow each other
(the first imported wins for the whole run), which breaks only when the folders run together."""
import collections
import os

HERE = os.path.dirname(os.path.abspath(__file__))


def test_helper_module_names_are_unique_across_test_folders():
    seen = collections.defaultdict(list)
    for folder, _, files in os.walk(HERE):
        for name in files:
            if name.endswith(".py") and name != "conftest.py" and not name.startswith("test_"):
                seen[name].append(os.path.relpath(os.path.join(folder, name), HERE))
    assert not {n: p for n, p in seen.items() if len(p) > 1}
