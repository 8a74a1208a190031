"""Planned execution of the common reads: the whole selection looked at before a row is read.

graphql-core resolves a query field by field: for each one it builds a ``ResolveInfo``,
calls strawberry's wrapper (argument conversion, extensions, permissions), awaits, checks
the type and completes the value. On the hot reads (an entry with its parent and children,
a search page, a resolution) that bookkeeping cost several times the database work.

A document made only of fields this package knows is compiled once (:mod:`.compile`),
after the parse, validation and limits any document passes, into a tree of field plans.
Running it (:mod:`.run`) reads each level of the tree in one batch through the functions
the resolvers use (the DataLoaders' batches, :mod:`registry.services.graph_reads`) and
writes the answer's dictionaries directly, as PostGraphile plans a query rather than
resolving it.

Anything else (an unknown field, a fragment, a directive, a mutation, variables that do not
coerce, a cost over the limit, any error while reading) is not planned: the request goes
the ordinary way, which answers it and its errors as before. Tests hold both ways to the
same bytes (tests/graphql/test_planned.py).
"""
