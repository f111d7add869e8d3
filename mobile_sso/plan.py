"""What a change to the stack does to the people signing in: a verdict per resource change.

`compare(base, head)` takes two CloudFormation templates (the deployed one, or a base branch's
synth, and the new synth) and returns every change with a verdict:

- **breaking**: people lose something: a user pool or app client that released apps use is
  gone or replaced, federated users become new users, or the deploy itself fails half-way;
- **review**: a person should read it: sign-in keeps working, but what users see or may do
  changes (mapped attributes overwritten, permissions widened, a different metadata URL);
- **safe**: nobody signing in notices (tags, log retention, a function's code).

Two kinds of rule decide: replacement semantics from CloudFormation's own data (the registry
schemas' `createOnlyProperties`, which the pinned cfn-lint ships) plus Cognito's documented
settings that cannot change after creation, and the project's own rules on what a change
means for sign-in. Each rule names its source. This module returns data and never prints.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from enum import StrEnum
from functools import cache
from pathlib import Path
from typing import Any, Protocol

from mobile_sso.outputs import BUNDLE_METADATA

USER_POOL = "AWS::Cognito::UserPool"
IDENTITY_PROVIDER = "AWS::Cognito::UserPoolIdentityProvider"
APP_CLIENT = "AWS::Cognito::UserPoolClient"
DOMAIN = "AWS::Cognito::UserPoolDomain"
ENTRA_APPLICATION = "Custom::EntraSamlApplication"
IDENTITY_POOL = "AWS::Cognito::IdentityPool"
IDENTITY_POOL_ROLES = "AWS::Cognito::IdentityPoolRoleAttachment"
LAMBDA_FUNCTION = "AWS::Lambda::Function"
IAM_TYPES = ("AWS::IAM::Role", "AWS::IAM::Policy", "AWS::IAM::ManagedPolicy")

# Sources the rules cite.
COGNITO_UPDATING = (
    "https://docs.aws.amazon.com/cognito/latest/developerguide/cognito-user-pools-updating.html"
)
COGNITO_FEDERATED_USERS = (
    "https://docs.aws.amazon.com/cognito/latest/developerguide/"
    "cognito-user-pools-identity-federation.html"
)
COGNITO_ATTRIBUTE_MAPPING = (
    "https://docs.aws.amazon.com/cognito/latest/developerguide/"
    "cognito-user-pools-specifying-attribute-mapping.html"
)
COGNITO_REDIRECT = (
    "https://docs.aws.amazon.com/cognito/latest/developerguide/authorization-endpoint.html"
)
CFN_CUSTOM_RESOURCE_UPDATE = (
    "https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/"
    "crpg-ref-requesttypes-update.html"
)
REGISTRY_SCHEMA = "CloudFormation registry schema (cfn-lint data): createOnlyProperties"
PROJECT_RULE = "docs/reviewing-changes.md (the project's own sign-in rules)"

# Settings Cognito locks when the pool is made ("Updating user pool and app client
# configuration": "You can't change ... after you create the user pool").
POOL_LOCKED = ("UsernameAttributes", "AliasAttributes", "UsernameConfiguration")
POOL_REVIEWED = ("DeletionProtection", "LambdaConfig", "UserPoolTier", "MfaConfiguration")
TAG_PROPERTIES = ("Tags", "UserPoolTags")


class Verdict(StrEnum):
    BREAKING = "breaking"
    REVIEW = "review"
    SAFE = "safe"


SEVERITY = {Verdict.SAFE: 0, Verdict.REVIEW: 1, Verdict.BREAKING: 2}


@dataclass(frozen=True)
class Change:
    """One change to one resource (or a pair, for a rename), with what it means."""

    verdict: Verdict
    title: str
    explanation: str
    logical_ids: tuple[str, ...]
    resource_type: str
    properties: tuple[str, ...] = ()
    source: str = PROJECT_RULE
    acknowledged: bool = False
    # Identity providers this change takes away from the pool, by name.
    providers: tuple[str, ...] = ()

    def as_json(self) -> dict[str, Any]:
        return {
            "verdict": str(self.verdict),
            "title": self.title,
            "explanation": self.explanation,
            "logical_ids": list(self.logical_ids),
            "resource_type": self.resource_type,
            "properties": list(self.properties),
            "source": self.source,
            "acknowledged": self.acknowledged,
        }


@dataclass(frozen=True)
class Plan:
    changes: tuple[Change, ...]
    acknowledgments_used: tuple[str, ...] = ()
    acknowledgments_unused: tuple[str, ...] = ()

    @property
    def unacknowledged_breaking(self) -> tuple[Change, ...]:
        return tuple(
            c for c in self.changes if c.verdict is Verdict.BREAKING and not c.acknowledged
        )

    def as_json(self) -> dict[str, Any]:
        return {
            "changes": [change.as_json() for change in self.changes],
            "breaking": len(self.unacknowledged_breaking),
            "acknowledgments_used": list(self.acknowledgments_used),
            "acknowledgments_unused": list(self.acknowledgments_unused),
        }


class PlanError(Exception):
    """A template cannot be read or compared; the message says what to fix."""


class StackNotDeployed(PlanError):
    """CloudFormation has no such stack: a first deploy."""


# --- comparing -------------------------------------------------------------------------


def compare(base: Mapping[str, Any], head: Mapping[str, Any], accepted: Sequence[str] = ()) -> Plan:
    """Every resource change from `base` to `head`, most severe first."""
    old = _resources(base, "base")
    new = _resources(head, "head")
    changes: list[Change] = []
    removed = {lid: old[lid] for lid in old.keys() - new.keys()}
    added = {lid: new[lid] for lid in new.keys() - old.keys()}
    changes += _renamed_identity_providers(removed, added)
    changes += _replaced_entra_applications(removed, added)
    for lid in sorted(removed):
        changes.append(_removed(lid, removed[lid]))
    for lid in sorted(added):
        changes.append(_added(lid, added[lid]))
    # A provider renamed or removed is one change, said once: the clients that offered it
    # lose it too, which that change already tells.
    gone = frozenset(
        name for c in changes if c.resource_type == IDENTITY_PROVIDER for name in c.providers
    )
    for lid in sorted(old.keys() & new.keys()):
        changes += _modified(lid, old[lid], new[lid], gone)
    return _acknowledge(sorted(changes, key=lambda c: (-SEVERITY[c.verdict], c.title)), accepted)


def _resources(template: Mapping[str, Any], which: str) -> dict[str, dict[str, Any]]:
    resources = template.get("Resources")
    if not isinstance(resources, Mapping):
        raise PlanError(f"the {which} template has no Resources section")
    found: dict[str, dict[str, Any]] = {}
    for lid, resource in resources.items():
        if not isinstance(resource, Mapping) or not isinstance(resource.get("Type"), str):
            raise PlanError(f"the {which} template's resource {lid!r} has no Type")
        props = resource.get("Properties") or {}
        if not isinstance(props, Mapping):
            raise PlanError(f"the {which} template's resource {lid!r} has no Properties map")
        metadata = resource.get("Metadata")
        found[str(lid)] = {
            "Type": resource["Type"],
            "Properties": dict(props),
            "Metadata": dict(metadata) if isinstance(metadata, Mapping) else {},
        }
    _name_provider_references(found)
    return found


def _name_provider_references(resources: dict[str, dict[str, Any]]) -> None:
    """A client's providers as names: `{"Ref": <IdP logical id>}` becomes the IdP's name
    (the logical id carries the name, so a rename would otherwise read as two changes)."""
    names = {
        lid: r["Properties"].get("ProviderName")
        for lid, r in resources.items()
        if r["Type"] == IDENTITY_PROVIDER
    }
    for resource in resources.values():
        listed = resource["Properties"].get("SupportedIdentityProviders")
        if resource["Type"] != APP_CLIENT or not isinstance(listed, list):
            continue
        resource["Properties"]["SupportedIdentityProviders"] = [
            names.get(item["Ref"], item) if isinstance(item, Mapping) and "Ref" in item else item
            for item in listed
        ]


def _acknowledge(changes: list[Change], accepted: Sequence[str]) -> Plan:
    wanted = {text.strip() for text in accepted}
    used: set[str] = set()
    result = []
    for change in changes:
        if change.verdict is Verdict.BREAKING and change.title in wanted:
            used.add(change.title)
            result.append(replace(change, acknowledged=True))
        else:
            result.append(change)
    return Plan(
        tuple(result),
        tuple(sorted(used)),
        tuple(sorted(wanted - used)),
    )


def _same(a: Any, b: Any) -> bool:
    return json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)


def _changed_properties(old: Mapping[str, Any], new: Mapping[str, Any]) -> tuple[str, ...]:
    keys = sorted(old.keys() | new.keys())
    return tuple(k for k in keys if not _same(old.get(k), new.get(k)))


@cache
def create_only_properties(resource_type: str) -> frozenset[str]:
    """Top-level properties whose change makes CloudFormation replace the resource, from
    the registry schema that the pinned cfn-lint ships."""
    if resource_type.startswith("Custom::"):
        return frozenset()
    from cfnlint.schema import ResourceNotFoundError  # noqa: PLC0415 - a slow import
    from cfnlint.schema.manager import PROVIDER_SCHEMA_MANAGER  # noqa: PLC0415

    try:
        schema = PROVIDER_SCHEMA_MANAGER.get_resource_schema("us-east-1", resource_type)
    except ResourceNotFoundError:
        return frozenset()
    paths = schema.schema.get("createOnlyProperties") or []
    return frozenset(str(path).split("/")[2] for path in paths if str(path).count("/") >= 2)


def _text(value: Any) -> str:
    """A property value as people read it: the string, or its intrinsic in short form."""
    if isinstance(value, str):
        return value
    if isinstance(value, Mapping) and len(value) == 1:
        ((name, arg),) = value.items()
        if name == "Ref":
            return f"Ref {arg}"
        if name == "Fn::GetAtt" and isinstance(arg, list):
            return "GetAtt " + ".".join(map(str, arg))
    return json.dumps(value, sort_keys=True)


def _items(value: Any) -> list[str]:
    return [_text(item) for item in value] if isinstance(value, list) else []


def _name(resource: Mapping[str, Any], key: str, lid: str) -> str:
    value = resource["Properties"].get(key)
    return value if isinstance(value, str) else lid


# --- added and removed ---------------------------------------------------------------------


def _renamed_identity_providers(
    removed: dict[str, dict[str, Any]], added: dict[str, dict[str, Any]]
) -> list[Change]:
    """One identity provider gone and one new in the same change is a rename (the logical
    id carries the name). The pair is taken out of `removed` and `added`."""
    gone = [lid for lid, r in removed.items() if r["Type"] == IDENTITY_PROVIDER]
    new = [lid for lid, r in added.items() if r["Type"] == IDENTITY_PROVIDER]
    if len(gone) != 1 or len(new) != 1:
        return []
    old_name = _name(removed[gone[0]], "ProviderName", gone[0])
    new_name = _name(added[new[0]], "ProviderName", new[0])
    del removed[gone[0]], added[new[0]]
    return [_idp_rename(old_name, new_name, (gone[0], new[0]))]


def _replaced_entra_applications(
    removed: dict[str, dict[str, Any]], added: dict[str, dict[str, Any]]
) -> list[Change]:
    """An Entra application gone and one new for the same tenant (its logical id carries the
    IdP name) is a replacement. The pairs are taken out of `removed` and `added`."""

    def by_tenant(resources: dict[str, dict[str, Any]]) -> dict[str, list[str]]:
        found: dict[str, list[str]] = {}
        for lid, r in resources.items():
            if r["Type"] == ENTRA_APPLICATION:
                found.setdefault(_text(r["Properties"].get("TenantId")), []).append(lid)
        return found

    gone, new = by_tenant(removed), by_tenant(added)
    changes = []
    for tenant in sorted(gone.keys() & new.keys()):
        if len(gone[tenant]) == 1 and len(new[tenant]) == 1:
            pair = (gone[tenant][0], new[tenant][0])
            del removed[pair[0]], added[pair[1]]
            changes.append(_entra_application_replaced(tenant, pair))
    return changes


def _entra_application_replaced(tenant: str, lids: tuple[str, ...]) -> Change:
    return Change(
        Verdict.BREAKING,
        f"Entra application replaced (tenant {tenant})",
        "A new enterprise application with a new appId replaces the old one: a new metadata "
        "URL and signing certificate, and its user and group assignments and admin consent "
        "start over (the old one is deleted unless retain_on_delete).",
        lids,
        ENTRA_APPLICATION,
    )


def _idp_rename(old: str, new: str, lids: tuple[str, ...]) -> Change:
    return Change(
        Verdict.BREAKING,
        f"IdP rename {old} -> {new}",
        f"Cognito keys federated users by provider name ({old}_<id>): every user of this "
        f"identity provider signs in as a new user with a new sub and loses what your apps "
        f"linked to the old one; apps that pass identity_provider={old} get an error. Keep "
        f"the name, or migrate the users first.",
        lids,
        IDENTITY_PROVIDER,
        ("ProviderName",),
        COGNITO_FEDERATED_USERS,
        providers=(old,),
    )


def _removed(lid: str, resource: Mapping[str, Any]) -> Change:
    kind = resource["Type"]
    if kind == USER_POOL:
        name = _name(resource, "UserPoolName", lid)
        return Change(
            Verdict.BREAKING,
            f"user pool removed {name}",
            "Every user account, its sub and every app client go with the pool (with Retain "
            "it stays in the account, detached from the stack): every app stops signing in.",
            (lid,),
            kind,
        )
    if kind == IDENTITY_PROVIDER:
        name = _name(resource, "ProviderName", lid)
        return Change(
            Verdict.BREAKING,
            f"IdP removed {name}",
            f"Users of {name} can no longer sign in; their Cognito users stay, orphaned, and "
            "apps that pass its name get an error.",
            (lid,),
            kind,
            providers=(name,),
        )
    if kind == APP_CLIENT:
        name = _name(resource, "ClientName", lid)
        return Change(
            Verdict.BREAKING,
            f"client removed {name}",
            f"App versions already in the stores that use client {name}'s id stop signing "
            "in until users update; remove a client only after no released build uses it.",
            (lid,),
            kind,
        )
    if kind == DOMAIN:
        name = _name(resource, "Domain", lid)
        return Change(
            Verdict.BREAKING,
            f"domain removed {name}",
            "The hosted UI, the SAML reply URL and every app's sign-in go through this "
            "domain: sign-in stops everywhere.",
            (lid,),
            kind,
        )
    if kind == ENTRA_APPLICATION:
        tenant = _text(resource["Properties"].get("TenantId", lid))
        return Change(
            Verdict.BREAKING,
            f"Entra application removed (tenant {tenant})",
            "The stack deletes the enterprise application (unless retain_on_delete): the "
            "tenant's users can no longer sign in, and its assignments and consent are gone.",
            (lid,),
            kind,
        )
    return Change(
        Verdict.REVIEW,
        f"{kind} removed {lid}",
        "The resource is deleted; check nothing outside the stack still uses it.",
        (lid,),
        kind,
    )


def _added(lid: str, resource: Mapping[str, Any]) -> Change:
    kind = resource["Type"]
    if kind in IAM_TYPES or kind in (IDENTITY_POOL, IDENTITY_POOL_ROLES):
        return Change(
            Verdict.REVIEW,
            f"{kind} added {lid}",
            "New permissions: read who can assume or use them, and what they allow.",
            (lid,),
            kind,
        )
    return Change(
        Verdict.SAFE,
        f"{kind} added {lid}",
        "A new resource; nobody signing in today is affected.",
        (lid,),
        kind,
    )


# --- modified --------------------------------------------------------------------------


def _modified(
    lid: str, old: Mapping[str, Any], new: Mapping[str, Any], gone: frozenset[str]
) -> list[Change]:
    kind = new["Type"]
    if old["Type"] != kind:
        return [_removed(lid, old), _added(lid, new)]
    changed = _changed_properties(old["Properties"], new["Properties"])
    if not changed:
        return []
    rules = {
        USER_POOL: _user_pool_changes,
        IDENTITY_PROVIDER: _identity_provider_changes,
        DOMAIN: _domain_changes,
        ENTRA_APPLICATION: _entra_application_changes,
    }
    if kind == APP_CLIENT:
        return _client_changes(lid, old, new, changed, gone)
    if kind == LAMBDA_FUNCTION and "Code" in changed:
        bytecode_only = _bytecode_only(lid, old, new)
        if bytecode_only is not None:
            rest = tuple(p for p in changed if p != "Code")
            return [bytecode_only, *(_generic_changes(lid, kind, rest) if rest else [])]
    rule = rules.get(kind)
    if rule is not None:
        return rule(lid, old, new, changed)
    return _generic_changes(lid, kind, changed)


def _bytecode_only(lid: str, old: Mapping[str, Any], new: Mapping[str, Any]) -> Change | None:
    """A function whose bundle has the same source and differs only in whether bytecode for
    the runtime's Python was shipped (the synthesizing machine had that Python or not)."""
    before = old["Metadata"].get(BUNDLE_METADATA)
    after = new["Metadata"].get(BUNDLE_METADATA)
    if not (isinstance(before, Mapping) and isinstance(after, Mapping)):
        return None
    if before.get("source") != after.get("source") or before.get("bytecode") == after.get(
        "bytecode"
    ):
        return None
    if after.get("bytecode"):
        return Change(
            Verdict.SAFE,
            f"function {lid}: bytecode added (same source)",
            "The same code, now with bytecode for the Lambda runtime's Python: faster cold starts.",
            (lid,),
            LAMBDA_FUNCTION,
            ("Code",),
        )
    return Change(
        Verdict.REVIEW,
        f"function {lid}: bytecode dropped (same source)",
        "The same code without bytecode, because the machine that synthesized it has no "
        "Python of the Lambda runtime's version: slower cold starts (each one compiles). "
        "Synthesize where that Python is installed (the workflows install it).",
        (lid,),
        LAMBDA_FUNCTION,
        ("Code",),
    )


