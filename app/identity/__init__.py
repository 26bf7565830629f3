"""Who a visitor is: identity tokens and signed logins, linking a visitor to its
customer (with 60 days of anonymous history), erasure of a customer, and the
expiry of anonymous history.
"""

from app.identity.erasure import forget
from app.identity.linking import link_visitor
from app.identity.retention import expire_anonymous
from app.identity.tokens import check_user_hash, issue_token, valid_user_id, verify_token

__all__ = [
    "check_user_hash",
    "expire_anonymous",
    "forget",
    "issue_token",
    "link_visitor",
    "valid_user_id",
    "verify_token",
]
