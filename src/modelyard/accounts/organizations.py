"""Organizations: accounts whose members act for them."""

from __future__ import annotations

from collections.abc import Sequence

from modelyard.accounts.users import Account, create_account, get_account
from modelyard.core.errors import BadRequest
from modelyard.core.timeutil import utcnow
from modelyard.store import Conn
from modelyard.store import accounts as store


async def create_organization(
    conn: Conn, name: str, *, members: Sequence[str] = (), display_name: str | None = None
) -> Account:
    """A new organization with these users as members; raises NotFound for an unknown user."""
    users = [await _user(conn, username) for username in dict.fromkeys(members)]
    org = await create_account(conn, name, type="organization", name=display_name)
    for user in users:
        await store.add_member(conn, org.id, user.id, utcnow())
    return org


async def add_member(conn: Conn, organization: str, username: str) -> bool:
    """Make `username` a member of `organization`; False if they already were."""
    org = await get_account(conn, organization)
    if org.type != "organization":
        raise BadRequest(f"'{organization}' is a user, not an organization.")
    user = await _user(conn, username)
    return await store.add_member(conn, org.id, user.id, utcnow())


async def list_members(conn: Conn, organization: str) -> list[str]:
    org = await get_account(conn, organization)
    if org.type != "organization":
        raise BadRequest(f"'{organization}' is a user, not an organization.")
    return [m["username"] for m in await store.members_of(conn, org.id)]


async def _user(conn: Conn, username: str) -> Account:
    user = await get_account(conn, username)
    if user.type != "user":
        raise BadRequest(f"'{username}' is an organization; only users can be members.")
    return user