def _generic_changes(lid: str, kind: str, changed: tuple[str, ...]) -> list[Change]:
    if set(changed) <= set(TAG_PROPERTIES):
        return [_safe_update(lid, kind, changed)]
    replaced = sorted(create_only_properties(kind) & set(changed))
    if replaced:
        return [
            Change(
                Verdict.REVIEW,
                f"{kind} replaced {lid}",
                f"CloudFormation replaces it ({', '.join(replaced)} cannot change in place): "
                "a new resource with a new id.",
                (lid,),
                kind,
                tuple(changed),
                REGISTRY_SCHEMA,
            )
        ]
    if kind in IAM_TYPES or kind in (IDENTITY_POOL, IDENTITY_POOL_ROLES):
        return [
            Change(
                Verdict.REVIEW,
                f"permissions changed {lid}",
                "Who may do what changes: read the new statements, trust and role rules.",
                (lid,),
                kind,
                tuple(changed),
            )
        ]
    return [_safe_update(lid, kind, changed)]


def _safe_update(lid: str, kind: str, changed: tuple[str, ...]) -> Change:
    what = "tags" if set(changed) <= set(TAG_PROPERTIES) else ", ".join(changed)
    return Change(
        Verdict.SAFE,
        f"{kind} updated {lid} ({what})",
        "Updated in place; nobody signing in notices.",
        (lid,),
        kind,
        changed,
    )


