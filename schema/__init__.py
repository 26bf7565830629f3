"""The GraphQL types of the public contract (Strawberry): outputs, inputs and enums.

The root Query, Mutation and Subscription are assembled in `resolvers.root`.
"""
