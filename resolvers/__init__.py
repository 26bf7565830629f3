"""Thin functions from GraphQL to the platform: translate, call, translate back."""