def _user_pool_changes(
    lid: str, old: Mapping[str, Any], new: Mapping[str, Any], changed: tuple[str, ...]
) -> list[Change]:
    name = _name(new, "UserPoolName", lid)
    changes: list[Change] = []
    locked = [p for p in changed if p in POOL_LOCKED]
    if locked:
        changes.append(
            Change(
                Verdict.BREAKING,
                f"user pool {name} sign-in settings changed ({', '.join(locked)})",
                "Cognito cannot change how users sign in (sign-in attributes, case "
                "sensitivity) after the pool is made: the update fails and the deploy rolls "
                "back. Only a new pool, with a user migration, can have them.",
                (lid,),
                USER_POOL,
                tuple(locked),
                COGNITO_UPDATING,
            )
        )
    if "Schema" in changed:
        changes += _schema_changes(lid, name, old["Properties"], new["Properties"])
    reviewed = [p for p in changed if p in POOL_REVIEWED]
    if reviewed:
        changes.append(
            Change(
                Verdict.REVIEW,
                f"user pool {name} settings changed ({', '.join(reviewed)})",
                "Sign-in keeps working, but its protection, triggers, feature plan or MFA "
                "change for every user.",
                (lid,),
                USER_POOL,
                tuple(reviewed),
            )
        )
    rest = tuple(p for p in changed if p not in (*POOL_LOCKED, *POOL_REVIEWED, "Schema"))
    if rest:
        changes.append(_safe_update(lid, USER_POOL, rest))
    return changes


