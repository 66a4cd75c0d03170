#!/usr/bin/env python3
"""Import circles between the modules of a crate: `scripts/module-cycles.py harness/src`.

Each .rs file is a module. A module depends on another when it names one of its items
(`crate::a::b::Item`, `super::b::Item`, `use crate::a::{b, c}`). Circles through a module's
own ancestors or descendants (a parent that declares its children, a child that uses its
parent's items) are how Rust nests modules and are not counted; a circle between siblings or
unrelated modules is. Prints each circle and exits 1 when there is one.
"""
import re
import sys
from pathlib import Path


def modules(src: Path) -> dict[tuple, Path]:
    out = {}
    for f in src.rglob("*.rs"):
        rel = f.relative_to(src).with_suffix("")
        parts = list(rel.parts)
        if parts[-1] in ("mod", "lib", "main"):
            parts = parts[:-1]
        out[tuple(parts)] = f
    return out


def strip(text: str) -> str:
    text = re.sub(r"//[^\n]*", "", text)
    text = re.sub(r'"(\\.|[^"\\])*"', '""', text)
    # Unit tests may use anything of the crate.
    cut = re.search(r"#\[cfg\(test\)\]\s*mod tests", text)
    return text[: cut.start()] if cut else text


def expand(path: str) -> list[str]:
    """`a::{b, c::d}` -> [`a::b`, `a::c::d`] (one level of braces is enough here)."""
    m = re.match(r"(.*?)::\{(.*)\}$", path, re.S)
    if not m:
        return [path]
    head, inner = m.groups()
    depth, start, items = 0, 0, []
    for i, ch in enumerate(inner):
        if ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
        elif ch == "," and depth == 0:
            items.append(inner[start:i])
            start = i + 1
    items.append(inner[start:])
    out = []
    for item in items:
        item = item.strip()
        if item and item != "self":
            out.extend(expand(f"{head}::{item}"))
        elif item == "self":
            out.append(head)
    return out


def resolve(here: tuple, path: str, mods: dict) -> tuple | None:
    parts = [p for p in path.split("::") if p]
    if not parts:
        return None
    if parts[0] == "crate":
        base, rest = (), parts[1:]
    elif parts[0] in ("super", "self"):
        base = list(here)
        while parts and parts[0] in ("super", "self"):
            if parts[0] == "super":
                base = base[:-1]
            parts = parts[1:]
        base, rest = tuple(base), parts
    else:
        return None
    best = None
    for i in range(len(rest) + 1):
        cand = base + tuple(rest[:i])
        if cand in mods:
            best = cand
    return best


def related(a: tuple, b: tuple) -> bool:
    return a[: len(b)] == b or b[: len(a)] == a


def main() -> int:
    src = Path(sys.argv[1])
    mods = modules(src)
    edges: dict[tuple, set] = {m: set() for m in mods}
    for here, f in mods.items():
        text = strip(f.read_text())
        paths = re.findall(r"\buse\s+((?:crate|super|self)::[^;]+);", text)
        paths += re.findall(r"\b((?:crate|super)(?:::\w+)+)", text)
        for p in paths:
            for one in expand(re.sub(r"\s+", "", p)):
                one = re.sub(r"\s+as\s+\w+$", "", one)
                to = resolve(here, one.replace("::*", ""), mods)
                if to is not None and to != here and not related(here, to):
                    edges[here].add(to)
    # Tarjan's strongly connected components.
    index, low, stack, on, sccs, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in edges[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                sccs.append(comp)

    sys.setrecursionlimit(10000)
    for v in mods:
        if v not in index:
            visit(v)
    name = lambda m: "::".join(m) or "crate"
    for comp in sccs:
        members = sorted(comp)
        links = [f"{name(a)} -> {name(b)}" for a in members for b in sorted(edges[a]) if b in comp]
        print(f"{src}: circle of {len(comp)} modules: " + "; ".join(links))
    print(f"{src}: {len(mods)} modules, {sum(len(e) for e in edges.values())} dependencies between unrelated modules, {len(sccs)} circles")
    return 1 if sccs else 0


if __name__ == "__main__":
    sys.exit(main())
