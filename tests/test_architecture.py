"""The package's shape, read from the file tree: no import cycles, layers that stack, and every speed trick in accel/.

The import graph is built with ``ast`` from every ``import`` statement in
src/retrograd, those inside functions included: a lazy import is still an
edge. An edge goes to the module an import names: ``from pkg import name``
to ``pkg.name`` when that is a module, else to ``pkg`` (its ``__init__``);
``import a.b.c`` to ``a.b.c``. (Python also runs the ``__init__`` of every
package on the way; those only gather names for users, so importing a
package's inner module is not taken as a dependency on everything the
package re-exports.)
"""
import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
PACKAGE = SRC / "retrograd"
ACCEL = PACKAGE / "accel"


def _modules():
    """{dotted name: (path, is_package)} for every module of the package."""
    mods = {}
    for path in PACKAGE.rglob("*.py"):
        parts = list(path.relative_to(SRC).with_suffix("").parts)
        is_package = parts[-1] == "__init__"
        if is_package:
            parts = parts[:-1]
        mods[".".join(parts)] = (path, is_package)
    return mods


def _imported(module, is_package, node):
    """The dotted names an Import or ImportFrom node names."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    if node.level:
        base = module.split(".")
        if not is_package:
            base = base[:-1]
        base = base[:len(base) - (node.level - 1)]
        base = ".".join(base + ([node.module] if node.module else []))
    else:
        base = node.module
    return [(base, alias.name) for alias in node.names]


def _runtime_imports(tree):
    """Every Import / ImportFrom node, at any depth, except under ``if TYPE_CHECKING:`` (never run)."""
    stack = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            stack.extend(node.orelse)
            continue
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node
        stack.extend(ast.iter_child_nodes(node))


def import_graph():
    """{module: set of modules it imports}, within the package."""
    mods = _modules()
    graph = {m: set() for m in mods}
    for module, (path, is_package) in mods.items():
        for node in _runtime_imports(ast.parse(path.read_text(), str(path))):
            for target in _imported(module, is_package, node):
                if isinstance(target, tuple):
                    base, name = target
                    target = f"{base}.{name}" if f"{base}.{name}" in mods else base
                if target in mods and target != module:
                    graph[module].add(target)
    return graph


def find_cycle(graph):
    """One import cycle as a list of modules, or None."""
    state = {}
    for start in sorted(graph):
        if start in state:
            continue
        stack = [(start, iter(sorted(graph[start])))]
        path = [start]
        state[start] = "open"
        while stack:
            node, children = stack[-1]
            child = next(children, None)
            if child is None:
                state[node] = "done"
                stack.pop()
                path.pop()
            elif state.get(child) == "open":
                return path[path.index(child):] + [child]
            elif child not in state:
                state[child] = "open"
                stack.append((child, iter(sorted(graph[child]))))
                path.append(child)
    return None


GRAPH = import_graph()


def test_the_graph_is_read_from_every_module_and_sees_lazy_imports():
    """Guards the checker itself: it knows the package and an import inside a function."""
    assert len(GRAPH) > 80
    assert "retrograd.accel.trace" in GRAPH["retrograd.accel.compiled"]
    assert "retrograd.io" in GRAPH["retrograd.training.checkpoint"]          # imported inside functions
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_no_import_cycles():
    cycle = find_cycle(GRAPH)
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


# the autograd stack, bottom to top: each module imports only modules below it
AUTOGRAD_LAYERS = [
    ["retrograd.backend"],
    ["retrograd.autograd.tensor"],
    ["retrograd.autograd.ops.registry"],
    ["retrograd.autograd.ops." + name for name in
     ("compare", "elementwise", "linalg", "reduction", "shape", "conv", "recurrent", "softmax_xent")],
    ["retrograd.autograd.ops"],
    ["retrograd.autograd.functions", "retrograd.autograd.engine"],
    ["retrograd.autograd.functional", "retrograd.autograd.gradcheck", "retrograd.autograd.tensor_methods",
     "retrograd.autograd.factories", "retrograd.autograd.per_example"],
    ["retrograd.autograd"],
]


def test_the_autograd_layers_stack():
    rank = {m: k for k, layer in enumerate(AUTOGRAD_LAYERS) for m in layer}
    autograd = {m for m in GRAPH if m.startswith("retrograd.autograd")}
    assert autograd <= set(rank), f"modules missing from the layer table: {sorted(autograd - set(rank))}"
    upward = sorted((a, b) for a in rank for b in GRAPH[a] if b in rank and rank[b] >= rank[a])
    assert not upward, f"imports that go up the autograd stack: {upward}"


@pytest.mark.parametrize("package", ["autograd", "nn", "optim", "training", "data", "io"])
def test_the_semantic_packages_never_import_the_wing(package):
    prefix = f"retrograd.{package}"
    offenders = sorted((m, t) for m in GRAPH if m == prefix or m.startswith(prefix + ".")
                       for t in GRAPH[m] if t == "retrograd.accel" or t.startswith("retrograd.accel."))
    assert not offenders, f"{package} imports retrograd.accel: {offenders}"


def test_only_the_package_root_imports_the_wing_from_outside():
    outside = sorted(m for m in GRAPH if not m.startswith("retrograd.accel") and m != "retrograd"
                     and any(t.startswith("retrograd.accel") for t in GRAPH[m]))
    assert not outside
    assert "retrograd.accel" in GRAPH["retrograd"]


def test_no_upward_imports_of_the_root_or_of_io():
    """Only the command line (the application on top) imports the package root; nn never imports the io
    package or its model files (which build nn modules), at most a file format's reader."""
    importers = sorted(m for m in GRAPH if "retrograd" in GRAPH[m] and not m.startswith("retrograd.cli"))
    assert not importers
    upward = sorted((m, t) for m in GRAPH if m.startswith("retrograd.nn") for t in GRAPH[m]
                    if t in ("retrograd.io", "retrograd.io.model_files") or t.startswith("retrograd.io.onnx"))
    assert not upward


