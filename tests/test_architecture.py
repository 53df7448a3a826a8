"""The floor plan holds: imports run one way (shell → jobs → voice → platforms → core) with no circle anywhere
(tests and benchmarks included), each table is read and written by its one owning module, and every registered
platform implements the reader/publisher Protocols the jobs call."""

from __future__ import annotations

import ast
import importlib
import inspect
import re
from collections import defaultdict
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("bot", "jobs", "platforms", "tests", "bench")
LAYERS = (("bot.shell", 4), ("jobs", 3), ("bot.voice", 2), ("platforms", 1), ("bot.core", 0))
# table → the one module that reads and writes it (bot/core/store.py creates and migrates them all)
OWNERS = {
    "posts": "bot/core/posts.py", "topics": "bot/core/topics.py", "drafts": "bot/core/drafts.py",
    "publications": "bot/core/ledger.py", "runs": "bot/core/runlog.py", "adapters": "bot/core/adapters.py",
    "schedule_state": "bot/core/schedule_state.py", "crawl_refs": "jobs/crawl.py", "files": "jobs/ingest.py",
}


def _modules() -> dict[str, Path]:
    out = {}
    for pkg in PACKAGES:
        for p in (ROOT / pkg).rglob("*.py"):
            rel = p.relative_to(ROOT).with_suffix("")
            out[".".join(rel.parts).removesuffix(".__init__")] = p
    return out


def _graph() -> dict[str, set[str]]:
    """Module → the project modules it imports (anywhere in the file: lazy imports count too)."""
    mods = _modules()
    short = {m.split(".", 1)[1]: m for m in mods if m.startswith("tests.")}  # tests import helpers by bare name

    def resolve(name: str) -> str | None:
        if name in short:
            return short[name]
        while name and name not in mods:
            name = name.rpartition(".")[0]
        return name or None

    edges: dict[str, set[str]] = defaultdict(set)
    for mod, path in mods.items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and not node.level and node.module:
                names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            else:
                continue
            for name in names:
                target = resolve(name)
                if target and target != mod and not mod.startswith(target + "."):
                    edges[mod].add(target)
    return edges


def _layer(mod: str) -> int | None:
    for prefix, rank in LAYERS:
        if mod == prefix or mod.startswith(prefix + "."):
            return rank
    return None


def test_no_import_circle_anywhere():
    edges = _graph()
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    circles = []

    def visit(v: str) -> None:  # Tarjan's strongly connected components
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in edges[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                circles.append(sorted(comp))

    for v in sorted(_modules()):
        if v not in index:
            visit(v)
    assert circles == []


def test_imports_run_one_way():
    upward = [f"{a} → {b}" for a, bs in _graph().items() for b in bs
              if _layer(a) is not None and _layer(b) is not None and _layer(b) > _layer(a)]
    assert upward == []
    bot_root = [a for a, bs in _graph().items() if "bot" in bs]  # `bot` itself is only the package of the floors
    assert bot_root == []


@pytest.mark.parametrize("table", sorted(OWNERS))
def test_each_table_has_one_owner(table):
    pattern = re.compile(rf"""db\[["']{table}["']\]|\b(?:from|join|into|update)\s+{table}\b""", re.I)
    users = set()
    for pkg in ("bot", "jobs", "platforms"):
        for p in (ROOT / pkg).rglob("*.py"):
            rel = p.relative_to(ROOT).as_posix()
            if rel == "bot/core/store.py" or rel.startswith("platforms/sandbox/"):  # migrations; the sandbox's own DB
                continue
            if pattern.search(p.read_text(encoding="utf-8")):
                users.add(rel)
    assert users <= {OWNERS[table]}, f"{table} is read or written outside {OWNERS[table]}: {sorted(users)}"


def _conforms(cls: type, protocol: type) -> list[str]:
    """What `cls` lacks of `protocol`: each method by name, with at least the protocol's parameters."""
    problems = []
    for name, member in vars(protocol).items():
        if name.startswith("_") or not callable(member):
            continue
        impl = getattr(cls, name, None)
        if impl is None:
            problems.append(f"{cls.__name__}.{name} missing")
            continue
        want = [p for p in inspect.signature(member).parameters if p != "self"]
        have = inspect.signature(impl).parameters
        problems += [f"{cls.__name__}.{name} lacks parameter {p!r}" for p in want if p not in have]
    return problems


def test_every_platform_implements_the_protocols():
    import platforms
    from platforms.base import Publisher, Reader
    from platforms.publishkit import Driver

    checked = []
    for name, spec in platforms.registry().items():
        if spec.reads:
            mod = importlib.import_module(f"platforms.{name}.read")
            cls = inspect.signature(mod.make_reader).return_annotation
            cls = getattr(mod, cls) if isinstance(cls, str) else cls
            assert _conforms(cls, Reader) == []
            checked.append(cls.__name__)
        if spec.publishes and not spec.local:
            mod = importlib.import_module(f"platforms.{name}.publish")
            classes = [c for c in vars(mod).values()
                       if inspect.isclass(c) and issubclass(c, Driver) and c is not Driver]
            assert len(classes) == 1, classes
            assert _conforms(classes[0], Publisher) == []
            checked.append(classes[0].__name__)
    assert len(checked) == 6  # naver, tistory, velog: a reader and a publisher each


def test_the_registry_is_the_one_list_of_platforms():
    """No module outside a platform's own folder spells out the list of platforms."""
    import platforms

    names = "|".join(n for n in platforms.NAMES if n != "files")
    tuple_of_names = re.compile(rf"""\(\s*["'](?:{names})["']\s*,\s*["'](?:{names})["']""")
    offenders = []
    for pkg in ("bot", "jobs", "platforms"):
        for p in (ROOT / pkg).rglob("*.py"):
            rel = p.relative_to(ROOT).as_posix()
            if rel.startswith("platforms/sandbox/"):
                continue  # the sandbox imitates each platform by name: that is its job
            if tuple_of_names.search(p.read_text(encoding="utf-8")):
                offenders.append(rel)
    assert offenders == []


def test_no_driver_job_or_session_module_names_the_sandbox():
    offenders = []
    for rel in ["jobs", "platforms/naver", "platforms/tistory", "platforms/velog", "platforms/session.py",
                "platforms/publishkit.py", "platforms/browser.py", "bot/core"]:
        paths = [ROOT / rel] if rel.endswith(".py") else (ROOT / rel).rglob("*.py")
        for p in paths:
            code = "\n".join(ln for ln in p.read_text(encoding="utf-8").splitlines()
                             if not ln.lstrip().startswith("#"))
            if re.search(r"""["']sandbox["']|platforms\.sandbox""", code):
                offenders.append(p.relative_to(ROOT).as_posix())
    assert offenders == []
