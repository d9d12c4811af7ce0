"""Accounts (users and organizations) and their API tokens."""

from modelyard.accounts.tokens import hash_token, new_token, parse_authorization
from modelyard.accounts.users import (
    Account,
    TokenAuthenticator,
    create_account,
    create_token,
    get_account,
)

__all__ = [
    "Account",
    "TokenAuthenticator",
    "create_account",
    "create_token",
    "get_account",
    "hash_token",
    "new_token",
    "parse_authorization",
]
