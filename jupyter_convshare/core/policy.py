"""Sharing policy: how long links may live, whether anonymous links and reshares are allowed.

DESIGN.md sections 1 and 4 ("an admin cap may forbid 'never' or long expiry"), issue 6
item 3. Pure decisions, no I/O, except :class:`PolicyBook` which reads and writes the
group and user policies that admins store (the ``policies`` table, through the
:class:`~.shares.ShareService`'s store and audited write transactions).

Three levels, each one only stricter than the one above:

1. the **server** (or hub service): ``ConvShareApp.policy`` (a :class:`Policy`);
2. each **group** of the user: ``ConvShareApp.group_policies`` and the policies admins
   store through the admin API (a :class:`PolicyRule` per group);
3. the **user**: ``ConvShareApp.user_policies`` and stored user policies.

A :class:`PolicyRule` holds only restrictions (``None``: no restriction at this level).
The **effective policy** of a user is the strictest of all that apply to them: the
server's, *every* one of their groups' (a group's restriction binds each of its members,
whatever other groups they are in), and their own (:func:`effective_policy`). So a level
can never loosen the one above: when a stored group rule is looser than a server policy
made stricter later, the server's value wins. Setting a rule through the admin API that is
looser than the levels above it is refused (:func:`check_only_stricter`, HTTP 400); rules
from configuration are clamped (the strictest wins) and logged.

Policy fields (JSON and configuration):

``max_expires_seconds`` (int seconds or ``null``)
    the longest a link may live from the moment it is created or its expiry changed; with
    a cap, "never" is not allowed either. Configuration may give ``max_expires`` as a
    duration instead: ``"90m"``, ``"12h"``, ``"7d"``, ``"4w"`` or seconds.
``allow_never`` (bool)
    whether a link may never expire.
``allow_link`` (bool)
    whether shares may have anonymous link access (``link_enabled``); when off, new shares
    are made with their link off (grants only) and switching a link on is refused.
``allow_reshare`` (bool)
    whether the user may let grantees reshare their shares (``allow_reshare``) and may
    make reshares of shares granted to them.

An attempt beyond the effective policy raises :class:`PolicyViolation` (HTTP 403) naming
the field and the limit. Whose policy applies to a share: its maker's (the owner, or for
a reshare its ``created_by``).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field, fields, replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Iterable, Mapping

from .errors import Forbidden, InvalidRequest
from .model import format_time

if TYPE_CHECKING:
    from .shares import ShareService

POLICY_FIELDS: tuple[str, ...] = ("max_expires_seconds", "allow_never", "allow_link", "allow_reshare")
"""The policy fields, in the order they are shown."""

SCOPES: tuple[str, ...] = ("group", "user")
"""Levels an admin can store a policy for (the server's is configuration only)."""

LONGEST_FINITE_PRESET = 30 * 24 * 3600
"""Seconds a "never" link is clamped to when "never" is forbidden without a cap (30 days,
the longest finite expiry preset)."""

_DURATION = re.compile(r"^\s*(\d+)\s*([smhdw]?)\s*$")
_UNIT_SECONDS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


class PolicyViolation(Forbidden):
    """A request beyond the effective policy (HTTP 403).

    ``to_json`` adds ``"limit"``: ``{"<policy field>": value, "source": "server" |
    "group:<name>" | "user:<name>"}`` (which level set it), so a UI can say what is allowed.
    """

    reason = "policy"

    def __init__(self, message: str, *, field: str, limit: dict[str, Any]) -> None:
        super().__init__(message, field=field)
        self.limit = limit

    def to_json(self) -> dict[str, object]:
        """``{"message", "reason": "policy", "field", "limit"}``."""
        data = super().to_json()
        data["limit"] = self.limit
        return data


def parse_duration(value: Any, where: str) -> int | None:
    """A lifetime in seconds from ``value``: an int (seconds), ``"90m"``, ``"12h"``,
    ``"7d"``, ``"4w"``, ``"3600"``; ``None`` / ``"never"`` / ``""`` -> ``None`` (no cap).

    Raises:
        InvalidRequest: (``field=where``) anything else, or a non-positive duration.
    """
    if value is None or value in ("never", ""):
        return None
    if isinstance(value, bool):
        raise InvalidRequest(f"{where}: expected seconds or a duration like '7d', got a boolean", field=where)
    if isinstance(value, int):
        seconds = value
    elif isinstance(value, str) and (match := _DURATION.match(value)):
        seconds = int(match.group(1)) * _UNIT_SECONDS[match.group(2)]
    else:
        raise InvalidRequest(
            f"{where}: expected seconds or a duration like '90m', '12h', '7d', '4w', got {value!r}"[:200],
            field=where,
        )
    if seconds <= 0:
        raise InvalidRequest(f"{where}: must be positive", field=where)
    return seconds


def describe_seconds(seconds: int | None) -> str:
    """``604800`` -> ``"7 days"``; ``None`` -> ``"no limit"`` (for messages)."""
    if seconds is None:
        return "no limit"
    for unit, size in (("week", 7 * 86400), ("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size and seconds % size == 0:
            n = seconds // size
            return f"{n} {unit}{'s' if n != 1 else ''}"
    return f"{seconds} seconds"


@dataclass(frozen=True)
class PolicyRule:
    """The restrictions one level adds (``None``: none at this level).

    Attributes:
        max_expires_seconds: longest link lifetime in seconds, or ``None``.
        allow_never: ``False`` forbids links that never expire; ``None``: no restriction.
        allow_link: ``False`` forbids anonymous link access; ``None``: no restriction.
        allow_reshare: ``False`` forbids reshare (allowing it, and making reshares).
    """

    max_expires_seconds: int | None = None
    allow_never: bool | None = None
    allow_link: bool | None = None
    allow_reshare: bool | None = None

    @classmethod
    def from_json(cls, data: Any, where: str = "policy") -> PolicyRule:
        """Parse ``{"max_expires_seconds"? | "max_expires"?, "allow_never"?, "allow_link"?,
        "allow_reshare"?}``; ``true`` and ``null`` mean "no restriction at this level".

        Raises:
            InvalidRequest: not an object, an unknown key, a wrong type (``field`` names it,
                prefixed by nothing: e.g. ``"allow_link"``).
        """
        if not isinstance(data, Mapping):
            raise InvalidRequest(f"{where}: expected a JSON object of policy fields", field=where)
        allowed = set(POLICY_FIELDS) | {"max_expires"}
        unknown = sorted(set(data) - allowed)
        if unknown:
            raise InvalidRequest(
                f"{where}: unknown field {unknown[0]!r}; expected some of {list(POLICY_FIELDS)}", field=unknown[0]
            )
        if "max_expires" in data and "max_expires_seconds" in data:
            raise InvalidRequest(f"{where}: give max_expires or max_expires_seconds, not both", field="max_expires")
        key = "max_expires" if "max_expires" in data else "max_expires_seconds"
        max_seconds = parse_duration(data.get(key), key)
        flags: dict[str, bool | None] = {}
        for name in ("allow_never", "allow_link", "allow_reshare"):
            value = data.get(name)
            if value is not None and not isinstance(value, bool):
                raise InvalidRequest(f"{name}: expected true, false or null", field=name)
            flags[name] = None if value is None or value is True else False
        return cls(max_expires_seconds=max_seconds, **flags)

    def to_json(self) -> dict[str, Any]:
        """``{"max_expires_seconds", "allow_never", "allow_link", "allow_reshare"}`` with
        ``null`` for no restriction."""
        return {name: getattr(self, name) for name in POLICY_FIELDS}

    def is_empty(self) -> bool:
        """``True`` when the rule restricts nothing."""
        return all(getattr(self, name) is None for name in POLICY_FIELDS)


@dataclass(frozen=True)
class Policy:
    """A complete policy (the server's, or a user's effective one).

    Attributes:
        max_expires_seconds: longest link lifetime in seconds, or ``None`` (no cap).
        allow_never: links may never expire (always ``False`` in an effective policy with a cap).
        allow_link: shares may have anonymous link access.
        allow_reshare: reshare may be allowed and reshares made.
        sources: for each field, the level that set its value: ``"server"``,
            ``"group:<name>"`` or ``"user:<name>"``.
    """

    max_expires_seconds: int | None = None
    allow_never: bool = True
    allow_link: bool = True
    allow_reshare: bool = True
    sources: Mapping[str, str] = field(default_factory=dict, compare=False)

    def source(self, name: str) -> str:
        """The level that set field ``name`` (``"server"`` when none is recorded)."""
        return self.sources.get(name, "server")

    def to_json(self) -> dict[str, Any]:
        """``{"max_expires_seconds", "allow_never", "allow_link", "allow_reshare"}``."""
        return {name: getattr(self, name) for name in POLICY_FIELDS}

    def limit(self, name: str) -> dict[str, Any]:
        """``{name: value, "source": level}`` (the ``limit`` of a :class:`PolicyViolation`)."""
        return {name: getattr(self, name), "source": self.source(name)}

    def restrict(self, rule: PolicyRule, source: str) -> Policy:
        """The stricter of this policy and ``rule`` (``source`` names the rule's level)."""
        changes: dict[str, Any] = {}
        sources = dict(self.sources)
        cap = rule.max_expires_seconds
        if cap is not None and (self.max_expires_seconds is None or cap < self.max_expires_seconds):
            changes["max_expires_seconds"] = cap
            sources["max_expires_seconds"] = source
        for name in ("allow_never", "allow_link", "allow_reshare"):
            if getattr(rule, name) is False and getattr(self, name):
                changes[name] = False
                sources[name] = source
        if not changes:
            return self
        return replace(self, **changes, sources=sources)

    def normalised(self) -> Policy:
        """With a cap, "never" is not allowed: ``allow_never`` is ``False`` (same source)."""
        if self.max_expires_seconds is not None and self.allow_never:
            sources = {**self.sources, "allow_never": self.source("max_expires_seconds")}
            return replace(self, allow_never=False, sources=sources)
        return self

    def presets(self, presets: Mapping[str, int | None]) -> list[str]:
        """The expiry preset names (``{"1h": 3600, ..., "never": None}``) this policy allows, in order."""
        allowed = []
        for name, seconds in presets.items():
            if seconds is None:
                if self.allow_never and self.max_expires_seconds is None:
                    allowed.append(name)
            elif self.max_expires_seconds is None or seconds <= self.max_expires_seconds:
                allowed.append(name)
        return allowed


def server_policy(config: Mapping[str, Any] | None, *, allow_never_expires: bool = True) -> Policy:
    """The server level from configuration (``ConvShareApp.policy``; the older
    ``allow_never_expires=False`` forbids "never" too).

    Raises:
        InvalidRequest: a bad field (names it).
    """
    rule = PolicyRule.from_json(dict(config or {}), "ConvShareApp.policy")
    policy = Policy().restrict(rule, "server")
    if not allow_never_expires:
        policy = policy.restrict(PolicyRule(allow_never=False), "server")
    return policy


def effective_policy(
    server: Policy,
    group_rules: Mapping[str, Iterable[PolicyRule]],
    user: str,
    user_rules: Iterable[PolicyRule] = (),
) -> Policy:
    """The strictest of the server's policy, every group rule and the user's own rules.

    Args:
        server: the server level.
        group_rules: ``{group name: [rules]}`` for the user's groups only (configured and
            stored rules of the same group both apply).
        user: the user name (for ``sources``).
        user_rules: the user's configured and stored rules.

    Returns:
        The effective :class:`Policy`, normalised (a cap forbids "never").
    """
    policy = server
    for group in sorted(group_rules):
        for rule in group_rules[group]:
            policy = policy.restrict(rule, f"group:{group}")
    for rule in user_rules:
        policy = policy.restrict(rule, f"user:{user}")
    return policy.normalised()


def looser_fields(rule: PolicyRule, above: Policy) -> list[str]:
    """The fields where ``rule`` would be looser than ``above`` (sorted by :data:`POLICY_FIELDS`)."""
    out = []
    above = above.normalised()
    if above.max_expires_seconds is not None and (
        rule.max_expires_seconds is not None and rule.max_expires_seconds > above.max_expires_seconds
    ):
        out.append("max_expires_seconds")
    return out


def check_only_stricter(rule_json: Mapping[str, Any], above: Policy, level: str) -> PolicyRule:
    """Parse a rule an admin sets and refuse it when it is looser than the levels above.

    ``true`` for a flag the level above has set to ``false``, or a cap longer than the one
    above, is refused (a level can only get stricter). Equal or stricter values are kept.

    Args:
        rule_json: the request body (see :meth:`PolicyRule.from_json`).
        above: the effective policy of the levels above (the server's for a group; the
            server's and the user's groups' for a user).
        level: ``"group"`` or ``"user"`` (for messages).

    Raises:
        InvalidRequest: (400, ``field`` names the first looser field) looser than above, or malformed.
    """
    rule = PolicyRule.from_json(rule_json, "policy")
    above = above.normalised()
    for name in ("allow_never", "allow_link", "allow_reshare"):
        if rule_json.get(name) is True and not getattr(above, name):
            raise InvalidRequest(
                f"{name}: a {level} policy can only be stricter; {above.source(name)} does not allow it",
                field=name,
            )
    for name in looser_fields(rule, above):
        raise InvalidRequest(
            f"max_expires_seconds: a {level} policy can only be stricter; {describe_seconds(rule.max_expires_seconds)}"
            f" is longer than {describe_seconds(above.max_expires_seconds)} set by {above.source(name)}",
            field="max_expires_seconds",
        )
    return rule


# -- enforcement -------------------------------------------------------------------------


def check_expiry(policy: Policy, expires_at: datetime | None, now: datetime, *, field: str = "expires") -> None:
    """Refuse an expiry beyond ``policy``.

    Args:
        expires_at: the requested expiry (aware UTC), ``None`` for never.
        now: the current UTC time (the cap counts from it).

    Raises:
        PolicyViolation: (403, ``field``) "never" when not allowed; a time later than
            ``now + max_expires_seconds``.
    """
    policy = policy.normalised()
    if expires_at is None and not policy.allow_never:
        if policy.max_expires_seconds is not None:
            raise PolicyViolation(
                f"{field}: links must expire within {describe_seconds(policy.max_expires_seconds)}"
                f" (policy of {policy.source('max_expires_seconds')})",
                field=field,
                limit=policy.limit("max_expires_seconds"),
            )
        raise PolicyViolation(
            f"{field}: links must expire ('never' is not allowed by the policy of {policy.source('allow_never')})",
            field=field,
            limit=policy.limit("allow_never"),
        )
    cap = policy.max_expires_seconds
    if cap is not None and expires_at is not None and expires_at > now + timedelta(seconds=cap):
        raise PolicyViolation(
            f"{field}: links may last at most {describe_seconds(cap)} (policy of"
            f" {policy.source('max_expires_seconds')}); asked until {format_time(expires_at)}",
            field=field,
            limit=policy.limit("max_expires_seconds"),
        )


def check_link(policy: Policy) -> None:
    """Refuse anonymous link access. Raises PolicyViolation (403, ``field="link_enabled"``)."""
    if not policy.allow_link:
        raise PolicyViolation(
            "link_enabled: anonymous links are not allowed by the policy of"
            f" {policy.source('allow_link')}; share with groups or users instead",
            field="link_enabled",
            limit=policy.limit("allow_link"),
        )


def check_reshare(policy: Policy, *, field: str = "allow_reshare") -> None:
    """Refuse reshare (allowing it, or making one). Raises PolicyViolation (403, ``field``)."""
    if not policy.allow_reshare:
        raise PolicyViolation(
            f"{field}: resharing is not allowed by the policy of {policy.source('allow_reshare')}",
            field=field,
            limit=policy.limit("allow_reshare"),
        )


def default_expiry(policy: Policy, default: str, presets: Mapping[str, int | None]) -> str | int:
    """What a share made without an expiry gets: ``default`` (a preset name) when the
    policy allows it, else the longest allowed preset, else the cap in seconds (an int).
    """
    allowed = policy.presets(presets)
    if default in allowed:
        return default
    finite = [p for p in allowed if presets[p] is not None]
    if finite:
        return max(finite, key=lambda p: presets[p] or 0)
    policy = policy.normalised()
    return policy.max_expires_seconds or LONGEST_FINITE_PRESET


def exceeded(policy: Policy, share: Any, now: datetime) -> list[str]:
    """The settings of ``share`` (``expires_at``, ``link_enabled``, ``allow_reshare``,
    ``parent_share_id``) beyond ``policy`` now: some of ``"expires"``, ``"link_enabled"``,
    ``"allow_reshare"`` (a reshare made under a policy that now forbids reshares: ``"reshare"``)."""
    out = []
    try:
        check_expiry(policy, share.expires_at, now)
    except PolicyViolation:
        out.append("expires")
    if share.link_enabled and not policy.allow_link:
        out.append("link_enabled")
    if share.allow_reshare and not policy.allow_reshare:
        out.append("allow_reshare")
    if getattr(share, "parent_share_id", None) and not policy.allow_reshare:
        out.append("reshare")
    return out


def clamped_expiry(policy: Policy, expires_at: datetime | None, now: datetime) -> datetime | None:
    """``expires_at`` brought within ``policy`` (unchanged when it already is): capped at
    ``now + max_expires_seconds``; "never" without a cap becomes ``now +`` 30 days."""
    policy = policy.normalised()
    cap = policy.max_expires_seconds
    if cap is not None:
        limit = now + timedelta(seconds=cap)
        if expires_at is None or expires_at > limit:
            return limit
        return expires_at
    if expires_at is None and not policy.allow_never:
        return now + timedelta(seconds=LONGEST_FINITE_PRESET)
    return expires_at


# -- stored group and user policies ------------------------------------------------------


@dataclass(frozen=True)
class StoredPolicy:
    """A policy an admin stored (table ``policies``).

    Attributes:
        scope: ``"group"`` or ``"user"``.
        name: the group or user name.
        rule: the restrictions.
        updated_at: UTC; updated_by: the admin who set it.
    """

    scope: str
    name: str
    rule: PolicyRule
    updated_at: datetime
    updated_by: str

    def to_json(self) -> dict[str, Any]:
        """``{"scope", "name", "policy": rule JSON, "updated_at", "updated_by"}``."""
        return {
            "scope": self.scope,
            "name": self.name,
            "policy": self.rule.to_json(),
            "updated_at": format_time(self.updated_at),
            "updated_by": self.updated_by,
        }


def rule_text(rule: PolicyRule) -> str:
    """The stored form of a rule (compact JSON of its non-null fields)."""
    return json.dumps({k: v for k, v in rule.to_json().items() if v is not None}, sort_keys=True, separators=(",", ":"))


def rule_from_text(text: str) -> PolicyRule:
    """A stored rule read back; an unreadable row restricts nothing rather than failing
    every request (it is logged by the caller's integrity checks, not here)."""
    try:
        return PolicyRule.from_json(json.loads(text or "{}"), "stored policy")
    except (ValueError, InvalidRequest):
        return PolicyRule()


def check_scope(scope: Any) -> str:
    """``scope`` if it is ``"group"`` or ``"user"``; InvalidRequest (``field="scope"``) otherwise."""
    if scope not in SCOPES:
        raise InvalidRequest(f"scope: expected one of {list(SCOPES)}, got {scope!r}"[:200], field="scope")
    return str(scope)


class PolicyBook:
    """Group and user policies stored by admins, over a :class:`~.shares.ShareService`'s store.

    Reads use the store's read transactions; writes are one audited write transaction of
    the service each (action ``policy.changed``; ``owner`` is the user, or
    ``"group:<name>"`` for a group; ``details`` the new rule or ``{"deleted": true}``).
    """

    def __init__(self, service: ShareService) -> None:
        self.service = service

    def rules_for(self, user: str, groups: Iterable[str]) -> tuple[dict[str, list[PolicyRule]], list[PolicyRule]]:
        """``({group: [stored rule]}, [stored user rule])`` for ``user`` and their ``groups``."""
        groups = sorted(set(groups))
        with self.service.store.read() as session:
            rows = session.get_policies(user, groups)
        by_group: dict[str, list[PolicyRule]] = {}
        users: list[PolicyRule] = []
        for row in rows:
            rule = rule_from_text(row["policy"])
            if row["scope"] == "group":
                by_group.setdefault(row["name"], []).append(rule)
            elif row["scope"] == "user" and row["name"] == user:
                users.append(rule)
        return by_group, users

    def list(self) -> list[StoredPolicy]:
        """Every stored policy, groups first, by name."""
        from .store import parse_stored_time

        with self.service.store.read() as session:
            rows = session.list_policies()
        return [
            StoredPolicy(
                scope=row["scope"],
                name=row["name"],
                rule=rule_from_text(row["policy"]),
                updated_at=parse_stored_time(row["updated_at"]),  # type: ignore[arg-type]
                updated_by=row["updated_by"],
            )
            for row in rows
        ]

    def set(self, admin: str, scope: str, name: str, rule: PolicyRule) -> StoredPolicy:
        """Store (replace) the policy of a group or user; an empty rule deletes it.

        Raises:
            InvalidRequest: bad ``scope`` or an empty ``name``.
        """
        scope = check_scope(scope)
        if not isinstance(name, str) or not name.strip() or len(name) > 200:
            raise InvalidRequest("name: expected a group or user name", field="name")
        service = self.service
        now = service.now()
        with service._write() as tx:
            if rule.is_empty():
                tx.delete_policy(scope, name)
            else:
                tx.put_policy(scope, name, rule_text(rule), format_time(now), admin)
            service._audit(
                tx, admin, "policy.changed", name if scope == "user" else f"group:{name}",
                details={"scope": scope, "name": name, "policy": rule.to_json()},
            )
        return StoredPolicy(scope=scope, name=name, rule=rule, updated_at=now, updated_by=admin)

    def delete(self, admin: str, scope: str, name: str) -> bool:
        """Remove a stored policy; ``True`` if there was one (audited either way only when it existed)."""
        scope = check_scope(scope)
        service = self.service
        with service._write() as tx:
            existed = tx.delete_policy(scope, name)
            if existed:
                service._audit(
                    tx, admin, "policy.changed", name if scope == "user" else f"group:{name}",
                    details={"scope": scope, "name": name, "deleted": True},
                )
        return existed


def _field_names() -> tuple[str, ...]:  # keeps POLICY_FIELDS and the dataclass in step (tests)
    return tuple(f.name for f in fields(PolicyRule))
