"""Refuse regular expressions whose matching can cost more than linear time (ReDoS).

``python -m tools.redos_check PATH...`` (run by ``make lint``) reports each pattern given to
the ``re`` module under the paths that a backtracking engine (Python's) can be driven to
superlinear work with, and each that is not a literal. docs/architecture.md ("The checks
beside the code") lists the shapes it refuses and why it exists.
"""
from __future__ import annotations

import ast
import re
import re._constants as sre
import re._parser as sre_parse
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

FUNCTIONS = {"compile", "match", "fullmatch", "search", "sub", "subn", "split", "findall",
             "finditer"}
ANCHORED_USES = {"match", "fullmatch"}
# A repeat allowing more than this many is treated as unbounded.
BOUND = 100
MAX_CHAR = sys.maxunicode

Ranges = tuple[tuple[int, int], ...]


# Character sets as sorted, disjoint, inclusive ranges of code points.

def _normal(ranges: Iterable[tuple[int, int]]) -> Ranges:
    out: list[list[int]] = []
    for lo, hi in sorted(ranges):
        if out and lo <= out[-1][1] + 1:
            out[-1][1] = max(out[-1][1], hi)
        else:
            out.append([lo, hi])
    return tuple((lo, hi) for lo, hi in out)


def _union(*sets: Ranges) -> Ranges:
    return _normal(r for ranges in sets for r in ranges)


def _intersect(a: Ranges, b: Ranges) -> Ranges:
    return tuple((max(lo, blo), min(hi, bhi)) for lo, hi in a for blo, bhi in b
                 if max(lo, blo) <= min(hi, bhi))


def _complement(a: Ranges) -> Ranges:
    out, start = [], 0
    for lo, hi in a:
        if lo > start:
            out.append((start, lo - 1))
        start = hi + 1
    if start <= MAX_CHAR:
        out.append((start, MAX_CHAR))
    return tuple(out)


def _covers(outer: Ranges, inner: Ranges) -> bool:
    return _intersect(outer, inner) == _normal(inner)


@cache
def _unicode_category(test: str) -> Ranges:
    """The code points a str method accepts, as ranges (what ``re`` uses for Unicode)."""
    accept = {"digit": str.isdecimal, "space": str.isspace,
              "word": lambda ch: ch.isalnum() or ch == "_"}[test]
    ranges, start = [], None
    for code in range(MAX_CHAR + 2):
        inside = code <= MAX_CHAR and accept(chr(code))
        if inside and start is None:
            start = code
        elif not inside and start is not None:
            ranges.append((start, code - 1))
            start = None
    return tuple(ranges)


_ASCII_CATEGORIES: dict[str, Ranges] = {
    "digit": ((48, 57),), "space": ((9, 13), (32, 32)),
    "word": ((48, 57), (65, 90), (95, 95), (97, 122)),
}


def _category(name: Any, ascii_only: bool) -> Ranges:
    kind, negated = {
        sre.CATEGORY_DIGIT: ("digit", False), sre.CATEGORY_NOT_DIGIT: ("digit", True),
        sre.CATEGORY_SPACE: ("space", False), sre.CATEGORY_NOT_SPACE: ("space", True),
        sre.CATEGORY_WORD: ("word", False), sre.CATEGORY_NOT_WORD: ("word", True),
    }[name]
    ranges = _ASCII_CATEGORIES[kind] if ascii_only else _unicode_category(kind)
    return _complement(ranges) if negated else ranges


def _with_other_case(ranges: Ranges) -> Ranges:
    extra = [(ord(chr(code).swapcase()),) * 2 for lo, hi in ranges
             for code in range(max(lo, 65), min(hi, 122) + 1) if chr(code).isalpha()]
    return _union(ranges, tuple(extra))


# re._parser's tree: a list of (op, argument) items.
LEAVES = (sre.LITERAL, sre.NOT_LITERAL, sre.ANY, sre.IN)
REPEATS = (sre.MAX_REPEAT, sre.MIN_REPEAT, sre.POSSESSIVE_REPEAT)
ZERO_WIDTH = (sre.AT, sre.ASSERT, sre.ASSERT_NOT)


