"""Resolvers: thin functions from GraphQL to the domain, each declared once.

`resolvers.root` assembles the schema's Query, Mutation and Subscription from them.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any, TypeVar

F = TypeVar("F", bound=Callable[..., Any])


def null_means_default(resolver: F) -> F:
    """An optional argument sent as null takes the default of the resolver's signature.

    The contract's optional arguments are nullable with a default (`first: Int = 20`);
    the default is written once, in the signature Strawberry reads.
    """
    defaults = {name: p.default for name, p in inspect.signature(resolver).parameters.items()
                if p.default is not inspect.Parameter.empty and p.default is not None}

    @functools.wraps(resolver)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        for name, default in defaults.items():
            if name in kwargs and kwargs[name] is None:
                kwargs[name] = default
        return resolver(*args, **kwargs)

    return wrapper  # type: ignore[return-value]
