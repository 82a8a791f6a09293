"""The shape of a document, measured before validation so that a hostile one is refused cheaply
(docs/reference.md §5 `max_depth`, §14 limits). One walk gives four numbers:

- `depth`: every level of field selection counts, introspection included; fragments add no level
  of their own. `{ a { b { c } } }` has depth 3.
- `fragment_nesting`: the most fragments (spreads and inline fragments) on one path from an
  operation down. graphql-core's validation and field collection recurse once per fragment, so
  this is bounded by `MAX_FRAGMENT_NESTING` (100) before either runs: the planner never sees a
  deeper chain. `{ ...A } fragment A on Query { ...B } fragment B on Query { x }` has nesting 2.
- `aliases`: fields written with an alias other than their name, counted as if every fragment
  spread were replaced by its fragment (GraphQL Armor's max-aliases): a fragment with 3 aliases
  spread twice counts 6. Only aliases create response keys, so this bounds how wide a plan gets.
- `root_fields`: the distinct response keys at the root of the widest operation, fragments
  merged (before `@skip`/`@include`, which can only remove some: the count never undercounts).

Each fragment is measured once (memoized), so a document whose fragments spread each other twice
over costs time linear in its size, not exponential; every walk uses an explicit stack, so a chain
of thousands of fragments cannot exhaust Python's recursion limit. Fragment cycles (which
validation reports) are cut, never followed. Root keys are collected only by `root_fields`, called
once the other limits passed, so the sets it unions stay small.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TypeVar

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
)

__all__ = ["MAX_FRAGMENT_NESTING", "Measures", "measure", "root_fields"]

MAX_FRAGMENT_NESTING = 100

# Alias counts saturate here: a document spreading fragments 2**60 times over is refused all the same.
_SATURATED = 1 << 62

T = TypeVar("T")


@dataclass(frozen=True)
class _Spread:
    name: str
    fields_above: int  # field levels above the spread in its definition
    fragments_above: int  # inline fragments above it in its definition


@dataclass(frozen=True)
class _Local:
    """One definition measured without following its spreads."""

    depth: int
    nesting: int
    aliases: int
    spreads: tuple[_Spread, ...]


@dataclass(frozen=True)
class Measures:
    depth: int
    fragment_nesting: int
    aliases: int


def _local(selection_set: SelectionSetNode | None) -> _Local:
    deepest = nesting = aliases = 0
    spreads: list[_Spread] = []
    stack: list[tuple[SelectionSetNode | None, int, int]] = [(selection_set, 0, 0)]
    while stack:
        current, fields, fragments = stack.pop()
        for sel in current.selections if current else ():
            if isinstance(sel, FieldNode):
                deepest = max(deepest, fields + 1)
                if sel.alias is not None and sel.alias.value != sel.name.value:
                    aliases += 1
                stack.append((sel.selection_set, fields + 1, fragments))
            elif isinstance(sel, InlineFragmentNode):
                nesting = max(nesting, fragments + 1)
                stack.append((sel.selection_set, fields, fragments + 1))
            elif isinstance(sel, FragmentSpreadNode):
                spreads.append(_Spread(sel.name.value, fields, fragments))
    return _Local(deepest, nesting, aliases, tuple(spreads))


def _memoized(
    root: str, children: Callable[[str], Iterable[str]], combine: Callable[[str, dict[str, T]], T], memo: dict[str, T]
) -> T:
    """`combine(name, memo)` for `root` after every child it reaches (iterative post-order); a
    child still on the path closes a cycle and is left out of `memo` for its parent."""
    on_path: set[str] = set()
    stack: list[tuple[str, bool]] = [(root, False)]
    while stack:
        name, expanded = stack.pop()
        if name in memo:
            continue
        if expanded:
            on_path.discard(name)
            memo[name] = combine(name, memo)
            continue
        on_path.add(name)
        stack.append((name, True))
        stack.extend((child, False) for child in children(name) if child not in memo and child not in on_path)
    return memo[root]


def _fragments(document: DocumentNode) -> dict[str, FragmentDefinitionNode]:
    return {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}


def _operations(document: DocumentNode) -> list[OperationDefinitionNode]:
    return [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]


def measure(document: DocumentNode) -> Measures:
    """The deepest selection, the deepest fragment nesting and the most aliases of any operation."""
    local = {name: _local(f.selection_set) for name, f in _fragments(document).items()}
    memo: dict[str, Measures] = {}

    def children(name: str) -> list[str]:
        return [s.name for s in local[name].spreads if s.name in local]

    def combine(name: str, done: dict[str, Measures]) -> Measures:
        return _combine(local[name], done)

    def _combine(own: _Local, done: dict[str, Measures]) -> Measures:
        depth, nesting, aliases = own.depth, own.nesting, own.aliases
        for spread in own.spreads:
            child = done.get(spread.name)
            if child is None:
                continue  # unknown (validation reports it) or closing a cycle
            depth = max(depth, spread.fields_above + child.depth)
            nesting = max(nesting, spread.fragments_above + 1 + child.fragment_nesting)
            aliases = min(_SATURATED, aliases + child.aliases)
        return Measures(depth, nesting, aliases)

    deepest = Measures(0, 0, 0)
    for operation in _operations(document):
        own = _local(operation.selection_set)
        for spread in own.spreads:
            if spread.name in local:
                _memoized(spread.name, children, combine, memo)
        found = _combine(own, memo)
        deepest = Measures(
            max(deepest.depth, found.depth),
            max(deepest.fragment_nesting, found.fragment_nesting),
            max(deepest.aliases, found.aliases),
        )
    return deepest


def _root_keys(selection_set: SelectionSetNode) -> tuple[set[str], list[str]]:
    """The response keys at the top level of `selection_set` (through inline fragments), and the
    fragments spread there."""
    keys: set[str] = set()
    spreads: list[str] = []
    stack = [selection_set]
    while stack:
        for sel in stack.pop().selections:
            if isinstance(sel, FieldNode):
                keys.add(sel.alias.value if sel.alias else sel.name.value)
            elif isinstance(sel, InlineFragmentNode):
                stack.append(sel.selection_set)
            elif isinstance(sel, FragmentSpreadNode):
                spreads.append(sel.name.value)
    return keys, spreads


def root_fields(document: DocumentNode) -> int:
    """The most distinct root response keys of any operation, fragments merged."""
    fragments = _fragments(document)
    local: dict[str, tuple[set[str], list[str]]] = {}
    memo: dict[str, frozenset[str]] = {}

    def own(name: str) -> tuple[set[str], list[str]]:
        if name not in local:
            local[name] = _root_keys(fragments[name].selection_set)
        return local[name]

    def children(name: str) -> list[str]:
        return [s for s in own(name)[1] if s in fragments]

    def combine(name: str, done: dict[str, frozenset[str]]) -> frozenset[str]:
        keys, spreads = own(name)
        return frozenset(keys.union(*(done.get(s, frozenset()) for s in spreads)))

    widest = 0
    for operation in _operations(document):
        keys, spreads = _root_keys(operation.selection_set)
        merged = keys.union(*(_memoized(s, children, combine, memo) for s in spreads if s in fragments))
        widest = max(widest, len(merged))
    return widest