def _schema_changes(
    lid: str, name: str, old: Mapping[str, Any], new: Mapping[str, Any]
) -> list[Change]:
    def by_name(props: Mapping[str, Any]) -> dict[str, Any]:
        return {str(a.get("Name")): a for a in props.get("Schema") or [] if isinstance(a, Mapping)}

    before, after = by_name(old), by_name(new)
    locked = sorted(n for n in before if n not in after or not _same(before[n], after[n])) + sorted(
        n for n in after.keys() - before.keys() if after[n].get("Required")
    )
    if locked:
        return [
            Change(
                Verdict.BREAKING,
                f"user pool {name} attributes changed ({', '.join(locked)})",
                "Cognito cannot remove an attribute or change whether it is required or "
                "mutable after the pool is made: the update fails and the deploy rolls back.",
                (lid,),
                USER_POOL,
                ("Schema",),
                COGNITO_UPDATING,
            )
        ]
    added = sorted(after.keys() - before.keys())
    return [
        Change(
            Verdict.SAFE,
            f"user pool {name} attributes added ({', '.join(added)})",
            "New optional attributes; existing users are unchanged.",
            (lid,),
            USER_POOL,
            ("Schema",),
            COGNITO_UPDATING,
        )
    ]


def _identity_provider_changes(
    lid: str, old: Mapping[str, Any], new: Mapping[str, Any], changed: tuple[str, ...]
) -> list[Change]:
    before, after = old["Properties"], new["Properties"]
    name = _name(new, "ProviderName", lid)
    if "ProviderName" in changed:
        return [_idp_rename(_name(old, "ProviderName", lid), name, (lid,))]
    changes: list[Change] = []
    if "AttributeMapping" in changed:
        changes.append(
            Change(
                Verdict.REVIEW,
                f"IdP {name} attribute mapping changed",
                "At their next sign-in, every user's mapped attributes are overwritten with "
                "the new claims; a claim no longer mapped keeps its last value.",
                (lid,),
                IDENTITY_PROVIDER,
                ("AttributeMapping",),
                COGNITO_ATTRIBUTE_MAPPING,
            )
        )
    if "ProviderDetails" in changed:
        keys = _changed_properties(
            before.get("ProviderDetails") or {}, after.get("ProviderDetails") or {}
        )
        changes.append(
            Change(
                Verdict.REVIEW,
                f"IdP {name} SAML settings changed ({', '.join(keys)})",
                "Cognito trusts what the new settings say (a new metadata URL means new "
                "signing certificates; sign-out and IdP-initiated sign-in may change).",
                (lid,),
                IDENTITY_PROVIDER,
                ("ProviderDetails",),
            )
        )
    if "IdpIdentifiers" in changed:
        dropped = sorted(
            set(_items(before.get("IdpIdentifiers"))) - set(_items(after.get("IdpIdentifiers")))
        )
        changes.append(
            Change(
                Verdict.REVIEW,
                f"IdP {name} email domains changed",
                "The hosted UI routes users by email domain"
                + (f"; {', '.join(dropped)} no longer routes here" if dropped else "")
                + ".",
                (lid,),
                IDENTITY_PROVIDER,
                ("IdpIdentifiers",),
            )
        )
    rest = tuple(
        p
        for p in changed
        if p not in ("AttributeMapping", "ProviderDetails", "IdpIdentifiers", "ProviderName")
    )
    changes += _generic_changes(lid, IDENTITY_PROVIDER, rest) if rest else []
    return changes


