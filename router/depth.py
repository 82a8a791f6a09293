"""Query depth (docs/reference.md §5 `max_depth`): every level of field selection counts,
introspection included; fragments add no level of their own. `{ a { b { c } } }` has depth 3.

Computed before validation so that a hostile document is refused cheaply: each fragment's depth is
measured once (memoized), so a document whose fragments spread each other twice over costs time
linear in its size, not exponential; the walk uses an explicit stack, so a chain of thousands of
fragments cannot exhaust Python's recursion limit. Fragment cycles (which validation reports) are
cut, never followed.
"""

from __future__ import annotations

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
)

__all__ = ["query_depth"]


def _spreads_and_depth(selection_set: SelectionSetNode | None) -> tuple[int, list[tuple[int, str]]]:
    """The depth of `selection_set` counting fields only, and each fragment spread in it with the
    number of field levels above it."""
    deepest = 0
    spreads: list[tuple[int, str]] = []
    stack: list[tuple[SelectionSetNode | None, int]] = [(selection_set, 0)]
    while stack:
        current, above = stack.pop()
        for sel in current.selections if current else ():
            if isinstance(sel, FieldNode):
                deepest = max(deepest, above + 1)
                stack.append((sel.selection_set, above + 1))
            elif isinstance(sel, InlineFragmentNode):
                stack.append((sel.selection_set, above))
            elif isinstance(sel, FragmentSpreadNode):
                spreads.append((above, sel.name.value))
    return deepest, spreads


def query_depth(document: DocumentNode) -> int:
    """The deepest selection of any operation in `document`."""
    fragments = {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}
    local = {name: _spreads_and_depth(f.selection_set) for name, f in fragments.items()}
    memo: dict[str, int] = {}

    def fragment_depth(root: str) -> int:
        # Iterative post-order over the spread graph; a fragment still on the path is a cycle: 0.
        on_path: set[str] = set()
        stack: list[tuple[str, bool]] = [(root, False)]
        while stack:
            name, expanded = stack.pop()
            if name in memo:
                continue
            own, spreads = local[name]
            if expanded:
                on_path.discard(name)
                memo[name] = max([own, *(above + memo.get(child, 0) for above, child in spreads if child in local)])
                continue
            on_path.add(name)
            stack.append((name, True))
            stack.extend(
                (child, False) for _, child in spreads if child in local and child not in memo and child not in on_path
            )
        return memo[root]

    deepest = 0
    for operation in (d for d in document.definitions if isinstance(d, OperationDefinitionNode)):
        own, spreads = _spreads_and_depth(operation.selection_set)
        deepest = max([deepest, own, *(above + fragment_depth(child) for above, child in spreads if child in local)])
    return deepest
