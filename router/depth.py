"""Query depth (SPEC §5 `max_depth`): every level of field selection counts, introspection
included; fragments add no level of their own. `{ a { b { c } } }` has depth 3.

Computed before validation so that a hostile document is refused cheaply; fragment cycles
(which validation reports) are cut, never followed.
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


def query_depth(document: DocumentNode) -> int:
    """The deepest selection of any operation in `document`."""
    fragments = {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}

    def depth(selection_set: SelectionSetNode | None, visiting: frozenset[str]) -> int:
        deepest = 0
        for sel in selection_set.selections if selection_set else ():
            if isinstance(sel, FieldNode):
                deepest = max(deepest, 1 + depth(sel.selection_set, visiting))
            elif isinstance(sel, InlineFragmentNode):
                deepest = max(deepest, depth(sel.selection_set, visiting))
            elif isinstance(sel, FragmentSpreadNode):
                name = sel.name.value
                if name in fragments and name not in visiting:
                    deepest = max(deepest, depth(fragments[name].selection_set, visiting | {name}))
        return deepest

    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    return max((depth(op.selection_set, frozenset()) for op in operations), default=0)
