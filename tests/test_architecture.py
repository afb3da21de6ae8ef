"""The one-way doors of docs/architecture.md: no room imports a room above it."""
import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

#: Floor of each room (a top-level module or package of fastjam); a room imports only from
#: its own floor or below. Rooms not listed are not checked.
FLOORS = {
    "physics": 0, "validation": 0, "atomic": 0, "parallel": 0, "galaxy": 0, "compilation": 0, "findings": 0,
    "forward": 1,
    "jam": 2, "jampy_surface": 2, "jampy_los": 2, "jampy_patch": 2, "emulator": 2, "design": 2, "family": 2, "dataset": 2, "photometry": 2,
    "simulate": 3, "model": 3,
    "samplers": 4, "posterior": 4,
    "input_checks": 4, "diagnostics": 4,
    "fit": 5, "mock": 5, "result": 5,
    "compare": 6, "plots": 6, "io": 6, "config": 6, "catalog": 6, "survey_table": 6,
    "recovery": 6, "mock_survey": 6, "exact": 6, "exact_posterior": 6, "exact_fit": 6,
    "survey": 7,
    "cli": 8, "cli_args": 8, "__main__": 8,
}
#: Imports across the doors that docs/architecture.md names: a fit reads its data, its result saves its figures, and it
#: completes its configuration from a data file's header.
ALLOWED_UP = {("fit", "io"), ("result", "plots"), ("fit", "config")}
#: Neighbours on one floor that must not import each other (importer, imported).
FORBIDDEN_SIDEWAYS = {("jam", "emulator"), ("model", "simulate"), ("simulate", "model")}


def _room_of(path):
    """Room of a source file: fastjam/<room>[.py|/...], or the repository's samplers/."""
    rel = path.relative_to(ROOT)
    return "samplers" if rel.parts[0] == "samplers" else rel.with_suffix("").parts[1]


def _imported_rooms(path):
    """Rooms of fastjam that a file imports, at module level or inside functions."""
    rel = path.relative_to(ROOT)
    package = ["fastjam", "samplers"] if rel.parts[0] == "samplers" else list(rel.with_suffix("").parts[:-1])
    if path.name == "__init__.py" and rel.parts[0] != "samplers":
        package = list(rel.parent.parts)
    rooms = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            base = package[:len(package) - node.level + 1] if node.level else []
            target = base + (node.module.split(".") if node.module else [])
            names = [target + [a.name] for a in node.names] if len(target) == 1 else [target]
        elif isinstance(node, ast.Import):
            names = [a.name.split(".") for a in node.names]
        else:
            continue
        rooms.update(t[1] for t in names if len(t) > 1 and t[0] == "fastjam")
    return rooms


def test_no_room_imports_a_room_above_it():
    files = [p for p in (ROOT / "fastjam").rglob("*.py") if "samplers" not in p.relative_to(ROOT).parts]
    files += list((ROOT / "samplers").glob("*.py"))
    assert len(files) > 40
    wrong = []
    for path in files:
        room = _room_of(path)
        for other in _imported_rooms(path) - {room}:
            if room not in FLOORS or other not in FLOORS or (room, other) in ALLOWED_UP:
                continue
            if FLOORS[other] > FLOORS[room] or (room, other) in FORBIDDEN_SIDEWAYS:
                wrong.append(f"{path.relative_to(ROOT)} ({room}) imports {other}")
    assert not wrong, "\n".join(wrong)


def test_the_samplers_sample_any_log_density():
    """The sampler backends import nothing of fastjam but each other and the atomic writer (for
    their checkpoints)."""
    for path in (ROOT / "samplers").glob("*.py"):
        assert _imported_rooms(path) <= {"samplers", "atomic"}, path.name
