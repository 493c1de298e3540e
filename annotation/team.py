"""The annotation team: accounts on the server's organization, each with a role that our tools read.

Label Studio Community has one kind of member: every account of the organization can see, label,
export and delete every task (roles with permissions are an Enterprise feature). So the role lives
here, in the team file (``annotation.settings.team_file()``, mode 0600, with the generated
password), and it decides what ``vner studio`` does with an account's work:

* ``annotator``: labels; counted in agreement (``vner studio agreement``);
* ``reviewer``: settles disputes (``vner studio review``); a reviewer's annotation on a disputed
  task becomes its ground truth and is not counted in agreement.

Accounts are made the way an invited person makes one: the sign-up form with the organization's
invite token (``/user/signup/?token=...``), the only sign-up the server accepts once
``DISABLE_SIGNUP_WITHOUT_LINK`` is set (``annotation.server``). The API cannot set passwords.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from annotation.settings import read_private_toml, team_file, write_private_toml

ROLES = ("annotator", "reviewer")
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_CSRF = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')
_FORM_ERROR = re.compile(r'<(?:li|p)[^>]*class="[^"]*error[^"]*"[^>]*>(.*?)</(?:li|p)>', re.S)


class TeamError(RuntimeError):
    """An account could not be created or read; the message says why."""


@dataclass(frozen=True)
class Member:
    email: str
    role: str
    password: str = field(repr=False)
    user_id: int | None = None


def read_team(path: Path | None = None) -> dict[str, Member]:
    """The accounts of the team file, by lowercased e-mail."""
    path = path or team_file()
    members = {}
    for email, entry in read_private_toml(path).items():
        if isinstance(entry, dict) and entry.get("role") in ROLES:
            members[email.lower()] = Member(email.lower(), entry["role"], str(entry.get("password", "")),
                                            entry.get("user_id"))
    return members


def write_team(members: dict[str, Member], path: Path | None = None) -> Path:
    path = path or team_file()
    values: dict[str, Any] = {}
    for email, member in sorted(members.items()):
        values[email] = {"role": member.role, "password": member.password}
        if member.user_id is not None:
            values[email]["user_id"] = member.user_id
    write_private_toml(path, values, "Label Studio team accounts of `vner studio users add`")
    return path


def reviewer_ids(members: dict[str, Member] | None = None) -> set[int]:
    """Label Studio user ids of the team's reviewers."""
    members = read_team() if members is None else members
    return {m.user_id for m in members.values() if m.role == "reviewer" and m.user_id is not None}


def sign_up(url: str, invite_token: str | None, email: str, password: str, timeout: float = 30.0) -> int:
    """Submit the server's sign-up form as a browser would; returns the HTTP status of the answer.

    A created account is answered with a redirect (302); a refused one with 403 (no or a wrong
    invite token) or the form again (200, with the reason).
    """
    import httpx

    query = {"token": invite_token} if invite_token else {}
    with httpx.Client(base_url=url, timeout=timeout, trust_env=False, follow_redirects=False) as browser:
        page = browser.get("/user/signup/", params=query)
        found = _CSRF.search(page.text)
        form = {"email": email, "password": password, "csrfmiddlewaretoken": found.group(1) if found else ""}
        answer = browser.post("/user/signup/", params=query, data=form, headers={"Referer": f"{url}/user/signup/"})
        if answer.status_code == 200:
            reasons = [re.sub(r"<[^>]+>", "", m).strip() for m in _FORM_ERROR.findall(answer.text)]
            why = "; ".join(r for r in reasons if r) or "see its log"
            raise TeamError(f"the server refused to create {email}: {why}")
        return answer.status_code


def org_users(client) -> list[Any]:
    """The organization's accounts (``/api/users``)."""
    from annotation.client import _api

    with _api("listing the users"):
        return list(client.sdk.users.list())


def add_member(client, email: str, role: str, path: Path | None = None) -> tuple[Member, bool]:
    """Create ``email`` on the organization with a generated password, or change its role; returns
    the member and whether the account was created now."""
    from annotation.client import _api

    email = email.strip().lower()
    if not EMAIL.match(email):
        raise TeamError(f"not an e-mail address: {email!r}")
    if role not in ROLES:
        raise TeamError(f"unknown role {role!r}; choose one of {', '.join(ROLES)}")
    members = read_team(path)
    existing = {(u.email or "").lower(): u for u in org_users(client)}
    if email in existing:
        if email not in members:
            raise TeamError(f"{email} already has an account that `vner studio users add` did not create "
                            f"(its password is not in {path or team_file()}): choose another e-mail")
        member = Member(email, role, members[email].password, existing[email].id)
        members[email] = member
        write_team(members, path)
        return member, False
    with _api("reading the organization's invite link"):
        invite = client.sdk.organizations.invites.get_invite_link()
    password = secrets.token_urlsafe(18)
    status = sign_up(client.url, invite.token, email, password)
    created = {(u.email or "").lower(): u for u in org_users(client)}.get(email)
    if created is None:
        raise TeamError(f"signing up {email} answered {status} but no such account exists on {client.url}")
    member = Member(email, role, password, created.id)
    members[email] = member
    write_team(members, path)
    return member, True
