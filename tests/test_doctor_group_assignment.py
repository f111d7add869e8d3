"""`mobile-sso doctor` and groups assigned to the Entra application: group-based assignment
needs Entra ID P1/P2 and does not reach members of nested groups (Microsoft, "Manage users
and groups assignment to an application"), so the doctor says so when groups are assigned,
and names a nested group it can see.

The deployment is tests/doctor_deployment.py's; reading group members needs
GroupMember.Read.All, which the deployer lacks unless a test grants it."""

from __future__ import annotations

from tests.doctor_deployment import Deployment, deployment, doctor

__all__ = ["deployment"]

READ_APPS_AND_GROUPS = ["Application.ReadWrite.All", "GroupMember.Read.All"]


def test_an_assigned_group_notes_the_p1_p2_and_nested_group_limits(
    deployment: Deployment,
) -> None:
    deployment.assign(deployment.entra.add_group("Sales"))
    deployment.entra.set_roles(READ_APPS_AND_GROUPS)

    outcome = doctor(deployment)

    assert outcome.report["findings"] == []
    assert "Microsoft Entra ID P1 or P2" in outcome.stderr
    assert "members of nested groups are not" in outcome.stderr


def test_a_group_nested_in_an_assigned_group_is_an_assignment_warning_naming_it(
    deployment: Deployment,
) -> None:
    inner = deployment.entra.add_group("Sales EMEA", members=[deployment.entra.add_user()])
    deployment.assign(deployment.entra.add_group("Sales", members=[inner]))
    deployment.entra.set_roles(READ_APPS_AND_GROUPS)

    outcome = doctor(deployment)

    assert outcome.exit_code == 0
    assert outcome.findings == [("assignment", "warning")]
    message = outcome.message("assignment")
    assert f"nested group(s) Sales EMEA ({inner})" in message
    assert "group 'Sales'" in message
    assert "entra[].assignments.groups" in outcome.fix("assignment")


def test_without_group_read_permission_the_nested_group_check_is_a_note(
    deployment: Deployment,
) -> None:
    inner = deployment.entra.add_group("Sales EMEA")
    deployment.assign(deployment.entra.add_group("Sales", members=[inner]))

    outcome = doctor(deployment)

    assert outcome.report["findings"] == []
    assert "nested groups of the groups assigned in EntraID were not checked" in outcome.stderr
    assert "GroupMember.Read.All" in outcome.stderr


def test_users_alone_assigned_make_no_group_note(deployment: Deployment) -> None:
    outcome = doctor(deployment)

    assert "P1 or P2" not in outcome.stderr
