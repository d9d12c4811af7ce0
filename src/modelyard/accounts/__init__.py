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
    take_request,
    throttled,
)
from modelyard.accounts.sessions import (
    Session,
    check_csrf,
    csrf_token,
    issue_session,
    password_sign_in,
    read_session,
    session_account,
    set_password,
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
    "Session",
    "TokenAuthenticator",
    "TokenInfo",
    "add_member",
    "check_csrf",
    "check_password",
    "create_account",
    "create_organization",
    "create_token",
    "create_token_with_id",
    "csrf_token",
    "find_token",
    "get_account",
    "hash_token",
    "issue_session",
    "list_members",
    "list_tokens",
    "make_rate_limiter",
    "new_token",
    "parse_authorization",
    "parse_rate",
    "password_sign_in",
    "read_session",
    "revoke_token",
    "session_account",
    "set_password",
    "take_request",
    "throttled",
]