def _dropped(before: Mapping[str, Any], after: Mapping[str, Any], key: str) -> list[str]:
    return sorted(set(_items(before.get(key))) - set(_items(after.get(key))))


CLIENT_LISTS = {
    "CallbackURLs": ("callback URL removed", "get redirect_mismatch at sign-in"),
    "LogoutURLs": ("sign-out URL removed", "get an error at sign-out"),
    "AllowedOAuthScopes": ("scope removed", "get invalid_scope at sign-in"),
    "AllowedOAuthFlows": ("OAuth flow removed", "can no longer sign in with it"),
    "SupportedIdentityProviders": (
        "identity provider removed",
        "can no longer sign in with it (identity_provider is refused)",
    ),
}


def _client_changes(
    lid: str,
    old: Mapping[str, Any],
    new: Mapping[str, Any],
    changed: tuple[str, ...],
    gone: frozenset[str],
) -> list[Change]:
    name = _name(new, "ClientName", lid)
    replaced = sorted(create_only_properties(APP_CLIENT) & set(changed))
    if replaced:
        return [
            Change(
                Verdict.BREAKING,
                f"client replaced {name}",
                f"CloudFormation makes a new client with a new id ({', '.join(replaced)} "
                "cannot change in place): every released app with the old id stops signing "
                "in until users update.",
                (lid,),
                APP_CLIENT,
                tuple(replaced),
                REGISTRY_SCHEMA,
            )
        ]
    before, after = old["Properties"], new["Properties"]
    changes: list[Change] = []
    for key, (what, effect) in CLIENT_LISTS.items():
        if key not in changed:
            continue
        dropped = _dropped(before, after, key)
        if key == "SupportedIdentityProviders" and dropped:
            dropped = [name for name in dropped if name not in gone]
            if not dropped:
                continue
        if dropped:
            changes.append(
                Change(
                    Verdict.BREAKING,
                    f"client {name} {what}: {', '.join(dropped)}",
                    f"Released app versions that use {', '.join(dropped)} {effect}; add the "
                    "new value beside the old one, and remove the old one once no released "
                    "build uses it.",
                    (lid,),
                    APP_CLIENT,
                    (key,),
                    COGNITO_REDIRECT,
                )
            )
        else:
            changes.append(_safe_update(lid, APP_CLIENT, (key,)))
    rest = tuple(p for p in changed if p not in CLIENT_LISTS)
    if rest:
        changes.append(_safe_update(lid, APP_CLIENT, rest))
    return changes


