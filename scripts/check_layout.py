"""The house rules the import linter cannot see (README, "Where things live"): no module over
400 lines, no folder with more than 12 modules, every package saying its job in its docstring.
The spec rules (lrs/xapi, one concept per file) and migrations are exempt. Exits 1 naming what
breaks a rule."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("adapters", "lrs")
MAX_LINES = 400
MAX_MODULES_PER_FOLDER = 12


def exempt(path: Path) -> bool:
    parts = path.relative_to(ROOT).parts
    return "migrations" in parts or parts[:2] == ("lrs", "xapi")


def problems() -> list[str]:
    found = []
    for package in PACKAGES:
        for folder in sorted({p.parent for p in (ROOT / package).rglob("*.py")}):
            if exempt(folder) or "management" in folder.parts:
                continue
            modules = sorted(folder.glob("*.py"))
            if len(modules) > MAX_MODULES_PER_FOLDER:
                found.append(
                    f"{folder.relative_to(ROOT)}: {len(modules)} modules (at most {MAX_MODULES_PER_FOLDER})"
                )
            init = folder / "__init__.py"
            if folder != ROOT / package and not (
                init.exists() and ast.get_docstring(ast.parse(init.read_text()))
            ):
                found.append(f"{init.relative_to(ROOT)}: no docstring saying the folder's job")
            for module in modules:
                lines = len(module.read_text().splitlines())
                if lines > MAX_LINES:
                    found.append(f"{module.relative_to(ROOT)}: {lines} lines (at most {MAX_LINES})")
    return found


if __name__ == "__main__":
    broken = problems()
    for problem in broken:
        print(problem, file=sys.stderr)
    sys.exit(1 if broken else 0)
