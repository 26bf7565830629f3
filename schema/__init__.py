"""The GraphQL schema (Strawberry): the public contract, in code."""

from schema.build import build_schema

__all__ = ["build_schema"]