def _domain_changes(
    lid: str, old: Mapping[str, Any], new: Mapping[str, Any], changed: tuple[str, ...]
) -> list[Change]:
    if "Domain" in changed or "UserPoolId" in changed:
        before = _name(old, "Domain", lid)
        after = _name(new, "Domain", lid)
        return [
            Change(
                Verdict.BREAKING,
                f"domain change {before} -> {after}",
                "Every app config and the Entra reply URL point to the old host until both "
                "are updated: released apps stop signing in. Export new configs and ship the "
                "apps before removing the old domain.",
                (lid,),
                DOMAIN,
                tuple(p for p in changed if p in ("Domain", "UserPoolId")),
                REGISTRY_SCHEMA,
            )
        ]
    return [
        Change(
            Verdict.REVIEW,
            f"domain {_name(new, 'Domain', lid)} settings changed ({', '.join(changed)})",
            "The hosted UI's pages change for everyone who signs in (managed login version "
            "or certificate).",
            (lid,),
            DOMAIN,
            changed,
        )
    ]


def _entra_application_changes(
    lid: str, old: Mapping[str, Any], new: Mapping[str, Any], changed: tuple[str, ...]
) -> list[Change]:
    before, after = old["Properties"], new["Properties"]
    tenant = _text(after.get("TenantId", lid))
    if "ServiceToken" in changed:
        return [
            Change(
                Verdict.BREAKING,
                f"Entra application moved to another cloud (tenant {tenant})",
                "CloudFormation refuses to change a custom resource's service token: the "
                "update fails and the deploy rolls back.",
                (lid,),
                ENTRA_APPLICATION,
                ("ServiceToken",),
                CFN_CUSTOM_RESOURCE_UPDATE,
            )
        ]
    if "TenantId" in changed:
        old_tenant = _text(before.get("TenantId"))
        replaced = _entra_application_replaced(f"{old_tenant} -> {tenant}", (lid,))
        return [replace(replaced, properties=("TenantId",))]
    changes: list[Change] = []
    dropped = _dropped(before, after, "Assignments")
    if dropped:
        changes.append(
            Change(
                Verdict.REVIEW,
                f"Entra application (tenant {tenant}) assignments removed",
                f"{len(dropped)} user(s) or group(s) can no longer sign in.",
                (lid,),
                ENTRA_APPLICATION,
                ("Assignments",),
            )
        )
    urls = [p for p in changed if p in ("IdentifierUri", "ReplyUrl", "LogoutUrl")]
    if urls:
        changes.append(
            Change(
                Verdict.REVIEW,
                f"Entra application (tenant {tenant}) URLs changed ({', '.join(urls)})",
                "Entra sends responses to the new reply URL from the deploy on; it follows "
                "the pool's domain.",
                (lid,),
                ENTRA_APPLICATION,
                tuple(urls),
            )
        )
    rest = tuple(p for p in changed if p not in (*urls, "Assignments"))
    if rest or (not dropped and "Assignments" in changed):
        extra = ("Assignments",) if "Assignments" in changed and not dropped else ()
        changes.append(_safe_update(lid, ENTRA_APPLICATION, rest + extra))
    return changes