def _inside(op: Any, av: Any) -> list[list[Any]]:
    """The item lists an item holds: a repeat's body, a group's content, each alternative."""
    if op in REPEATS:
        return [list(av[2])]
    if op is sre.SUBPATTERN:
        return [list(av[3])]
    if op is sre.ATOMIC_GROUP:
        return [list(av)]
    if op is sre.BRANCH:
        return [list(alt) for alt in av[1]]
    if op in (sre.ASSERT, sre.ASSERT_NOT):
        return [list(av[1])]
    return []


class Analysis:
    """What a pattern's parts can match, and the findings over the whole pattern."""

    def __init__(self, pattern: str, flags: int) -> None:
        parsed = sre_parse.parse(pattern, flags)
        self.ascii_only = bool(parsed.state.flags & (re.ASCII | re.LOCALE))
        self.ignore_case = bool(parsed.state.flags & re.IGNORECASE)
        self.tree = list(parsed.data)
        self.findings: list[str] = []

    # -- properties of one item ---------------------------------------------------------

    def charset(self, op: Any, av: Any) -> Ranges:
        """The characters one single-character item matches."""
        if op is sre.LITERAL:
            ranges: Ranges = ((av, av),)
        elif op is sre.NOT_LITERAL:
            ranges = _complement(((av, av),))
        elif op is sre.ANY:
            ranges = _complement(((10, 10),))
        elif op is sre.IN:
            parts, negate = [], False
            for inner_op, inner_av in av:
                if inner_op is sre.NEGATE:
                    negate = True
                elif inner_op is sre.RANGE:
                    parts.append((inner_av,))
                elif inner_op is sre.CATEGORY:
                    parts.append(_category(inner_av, self.ascii_only))
                else:
                    parts.append(self.charset(inner_op, inner_av))
            ranges = _union(*parts)
            ranges = _complement(ranges) if negate else ranges
        else:
            raise ValueError(op)
        return _with_other_case(ranges) if self.ignore_case else ranges

    def chars(self, items: list[Any]) -> Ranges:
        """Every character the items can consume."""
        out: list[Ranges] = []
        for op, av in items:
            if op in LEAVES:
                out.append(self.charset(op, av))
            elif op in (sre.GROUPREF, sre.GROUPREF_EXISTS):
                out.append(((0, MAX_CHAR),))
            elif op not in ZERO_WIDTH:
                out.extend(self.chars(inner) for inner in _inside(op, av))
        return _union(*out)

    def first(self, items: list[Any]) -> Ranges:
        """The characters a non-empty match of the items can start with."""
        out: list[Ranges] = []
        for op, av in items:
            if op in ZERO_WIDTH:
                continue
            if op in LEAVES:
                out.append(self.charset(op, av))
            elif op in (sre.GROUPREF, sre.GROUPREF_EXISTS):
                out.append(((0, MAX_CHAR),))
            else:
                out.extend(self.first(inner) for inner in _inside(op, av))
            if self.min_length([(op, av)]) > 0:
                break
        return _union(*out)

    def min_length(self, items: list[Any]) -> int:
        total = 0
        for op, av in items:
            if op in LEAVES:
                total += 1
            elif op in REPEATS:
                total += av[0] * self.min_length(list(av[2]))
            elif op is sre.BRANCH:
                total += min(self.min_length(list(alt)) for alt in av[1])
            elif op in (sre.SUBPATTERN, sre.ATOMIC_GROUP):
                total += self.min_length(_inside(op, av)[0])
        return total

    def unbounded(self, items: list[Any]) -> bool:
        """Whether the items can match arbitrarily long text."""
        return any((op in REPEATS and av[1] > BOUND)
                   or any(self.unbounded(inner) for inner in _inside(op, av))
                   for op, av in items if op not in ZERO_WIDTH)

    def extension(self, op: Any, av: Any) -> Ranges:
        """What an item may or may not go on to match (a repeat's further iterations, the
        longer alternatives beside an empty one); nothing for an item of one length."""
        if op in (sre.MAX_REPEAT, sre.MIN_REPEAT) and av[0] != av[1]:
            return self.chars(list(av[2]))
        if op is sre.BRANCH and any(self.min_length(list(alt)) == 0 for alt in av[1]):
            return _union(*(self.chars(list(alt)) for alt in av[1]))
        return ()

    @staticmethod
    def is_run(op: Any, av: Any) -> bool:
        """An unbounded repeat that can give back what it took (not possessive)."""
        return op in (sre.MAX_REPEAT, sre.MIN_REPEAT) and av[1] > BOUND

    # -- the checks ---------------------------------------------------------------------

    def check(self, searched: bool) -> list[str]:
        self.walk(self.tree, [])
        if searched:
            self.check_restarts(self.tree)
        return list(dict.fromkeys(self.findings))

    def walk(self, items: list[Any], after: list[list[Any]]) -> None:
        """Check each run of ``items`` against what may follow it: the rest of ``items``,
        then ``after`` (the items following the enclosing groups, innermost first)."""
        for index, (op, av) in enumerate(items):
            rest = [list(items[index + 1:]), *after]
            if self.is_run(op, av):
                self.check_overlap(list(av[2]), rest)
                self.check_nested(list(av[2]))
                # Inside the body, another iteration may follow, then what follows the repeat.
                self.walk(list(av[2]), [[(sre.MAX_REPEAT, (0, av[1], av[2]))], *rest])
            elif op is sre.POSSESSIVE_REPEAT:
                self.walk(list(av[2]), [])  # it never gives back: nothing outside overlaps
            elif op is sre.ATOMIC_GROUP:
                self.walk(list(av), [])
            elif op is sre.SUBPATTERN:
                self.walk(list(av[3]), rest)
            elif op is sre.BRANCH:
                for alt in av[1]:
                    self.walk(list(alt), rest)
            elif op in (sre.MAX_REPEAT, sre.MIN_REPEAT):  # bounded: its body, repeated
                self.walk(list(av[2]), [[(op, (0, av[1], av[2]))], *rest])
            elif op in (sre.ASSERT, sre.ASSERT_NOT):
                self.walk(list(av[1]), [])

    def check_overlap(self, body: list[Any], following: list[list[Any]]) -> None:
        """A run, then another run that can take the same text with nothing between that
        must differ: the text between them can be split in as many ways as it is long.

        Two kinds of text do it: one character every item in between can match too
        (``\\d+\\.?\\d*`` on ``"1111x"``), or a unit both runs can take whole, holding what
        must match in between (``.*foo.*bar`` on ``"foofoofoo"``).
        """
        run = self.chars(body)
        shared = run  # characters each item so far can match (the first kind)
        between: Ranges = ()  # characters of the items that must match between (the second)
        for items in following:
            for op, av in _flat(items):
                if op in ZERO_WIDTH:
                    continue
                item = [(op, av)]
                if self.unbounded(item) and (
                        _intersect(shared, self.first(item))
                        or (between and _covers(run, between)
                            and _covers(self.chars(item), between))):
                    self.findings.append(
                        f"{_show(body)} repeated, then {_show(item)}: both can match the same "
                        "text, so a failed match tries every split of it (quadratic)")
                    return
                if self.min_length(item) > 0:
                    shared = _intersect(shared, self.chars(item)) \
                        if _intersect(shared, self.first(item)) else ()
                    between = _union(between, self.chars(item))
                    if not shared and not _covers(run, between):
                        return  # it must match something the run cannot have taken

    def check_nested(self, body: list[Any]) -> None:
        """An unbounded repeat of a body holding a run that may run into the next iteration,
        or of alternatives that can start alike: exponentially many ways to match."""
        body = _flat(body)
        starts = self.first(body)
        for index, (op, av) in enumerate(body):
            item = [(op, av)]
            tail = list(body[index + 1:])
            if self.min_length(tail) == 0 and _intersect(self.extension(op, av), starts):
                self.findings.append(
                    f"({_show(body)}) repeated holds {_show(item)}, which can run into the "
                    "next repetition (exponential)")
                return
        for op, av in body:
            if op is sre.BRANCH:
                firsts = [self.first(list(alt)) for alt in av[1]]
                for i, a in enumerate(firsts):
                    if any(_intersect(a, b) for b in firsts[i + 1:]):
                        self.findings.append(
                            f"({_show(body)}) repeated has alternatives that start alike "
                            "(exponential)")
                        return
            if self.min_length([(op, av)]) > 0:
                return

    def check_restarts(self, items: list[Any]) -> None:
        """A search restarts at every position: a leading run must start only where a run
        of its characters starts (an anchor, or a look-behind refusing its characters)."""
        items = _flat(items)
        if items and items[0][0] is sre.BRANCH:
            for alt in items[0][1][1]:
                self.check_restarts([*alt, *items[1:]])
            return
        guard: Ranges = ()
        prefix: list[Any] = []
        for index, (op, av) in enumerate(items):
            if op is sre.AT and av in (sre.AT_BEGINNING, sre.AT_BEGINNING_STRING):
                return
            if op is sre.ASSERT_NOT and av[0] == -1:
                guard = _union(guard, self.chars(list(av[1])))
                continue
            if op in ZERO_WIDTH:
                continue
            item = [(op, av)]
            if op in REPEATS and av[1] > BOUND:
                run = self.chars(list(av[2]))
                rest = items[index + 1:]
                if self.min_length(rest) == 0 and not any(o in ZERO_WIDTH for o, _ in rest):
                    return  # nothing after the run can fail: a search stops at the first run
                if _covers(guard, run):
                    return
                if all(_intersect(self.first([p]), run) for p in prefix):
                    self.findings.append(
                        f"a search restarts inside a run of {_show(item)} at every position "
                        "(quadratic): anchor it or add a look-behind refusing its characters")
                return
            if self.unbounded(item) or self.min_length(item) == 0:
                return  # a group or an optional part first: too complex, checked elsewhere
            prefix.append((op, av))


