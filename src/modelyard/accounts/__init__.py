"""Accounts (users and organizations), their API tokens, and rate limits per token and account."""

from modelyard.accounts.credentials import (
    TokenInfo,
    create_token,
    create_token_with_id,
    find_token,
    list_tokens,
    revoke_token,
)
from modelyard.accounts.organizations import add_member, create_organization, list_members
from modelyard.accounts.ratelimits import (
    Bucket,
    Decision,
    LocalRateLimiter,
    RateLimit,
    RateLimiter,
    RateLimits,
    make_rate_limiter,
    parse_rate,
)
from modelyard.accounts.tokens import hash_token, new_token, parse_authorization
from modelyard.accounts.users import (
    Account,
    TokenAuthenticator,
    check_password,
    create_account,
    get_account,
)

__all__ = [
    "Account",
    "Bucket",
    "Decision",
    "LocalRateLimiter",
    "RateLimit",
    "RateLimiter",
    "RateLimits",
    "TokenAuthenticator",
    "TokenInfo",
    "add_member",
    "check_password",
    "create_account",
    "create_organization",
    "create_token",
    "create_token_with_id",
    "find_token",
    "get_account",
    "hash_token",
    "list_members",
    "list_tokens",
    "make_rate_limiter",
    "new_token",
    "parse_authorization",
    "parse_rate",
    "revoke_token",
]