# --- the pull-request comment ----------------------------------------------------------

MARKER = "<!-- mobile-sso-plan:{env} -->"
ICON = {Verdict.BREAKING: ":red_circle:", Verdict.REVIEW: ":yellow_circle:", Verdict.SAFE: ""}


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def markdown(plan: Plan, env: str, diff: str | None = None) -> str:
    """The plan as a pull-request comment: the verdict table first, safe changes and the raw
    diff collapsed below. The first line marks the comment, so a workflow updates it in place."""
    lines = [MARKER.format(env=env), f"### mobile-sso plan: `{env}`", ""]
    breaking = plan.unacknowledged_breaking
    if not plan.changes:
        lines.append("No changes.")
    elif breaking:
        lines.append(
            f"**{len(breaking)} breaking change(s).** Avoid them, or acknowledge each by its "
            f"title in `config/{env}.yaml` under `accept_breaking`."
        )
    else:
        lines.append("No unacknowledged breaking change.")
    shown = [c for c in plan.changes if c.verdict is not Verdict.SAFE]
    if shown:
        lines += ["", "| Verdict | Change | What it means |", "|---|---|---|"]
        for c in shown:
            verdict = f"{ICON[c.verdict]} {c.verdict}".strip()
            if c.acknowledged:
                verdict += " (acknowledged)"
            lines.append(f"| {verdict} | {_cell(c.title)} | {_cell(c.explanation)} |")
    for title in plan.acknowledgments_unused:
        lines += ["", f"Unused acknowledgment (no such breaking change): `{_cell(title)}`"]
    safe = [c for c in plan.changes if c.verdict is Verdict.SAFE]
    if safe:
        lines += ["", f"<details><summary>{len(safe)} safe change(s)</summary>", ""]
        lines += [f"- {_cell(c.title)}" for c in safe]
        lines += ["", "</details>"]
    if diff:
        # A fence longer than any run of backticks in the diff, so the diff cannot close it.
        fence = "`" * max(3, 1 + max((len(run) for run in re.findall("`+", diff)), default=0))
        lines += ["", "<details><summary>cdk diff</summary>", "", fence, diff.rstrip(), fence]
        lines += ["", "</details>"]
    return "\n".join(lines) + "\n"