def _flat(items: list[Any]) -> list[Any]:
    """The items with each group replaced by its content (groups match what they hold)."""
    out: list[Any] = []
    for op, av in items:
        out.extend(_flat(list(av[3])) if op is sre.SUBPATTERN else [(op, av)])
    return out


_CATEGORY_TEXT = {sre.CATEGORY_DIGIT: r"\d", sre.CATEGORY_NOT_DIGIT: r"\D",
                  sre.CATEGORY_SPACE: r"\s", sre.CATEGORY_NOT_SPACE: r"\S",
                  sre.CATEGORY_WORD: r"\w", sre.CATEGORY_NOT_WORD: r"\W"}


def _show(items: list[Any]) -> str:
    """The items written back as (roughly) the regular expression they came from."""
    out = []
    for op, av in items:
        if op is sre.LITERAL:
            out.append(re.escape(chr(av)))
        elif op is sre.ANY:
            out.append(".")
        elif op is sre.IN:
            inner = "".join("^" if o is sre.NEGATE else _CATEGORY_TEXT.get(a, "") if
                            o is sre.CATEGORY else f"{re.escape(chr(a[0]))}-{re.escape(chr(a[1]))}"
                            if o is sre.RANGE else re.escape(chr(a)) for o, a in av)
            out.append(f"[{inner}]")
        elif op in REPEATS:
            low, high = av[0], av[1]
            count = {(0, sre.MAXREPEAT): "*", (1, sre.MAXREPEAT): "+", (0, 1): "?"}.get(
                (low, high), f"{{{low},{'' if high is sre.MAXREPEAT else high}}}")
            suffix = "+" if op is sre.POSSESSIVE_REPEAT else "?" if op is sre.MIN_REPEAT else ""
            body = _show(list(av[2]))
            out.append(f"{body if len(av[2]) == 1 else f'(?:{body})'}{count}{suffix}")
        elif op is sre.SUBPATTERN:
            out.append(f"({_show(list(av[3]))})")
        elif op is sre.BRANCH:
            out.append("(?:" + "|".join(_show(list(alt)) for alt in av[1]) + ")")
        else:
            out.append("…")
    return "".join(out)


