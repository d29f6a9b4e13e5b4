"""Print the package's import graph and check its shape: `python tests/import_graph.py`.

Exit 1 when a rule is broken: an import cycle, an import up the pipeline, boto3, botocore
or obstore imported outside `aws/`, typer outside `cli/`, a function over 60 lines or
with more than 7 parameters (a typer command's signature is its options: only its body
is counted), or two modules of the same file name.
"""

from __future__ import annotations

import ast
import statistics
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "publisher"
MAX_FUNCTION_LINES = 60
MAX_PARAMETERS = 7

# The pipeline, bottom up: a module may import its own layer and the ones below. Stages
# of one rank are siblings that never import each other: the files kept under
# _publisher/ (bookkeeping), where documents go (targets), and the servers' side.
LAYERS = {
    "state": 1,
    "settings": 2,
    "documents": 3,
    "delivery": 4,
    "bookkeeping": 5,
    "targets": 5,
    "servers": 5,
    "publishing": 6,
    "operations": 7,
    "api": 8,
    "pages": 8,  # what people read: beside the library API, used by the CLI
    "": 9,  # the package itself: the library API
    "cli": 10,
    "__main__": 11,
}
BASE = 0  # errors, redact, files, gcpause, schemas, aws: used by every stage


def layer(name: str) -> tuple[str, int]:
    """Return the stage a module belongs to and its rank in LAYERS."""
    parts = name.split(".")[1:]
    stage = parts[0] if parts else ""
    return stage, LAYERS.get(stage, BASE)


def module_name(path: Path) -> str:
    """Return the dotted module name of a file of the package."""
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _resolve(name: str, node: ast.ImportFrom, is_package: bool) -> list[str]:
    base = name.split(".") if is_package else name.split(".")[:-1]
    if node.level:
        base = base[: len(base) - (node.level - 1)]
        prefix = ".".join(base + ([node.module] if node.module else []))
    else:
        prefix = node.module or ""
    return [f"{prefix}.{alias.name}" for alias in node.names] + [prefix]


def imports(path: Path, known: set[str]) -> tuple[set[str], set[str]]:
    """Return (modules of the package imported, top-level third-party names imported)."""
    name = module_name(path)
    tree = ast.parse(path.read_text(encoding="utf-8"))
    inside: set[str] = set()
    outside: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            candidates = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            candidates = _resolve(name, node, path.name == "__init__.py")
            if node.level == 0:
                outside.add((node.module or "").split(".")[0])
        else:
            continue
        for candidate in candidates:
            if candidate in known:
                inside.add(candidate)
            elif not candidate.startswith("publisher") and isinstance(node, ast.Import):
                outside.add(candidate.split(".")[0])
    inside.discard(name)
    return inside, outside


def graph() -> tuple[dict[str, set[str]], dict[str, set[str]], dict[str, int]]:
    """Return the package's import edges, third-party imports and line counts by module."""
    files = sorted(PACKAGE.rglob("*.py"))
    known = {module_name(f) for f in files}
    edges, third, lines = {}, {}, {}
    for f in files:
        name = module_name(f)
        edges[name], third[name] = imports(f, known)
        lines[name] = len(f.read_text(encoding="utf-8").splitlines())
    return edges, third, lines


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Return the strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(edges.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return found


def problems() -> list[str]:
    """Return every broken rule, one line each."""
    edges, third, _ = graph()
    found = [f"import cycle: {' → '.join(c)}" for c in cycles(edges)]
    for name, targets in sorted(edges.items()):
        stage, rank = layer(name)
        for target in sorted(targets):
            other, other_rank = layer(target)
            if other_rank > rank or (other_rank == rank != BASE and other != stage):
                found.append(f"{name} imports {target}: up the pipeline (or across it)")
    for name, names in sorted(third.items()):
        aws = sorted(names & {"boto3", "botocore", "obstore"})
        if aws and not name.startswith("publisher.aws"):
            found.append(f"{name} imports {aws[0]} (only publisher.aws may)")
        if "typer" in names and not name.startswith("publisher.cli"):
            found.append(f"{name} imports typer (only publisher.cli may)")
    found += [f"{where}: {why}" for where, why in long_functions()]
    found += [f"two modules named {name}: {', '.join(paths)}" for name, paths in same_names()]
    return found


def _is_command(node: ast.FunctionDef | ast.AsyncFunctionDef) -> bool:
    """A typer command or callback: `@app.command(...)`, `@app.callback(...)`."""
    return any(
        isinstance(d, ast.Call)
        and isinstance(d.func, ast.Attribute)
        and d.func.attr in ("command", "callback")
        for d in node.decorator_list
    )


def function_sizes(tree: ast.AST) -> list[tuple[str, int, int, int]]:
    """(name, line, lines, parameters) of every function; a command's lines are its body's
    and its parameters (its options) are not counted."""
    sizes = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        args = node.args
        named = [*args.posonlyargs, *args.args, *args.kwonlyargs]
        params = len([a for a in named if a.arg not in ("self", "cls")])
        params += bool(args.vararg) + bool(args.kwarg)
        command = _is_command(node)
        start = node.body[0].lineno if command else node.lineno
        lines = (node.end_lineno or start) - start + 1
        sizes.append((node.name, node.lineno, lines, 0 if command else params))
    return sizes


def long_functions(package: Path = PACKAGE) -> list[tuple[str, str]]:
    """Where a function is over MAX_FUNCTION_LINES lines or takes more than MAX_PARAMETERS."""
    found = []
    for path in sorted(package.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for name, line, lines, params in function_sizes(tree):
            where = f"{path.relative_to(package.parent)}:{line} {name}"
            if lines > MAX_FUNCTION_LINES:
                found.append((where, f"{lines} lines (at most {MAX_FUNCTION_LINES})"))
            if params > MAX_PARAMETERS:
                found.append((where, f"{params} parameters (at most {MAX_PARAMETERS})"))
    return found


def same_names(package: Path = PACKAGE) -> list[tuple[str, list[str]]]:
    """File names two modules share (`__init__.py` aside): a name says one job."""
    paths: dict[str, list[str]] = {}
    for path in sorted(package.rglob("*.py")):
        if path.name not in ("__init__.py", "__main__.py"):
            paths.setdefault(path.name, []).append(str(path.relative_to(package.parent)))
    return [(name, found) for name, found in sorted(paths.items()) if len(found) > 1]


def main() -> int:
    edges, third, lines = graph()
    for name in sorted(edges):
        targets = ", ".join(t.removeprefix("publisher.") for t in sorted(edges[name])) or "-"
        print(f"{name.removeprefix('publisher.') or 'publisher'} ({lines[name]}) → {targets}")
    boto = sorted(n for n, names in third.items() if names & {"boto3", "botocore"})
    typer = sorted(n for n, names in third.items() if "typer" in names)
    print()
    print(
        f"{len(edges)} modules, median {statistics.median(lines.values())} lines, "
        f"largest {max(lines.values())}; cycles: {len(cycles(edges))}"
    )
    print(f"botocore imported by: {', '.join(boto)}")
    print(f"typer imported by: {', '.join(typer)}")
    broken = problems()
    for line in broken:
        print(f"error: {line}", file=sys.stderr)
    return 1 if broken else 0


if __name__ == "__main__":
    sys.exit(main())