# ---------------------------------------------------------------------------- the wing owns the machinery

MACHINERY_MODULES = {"ctypes", "threading", "_thread", "concurrent", "concurrent.futures", "multiprocessing"}
# names whose use means a thread pool, a pool allocator or a C call, wherever they are imported from
MACHINERY_NAMES = {"ThreadPoolExecutor", "ProcessPoolExecutor", "Thread", "local", "getrefcount", "CDLL",
                   "cdll", "Lock", "RLock"}


def _machinery(path):
    """(line, what) for each machinery import or use in a file."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names if a.name.split(".")[0] in
                      {m.split(".")[0] for m in MACHINERY_MODULES}]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            if node.module.split(".")[0] in {m.split(".")[0] for m in MACHINERY_MODULES}:
                found.append((node.lineno, node.module))
        elif isinstance(node, ast.Attribute) and node.attr in MACHINERY_NAMES:
            found.append((node.lineno, node.attr))
        elif isinstance(node, ast.Name) and node.id in MACHINERY_NAMES:
            found.append((node.lineno, node.id))
    return found


def test_every_c_source_and_header_lives_in_the_wing():
    outside = [p for ext in ("*.c", "*.h", "*.cpp", "*.cu", "*.pyx") for p in PACKAGE.rglob(ext)
               if ACCEL not in p.parents]
    assert not outside
    assert list(ACCEL.glob("*.c"))


def test_every_ctypes_thread_and_pool_lives_in_the_wing():
    outside = {str(p.relative_to(SRC)): _machinery(p) for p in PACKAGE.rglob("*.py") if ACCEL not in p.parents}
    outside = {k: v for k, v in outside.items() if v}
    assert not outside, f"speed machinery outside accel/: {outside}"
    inside = [what for p in ACCEL.rglob("*.py") for _, what in _machinery(p)]
    for expected in ("ctypes", "threading", "getrefcount", "ThreadPoolExecutor"):
        assert expected in inside                                  # the checker sees them where they are


def test_the_build_compiles_only_the_wings_sources():
    setup = ast.parse((SRC.parent / "setup.py").read_text())
    calls = [n for n in ast.walk(setup) if isinstance(n, ast.Call) and getattr(n.func, "id", "") == "Extension"]
    assert calls
    for call in calls:
        assert call.args[0].value.startswith("retrograd.accel._")
        sources = next(k.value for k in call.keywords if k.arg == "sources")
        for s in sources.elts:
            assert s.value.startswith("src/retrograd/accel/") and (SRC.parent / s.value).exists()
    manifest = (SRC.parent / "MANIFEST.in").read_text()
    for header in ACCEL.glob("*.h"):
        assert f"src/retrograd/accel/{header.name}" in manifest