def findings(pattern: str, flags: int = 0, searched: bool = True) -> list[str]:
    """The problems of one pattern (empty: its matching is linear)."""
    return Analysis(pattern, flags).check(searched)


# Finding the patterns in Python source.

@dataclass(frozen=True)
class Found:
    path: Path
    line: int
    pattern: str | None  # None: not a literal
    flags: int
    function: str
    name: str | None  # the module-level name a compiled pattern is bound to


def _flags(node: ast.expr | None) -> int:
    """``re.ASCII | re.I`` and the like; 0 for anything else."""
    if node is None:
        return 0
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitOr):
        return _flags(node.left) | _flags(node.right)
    if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) \
            and node.value.id == "re":
        return int(getattr(re, node.attr, 0))
    return 0


def _re_call(node: ast.AST) -> str | None:
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) \
            and isinstance(node.func.value, ast.Name) and node.func.value.id == "re" \
            and node.func.attr in FUNCTIONS:
        return node.func.attr
    return None


def patterns_in(path: Path, tree: ast.Module) -> Iterator[Found]:
    bound = {id(node.value): node.targets[0].id for node in tree.body
             if isinstance(node, ast.Assign) and len(node.targets) == 1
             and isinstance(node.targets[0], ast.Name)}
    for node in ast.walk(tree):
        function = _re_call(node)
        if function is None:
            continue
        assert isinstance(node, ast.Call)
        flag_arg = next((k.value for k in node.keywords if k.arg == "flags"), None)
        position = 1 if function == "compile" else 3 if function in ("sub", "subn") else 2
        if flag_arg is None and len(node.args) > position:
            flag_arg = node.args[position]
        first = node.args[0] if node.args else None
        literal = first.value if isinstance(first, ast.Constant) \
            and isinstance(first.value, str) else None
        yield Found(path, node.lineno, literal, _flags(flag_arg), function,
                    bound.get(id(node)) if function == "compile" else None)