# --- reading templates -------------------------------------------------------------------


def read_template(path: Path, stack: str) -> dict[str, Any]:
    """A template file, or the stack's template in a cloud assembly (`cdk.out`)."""
    target = path / f"{stack}.template.json" if path.is_dir() else path
    try:
        data = json.loads(target.read_text(encoding="utf-8"))
    except FileNotFoundError:
        where = f"no {target.name} in {path}" if path.is_dir() else f"{path}: no such file"
        raise PlanError(f"{where}; synthesize it first (make synth ENV=...)") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise PlanError(f"{target}: not a readable JSON template ({error})") from None
    if not isinstance(data, dict):
        raise PlanError(f"{target}: not a CloudFormation template (no JSON object)")
    return data


class TemplateReader(Protocol):
    def get_template(self, *, StackName: str, TemplateStage: str) -> Mapping[str, Any]: ...


def deployed_template(stack: str, client: TemplateReader) -> dict[str, Any]:
    """The deployed stack's template as it was submitted (`GetTemplate`, read-only)."""
    from botocore.exceptions import (  # type: ignore[import-untyped]  # noqa: PLC0415
        BotoCoreError,
        ClientError,
    )

    try:
        body = client.get_template(StackName=stack, TemplateStage="Original")["TemplateBody"]
    except ClientError as error:
        message = error.response.get("Error", {}).get("Message", str(error))
        if "does not exist" in message:
            raise StackNotDeployed(
                f"{stack} is not deployed: {message} (compare with --base, or pass "
                "--new-stack-ok to plan a first deploy)"
            ) from None
        raise PlanError(
            f"cannot read the deployed template of {stack}: {message} (a stack not deployed "
            "yet has nothing to compare: use --base with a template file)"
        ) from None
    except BotoCoreError as error:
        raise PlanError(f"cannot reach CloudFormation: {error}") from None
    if isinstance(body, Mapping):
        return dict(body)
    try:
        data = json.loads(body)
    except json.JSONDecodeError:
        raise PlanError(f"the deployed template of {stack} is not JSON") from None
    if not isinstance(data, dict):
        raise PlanError(f"the deployed template of {stack} is not a JSON object")
    return data
