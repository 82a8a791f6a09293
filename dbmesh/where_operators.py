"""The comparison operators of the `where` language (docs/reference.md §4) as the resolver
contract names them: one table for every place that reads `where` written outside GraphQL —
`[[permissions]]` filters (dbmesh.auth.config), `[[sync]]` `where` (dbmesh.sync) and
`dbmesh reconcile --where` (dbmesh.reconcile)."""

from __future__ import annotations

from dbmesh.resolver.v1 import resolver_pb2 as pb

__all__ = ["COMPARISONS", "OPERATORS"]

OPERATORS: dict[str, pb.Operator.ValueType] = {
    "_eq": pb.OPERATOR_EQ,
    "_neq": pb.OPERATOR_NEQ,
    "_gt": pb.OPERATOR_GT,
    "_gte": pb.OPERATOR_GTE,
    "_lt": pb.OPERATOR_LT,
    "_lte": pb.OPERATOR_LTE,
    "_in": pb.OPERATOR_IN,
    "_nin": pb.OPERATOR_NIN,
    "_like": pb.OPERATOR_LIKE,
    "_ilike": pb.OPERATOR_ILIKE,
    "_is_null": pb.OPERATOR_IS_NULL,
}
COMPARISONS = tuple(OPERATORS)  # in the order errors list them
