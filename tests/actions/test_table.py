"""The action table is the public surface: every action of API.md §6 with its key class (§2.3) and defaults (§3.2)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from openplum.actions.params import Common
from openplum.actions.table import ACTIONS, markdown_table
from openplum.services.apps import KeyClass

API_MD = Path(__file__).resolve().parents[3] / "shared" / "reference" / "API.md"

# API.md §2.3, one row per key class; the SDK-only actions (§6.9) are sent with the production key.
KEY_CLASSES: dict[KeyClass, set[str]] = {
    KeyClass.PRODUCTION: {
        "start", "stop", "pauseSession", "resumeSession", "heartbeat", "track", "advance", "pauseState",
        "resumeState", "setUserAttributes", "setDeviceAttributes", "setTrafficSourceInfo", "block", "sendMessage",
        "getVars", "downloadFile", "getAndroidNotificationChannels",
        # SDK-only, not in the spec
        "getNewsfeedMessages", "markNewsfeedMessageAsRead", "deleteNewsfeedMessage", "getMigrateState", "log",
        "restart", "trackGeofence",
    },
    KeyClass.DEVELOPMENT: {
        "registerDevice", "deleteUser", "unblock", "setVars", "deleteVars", "uploadFile",
        "addAndroidNotificationChannel", "deleteAndroidNotificationChannel", "startCampaign", "multi",
        "getMultiResults",
    },
    KeyClass.DATA_EXPORT: {
        "exportData", "exportReport", "exportUser", "exportUsers", "getExportResults", "addPostback",
        "listPostbacks", "deletePostback",
    },
    KeyClass.CONTENT_READ_ONLY: {
        "getMessage", "getMessages", "getUnsubscribeCategories", "getAbTest", "getAbTests", "getVariant",
    },
}
ALL_ACTIONS = set().union(*KEY_CLASSES.values())

# API.md §3.2
CREATE_IF_NEEDED = {"start", "track", "setUserAttributes", "setDeviceAttributes", "setTrafficSourceInfo"}
CREATE_NEVER = {"advance", "getVars", "heartbeat", "pauseSession", "pauseState", "resumeSession", "resumeState",
                "sendMessage", "stop", "startCampaign"}

ALWAYS_LIVE = {"getMigrateState", "log"}


def test_table_has_every_action_of_the_reference() -> None:
    assert set(ACTIONS) >= ALL_ACTIONS, sorted(ALL_ACTIONS - set(ACTIONS))


def test_table_has_no_action_the_reference_does_not_name() -> None:
    assert set(ACTIONS) <= ALL_ACTIONS, sorted(set(ACTIONS) - ALL_ACTIONS)


@pytest.mark.parametrize("name", sorted(ALL_ACTIONS))
def test_action_has_the_key_class_of_the_reference(name: str) -> None:
    expected = next(cls for cls, names in KEY_CLASSES.items() if name in names)
    assert ACTIONS[name].key_class is expected


@pytest.mark.parametrize("name", sorted(CREATE_IF_NEEDED | CREATE_NEVER))
def test_action_has_the_create_disposition_default_of_the_reference(name: str) -> None:
    expected = "CreateIfNeeded" if name in CREATE_IF_NEEDED else "CreateNever"
    assert ACTIONS[name].create_disposition == expected


def test_every_action_is_registered_under_its_own_name() -> None:
    assert all(spec.name == name for name, spec in ACTIONS.items())


def test_every_action_has_a_typed_parameter_schema() -> None:
    assert all(issubclass(spec.params, Common) for spec in ACTIONS.values())


def test_live_actions() -> None:
    """Which actions answer today (``pytest -s`` shows them); later issues grow this set and the README table."""
    live = {name for name, spec in ACTIONS.items() if spec.implemented}
    print(f"live actions ({len(live)}/{len(ACTIONS)}): {', '.join(sorted(live))}")
    assert live >= ALWAYS_LIVE


def test_live_actions_that_may_create_users_run_in_the_write_transaction() -> None:
    creating = [s.name for s in ACTIONS.values() if s.implemented and s.create_disposition == "CreateIfNeeded"]
    assert all(ACTIONS[name].writes for name in creating), creating


def test_readme_table_lists_every_action_with_its_status() -> None:
    table = markdown_table()
    for spec in ACTIONS.values():
        row = next(line for line in table.splitlines() if line.startswith(f"| `{spec.name}` |"))
        assert spec.key_class.label in row
        if spec.name != "multi":
            assert ("not implemented" not in row) is spec.implemented, row


# -- cross-check against the reference itself, when it sits next to the repository --------------------


def _section(text: str, start: str, end: str) -> str:
    return text[text.index(start):text.index(end)]


@pytest.mark.skipif(not API_MD.exists(), reason=f"reference not found at {API_MD}")
def test_explicit_lists_match_the_reference_headings() -> None:
    """The names above are the bold action names of API.md §6 and the first column of §6.9."""
    text = API_MD.read_text()
    actions = _section(text, "## 6. Actions", "## 7.")
    headings = re.findall(r"^\*\*[A-Za-z]+\*\*(?:, \*\*[A-Za-z]+\*\*)*", actions, re.MULTILINE)
    bold = {name for line in headings for name in re.findall(r"\*\*([A-Za-z]+)\*\*", line)}
    sdk_only = set(re.findall(r"^\| `([A-Za-z]+)` \|", actions[actions.index("### 6.9"):], re.MULTILINE))
    assert bold | sdk_only == ALL_ACTIONS


@pytest.mark.skipif(not API_MD.exists(), reason=f"reference not found at {API_MD}")
def test_explicit_key_classes_match_the_reference_table() -> None:
    rows = _section(API_MD.read_text(), "### 2.3", "## 3.")
    labels = {KeyClass.PRODUCTION: "| Production", KeyClass.DEVELOPMENT: "| Development",
              KeyClass.DATA_EXPORT: "| Data Export", KeyClass.CONTENT_READ_ONLY: "| Content Read-only"}
    for key_class, label in labels.items():
        row = next(line for line in rows.splitlines() if line.startswith(label))
        assert set(re.findall(r"`([A-Za-z]+)`", row)) <= KEY_CLASSES[key_class]
