"""The house rules of inpaintkit/, checked on the source text (``ast``), not by importing anything.

* Layers point one way: no import cycle between inpaintkit's modules, function-local imports included.
* Inference never imports training: ``pipeline``, ``widgets`` (and any drawing module) stay free of ``train``.
* Small rooms: no function over 80 lines, no class over 200 (docstrings aside).
* Every public module says what it exports: ``__all__``, every name in it defined.
* Every script outside the package lets waiting OpenMP threads sleep: ``OMP_WAIT_POLICY`` is set (or inpaintkit,
  which sets it, is imported) before torch loads.
"""

import ast
import json
from pathlib import Path

import pytest
import torch

PACKAGE = Path(__file__).resolve().parents[1] / "inpaintkit"
MAX_FUNCTION_LINES = 80
MAX_CLASS_LINES = 200


def _modules() -> dict[str, ast.Module]:
    """Module name (``config``, ``weights.x``) -> its parsed source, for every .py file in the package."""
    out = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        name = ".".join(path.relative_to(PACKAGE).with_suffix("").parts)
        out[name] = ast.parse(path.read_text(), filename=str(path))
    return out


MODULES = _modules()


def _imported(tree: ast.Module, module: str) -> set[str]:
    """The inpaintkit modules ``module`` imports anywhere in its body: top level, in functions, in classes."""
    found = set()
    package = module.split(".")[:-1]                      # the package a relative import starts from
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names if a.name == "inpaintkit" or a.name.startswith("inpaintkit.")]
            found |= {n.removeprefix("inpaintkit").lstrip(".") for n in names}
        elif isinstance(node, ast.ImportFrom):
            if node.level:                                # from .x import y / from . import x
                base = ".".join(package[:len(package) - node.level + 1] + ([node.module] if node.module else []))
            elif node.module == "inpaintkit" or (node.module or "").startswith("inpaintkit."):
                base = node.module.removeprefix("inpaintkit").lstrip(".")
            else:
                continue
            if base:
                found.add(base)
            # `from . import masks` / `from inpaintkit import masks`: the names may be modules themselves
            found |= {f"{base}.{a.name}".lstrip(".") for a in node.names if f"{base}.{a.name}".lstrip(".") in MODULES}
    return {m for m in found if m in MODULES and m != module}


GRAPH = {name: _imported(tree, name) for name, tree in MODULES.items()}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One cycle through each strongly connected component of more than one module (Tarjan's algorithm)."""
    index, low, stack, on_stack, comps = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                comps.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return comps


def test_the_import_graph_sees_function_local_imports():
    assert "config" in GRAPH["losses"]                          # top level: from .config import ...
    assert "hed" in GRAPH["losses"]                             # inside vgg_features(): from .hed import load_hed
    assert {"layers", "networks"} <= GRAPH["ablation"]          # from .layers / .networks import ...
    assert {"masks", "metrics"} <= GRAPH["ablation"]            # from . import masks as _masks
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_import_cycles():
    cycles = _cycles(GRAPH)
    assert not cycles, "modules that import each other (directly or round a loop): " + "; ".join(
        " <-> ".join(c) for c in cycles)


def test_config_is_the_bottom_layer():
    assert GRAPH["config"] == set(), f"config imports {sorted(GRAPH['config'])}"


def _reaches(start: str) -> set[str]:
    seen, todo = set(), [start]
    while todo:
        for m in GRAPH[todo.pop()] - seen:
            seen.add(m)
            todo.append(m)
    return seen


INFERENCE = [m for m in sorted(GRAPH) if m in ("pipeline", "widgets") or "draw" in m]


@pytest.mark.parametrize("module", INFERENCE)
def test_inference_never_imports_training(module):
    assert "train" not in _reaches(module), f"{module} imports train (directly or through another module)"


def _body_lines(node) -> int:
    """Lines from the first statement after the docstring to the node's last line."""
    body = node.body
    if (body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant)
            and isinstance(body[0].value.value, str) and len(body) > 1):
        body = body[1:]
    return node.end_lineno - body[0].lineno + 1


def _oversized() -> list[str]:
    """``module.Class.method (function, n lines)`` for every function and class over its limit."""
    out = []

    def visit(node, prefix):
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                kind, limit = (("class", MAX_CLASS_LINES) if isinstance(child, ast.ClassDef)
                               else ("function", MAX_FUNCTION_LINES))
                if _body_lines(child) > limit:
                    out.append(f"{prefix}.{child.name} ({kind}, {_body_lines(child)} lines)")
                visit(child, f"{prefix}.{child.name}")
            else:
                visit(child, prefix)

    for name, tree in MODULES.items():
        visit(tree, name)
    return out


