"""GraphQL API (strawberry on Starlette)."""