def _uses(trees: Iterable[ast.Module]) -> dict[str, set[str]]:
    """For each name, the methods called on it (``NAME.search(...)``, ``mod.NAME.sub(...)``)."""
    uses: dict[str, set[str]] = {}
    for tree in trees:
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
                owner = node.func.value
                name = owner.id if isinstance(owner, ast.Name) else \
                    owner.attr if isinstance(owner, ast.Attribute) else None
                if name is not None:
                    uses.setdefault(name, set()).add(node.func.attr)
    return uses


def check_paths(paths: Iterable[Path]) -> list[str]:
    files = sorted({file for path in paths
                    for file in ([path] if path.is_file() else path.rglob("*.py"))})
    trees = {file: ast.parse(file.read_text(), str(file)) for file in files}
    uses = _uses(trees.values())
    problems = []
    for file, tree in trees.items():
        for found in patterns_in(file, tree):
            where = f"{found.path}:{found.line}"
            if found.pattern is None:
                problems.append(f"{where}: re.{found.function} of a pattern that is not a "
                                "literal cannot be checked; use a literal")
                continue
            if found.function == "compile":
                called = uses.get(found.name or "", set()) if found.name else set()
                searched = not called or not called <= ANCHORED_USES
            else:
                searched = found.function not in ANCHORED_USES
            for problem in findings(found.pattern, found.flags, searched):
                problems.append(f"{where}: {found.pattern!r}: {problem}")
    return problems


def main(argv: list[str]) -> int:
    problems = check_paths(Path(arg) for arg in argv or ["."])
    for problem in problems:
        print(problem)
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