def test_body_lines_skip_the_docstring():
    tree = ast.parse('def f():\n    """Doc.\n\n    More.\n    """\n    a = 1\n    return a\n')
    assert _body_lines(tree.body[0]) == 2


def test_no_function_over_80_lines_and_no_class_over_200():
    oversized = _oversized()
    assert not oversized, "over the limit:\n" + "\n".join(oversized)


PUBLIC = sorted(m for m in MODULES if not any(part.startswith("_") for part in m.split(".")))


def _defined(tree: ast.Module) -> set[str]:
    """Names bound at module level: defs, classes, assignments, imports (a re-export counts)."""
    names = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for t in targets:
                names |= {n.id for n in ast.walk(t) if isinstance(n, ast.Name)}
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names |= {(a.asname or a.name).split(".")[0] for a in node.names}
    return names


def _all(tree: ast.Module) -> list[str] | None:
    for node in tree.body:
        if isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            if any(isinstance(t, ast.Name) and t.id == "__all__" for t in targets):
                return list(ast.literal_eval(node.value))
    return None


@pytest.mark.parametrize("module", PUBLIC)
def test_public_modules_define_all_and_every_name_in_it_exists(module):
    tree = MODULES[module]
    names = _all(tree)
    assert names is not None, f"inpaintkit/{module.replace('.', '/')}.py has no __all__"
    assert len(names) == len(set(names)), f"{module}.__all__ lists a name twice"
    missing = [n for n in names if n not in _defined(tree)]
    assert not missing, f"{module}.__all__ names what the module does not define: {missing}"


def test_the_shipped_weights_load_into_todays_networks():
    """Strict loading: every state-dict key and shape of inpaintkit/weights/*.pt is what the builders make."""
    from inpaintkit.networks import count_parameters, image_generator, sketch_generator

    info = json.loads((PACKAGE / "weights" / "demo.json").read_text())
    prof = info["profile"]
    nets = {"gs": sketch_generator(prof["gs_channels"], skips=prof["skips"]),
            "gi": image_generator(prof["gi_channels"], block=info["block"], skips=prof["skips"],
                                  prefill=prof["prefill"])}
    assert {p.name for p in (PACKAGE / "weights").glob("*.pt")} == set(info["files"].values())
    for key, net in nets.items():
        state = torch.load(PACKAGE / "weights" / info["files"][key], map_location="cpu", weights_only=True)
        net.load_state_dict({k: v.float() for k, v in state.items()})
        assert count_parameters(net) == info["num_params"][key]


SCRIPTS = sorted((PACKAGE.parent / d / f) for d in ("benchmarks", "data_scripts")
                 for f in (p.name for p in (PACKAGE.parent / d).glob("*.py")))


def _torch_loads_before_the_wait_policy(source: str) -> bool:
    """True if a top-level statement loads torch (torch, torchvision) before one that sets OMP_WAIT_POLICY or
    imports inpaintkit (whose __init__ sets it). libgomp reads the policy once, when torch loads it: spinning
    threads made a 2-thread inpaint ~20x slower beside another job (README, "Run times")."""
    for node in ast.parse(source).body:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
            roots = {n.split(".")[0] for n in names}
            if "inpaintkit" in roots:
                return False
            if roots & {"torch", "torchvision"}:
                return True
        elif "OMP_WAIT_POLICY" in ast.unparse(node):
            return False
    return False


def test_the_wait_policy_check_tells_the_two_orders_apart():
    assert _torch_loads_before_the_wait_policy("import os\nimport torch\n")
    assert _torch_loads_before_the_wait_policy("from torchvision import models\nimport inpaintkit\n")
    assert not _torch_loads_before_the_wait_policy(
        "import os\nos.environ.setdefault('OMP_WAIT_POLICY', 'PASSIVE')\nimport torch\n")
    assert not _torch_loads_before_the_wait_policy("from inpaintkit.cli import command\nimport torch\n")
    assert not _torch_loads_before_the_wait_policy("import json\n")


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_scripts_set_the_wait_policy_before_torch_loads(script):
    assert not _torch_loads_before_the_wait_policy(script.read_text()), (
        f"{script.name} imports torch before OMP_WAIT_POLICY is set: add "
        "os.environ.setdefault(\"OMP_WAIT_POLICY\", \"PASSIVE\") above `import torch`")
