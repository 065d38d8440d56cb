"""The action table: every Leanplum API action (API.md §6), its key class, parameters, handler and defaults.

This is openplum's public surface. An action without a handler is known but not implemented yet: callers get a
clear error item rather than an unknown-action error. The README's table of actions is generated from here
(``python -m openplum.actions.table``).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from openplum.actions import (
    content,
    experiments,
    export,
    files,
    imports,
    meta,
    postbacks,
    profiles,
    sessions,
    tracking,
    users,
)
from openplum.actions.content_params import DeleteVarsParams, GetVarsParams, SetVarsParams
from openplum.actions.context import Handler
from openplum.actions.device_params import DeviceParams
from openplum.actions.params import Common, CreateDisposition, NoParams
from openplum.services.apps import KeyClass

P = KeyClass.PRODUCTION
D = KeyClass.DEVELOPMENT
X = KeyClass.DATA_EXPORT
C = KeyClass.CONTENT_READ_ONLY


@dataclass(frozen=True)
class ActionSpec:
    name: str
    key_class: KeyClass
    summary: str
    params: type[Common] = NoParams
    handler: Handler | None = None
    create_disposition: CreateDisposition | None = None
    writes: bool = False
    """Runs in the write transaction (and is deduplicated when replayed)."""
    answers_replays: bool = False
    """Called again for a replayed item (with ``ctx.replayed``) because its answer carries content."""
    deduplicated: bool = True
    """Whether a replayed write is recognised; off for actions that start a job (every call answers a new
    ``jobId``, which consumers read unconditionally)."""
    rehearsable: bool = False
    """Its handler changes nothing but the request's unit of work and what that writes, so a batch of such
    actions may be rehearsed ahead of its write turn (``store.rehearsal``)."""

    @property
    def implemented(self) -> bool:
        return self.handler is not None


_SPECS: list[ActionSpec] = [
    # Sessions and behaviour (§6.1)
    ActionSpec("start", P, "Start a session; returns the user's content", sessions.StartParams, sessions.start,
               "CreateIfNeeded", writes=True, answers_replays=True),
    ActionSpec("stop", P, "End the session", NoParams, sessions.stop, "CreateNever", writes=True),
    ActionSpec("pauseSession", P, "Pause the session", NoParams, sessions.pause_session, "CreateNever", writes=True),
    ActionSpec("resumeSession", P, "Resume a paused or background session", NoParams, sessions.resume_session,
               "CreateNever", writes=True),
    ActionSpec("heartbeat", P, "Keep the session alive", NoParams, sessions.heartbeat, "CreateNever", writes=True),
    ActionSpec("track", P, "Track an event or a message interaction", tracking.TrackParams, tracking.track,
               "CreateIfNeeded", writes=True),
    ActionSpec("advance", P, "Enter a state, leaving the current one", tracking.AdvanceParams, tracking.advance,
               "CreateNever", writes=True),
    ActionSpec("pauseState", P, "Pause the current state", NoParams, tracking.pause_state, "CreateNever", writes=True),
    ActionSpec("resumeState", P, "Resume the current state", NoParams, tracking.resume_state, "CreateNever",
               writes=True),
    # User information (§6.2)
    ActionSpec("setUserAttributes", P, "Set user attributes, change the user id, import history",
               users.SetUserAttributesParams, users.set_user_attributes, "CreateIfNeeded", writes=True),
    ActionSpec("setDeviceAttributes", P, "Set device attributes and push tokens", DeviceParams,
               users.set_device_attributes, "CreateIfNeeded", writes=True),
    ActionSpec("setTrafficSourceInfo", P, "Record the user's traffic source", users.TrafficSourceParams,
               users.set_traffic_source_info, "CreateIfNeeded", writes=True),
    ActionSpec("registerDevice", D, "Register a test device", users.RegisterDeviceParams, users.register_device,
               writes=True),
    ActionSpec("deleteUser", D, "Delete a user (optionally erasing all history)", users.DeleteUserParams,
               users.delete_user, "CreateNever", writes=True),
    ActionSpec("block", P, "Stop collecting data for a user and erase it", NoParams, users.block, "CreateNever",
               writes=True),
    ActionSpec("unblock", D, "Resume collecting data for a blocked user", NoParams, users.unblock, "CreateNever",
               writes=True),
    # Messages (§6.3)
    ActionSpec("getMessage", C, "Read one message"),
    ActionSpec("getMessages", C, "List messages"),
    ActionSpec("getUnsubscribeCategories", C, "List unsubscribe categories"),
    ActionSpec("sendMessage", P, "Send a message to a user", create_disposition="CreateNever"),
    ActionSpec("startCampaign", D, "Run a campaign for a user", create_disposition="CreateNever"),
    ActionSpec("addAndroidNotificationChannel", D, "Create or update an Android notification channel"),
    ActionSpec("getAndroidNotificationChannels", P, "List Android notification channels"),
    ActionSpec("deleteAndroidNotificationChannel", D, "Delete an Android notification channel"),
    # A/B tests (§6.4)
    ActionSpec("getAbTest", C, "Read one A/B test", experiments.OneParams, experiments.get_ab_test),
    ActionSpec("getAbTests", C, "List A/B tests", experiments.ListParams, experiments.get_ab_tests),
    ActionSpec("getVariant", C, "Read one A/B test variant", experiments.OneParams, experiments.get_variant),
    # Variables and files (§6.5)
    ActionSpec("getVars", P, "Read the user's variables and variants", GetVarsParams, content.get_vars,
               "CreateNever"),
    ActionSpec("setVars", D, "Define the app's variables (defaults in code)", SetVarsParams,
               content.set_vars, writes=True),
    ActionSpec("deleteVars", D, "Delete variables", DeleteVarsParams, content.delete_vars, writes=True),
    ActionSpec("downloadFile", P, "Redirect to a file", files.DownloadFileParams, files.download_file),
    ActionSpec("uploadFile", D, "Upload files", files.UploadFileParams, files.upload_file, writes=True),
    # Postbacks (§6.6)
    ActionSpec("addPostback", X, "Add a postback", postbacks.AddPostbackParams, postbacks.add_postback, writes=True),
    ActionSpec("listPostbacks", X, "List postbacks", NoParams, postbacks.list_postbacks),
    ActionSpec("deletePostback", X, "Delete a postback", postbacks.DeletePostbackParams, postbacks.delete_postback,
               writes=True),
    # Export (§6.7)
    ActionSpec("exportData", X, "Export raw sessions (job)", export.ExportDataParams, export.export_data,
               writes=True, deduplicated=False),
    ActionSpec("exportReport", X, "Export a report (job)", export.ExportReportParams, export.export_report,
               writes=True, deduplicated=False),
    ActionSpec("exportUser", X, "Read one user's profile", NoParams, profiles.export_user, "CreateNever"),
    ActionSpec("exportUsers", X, "Export users (job)", export.ExportUsersParams, export.export_users,
               writes=True, deduplicated=False),
    ActionSpec("getExportResults", X, "Poll an export job", export.JobParams, export.get_export_results),
    # Import (§6.8); the JSON form of multi is handled by the transport itself, the CSV form here
    ActionSpec("multi", D, "Batch of actions (JSON); CSV import job with createJob=true", imports.ImportParams,
               imports.start_import, writes=True, deduplicated=False),
    ActionSpec("getMultiResults", D, "Poll a CSV import job", imports.MultiResultsParams, imports.get_multi_results),
    # Used by SDKs, absent from the spec (§6.9): sent with the production (or development) key
    ActionSpec("getNewsfeedMessages", P, "Read the app inbox"),
    ActionSpec("markNewsfeedMessageAsRead", P, "Mark an inbox message as read"),
    ActionSpec("deleteNewsfeedMessage", P, "Delete an inbox message"),
    ActionSpec("getMigrateState", P, "SDK migration state (always pure Leanplum)", handler=meta.get_migrate_state),
    ActionSpec("log", P, "SDK remote log (accepted, not stored)", params=meta.LogParams, handler=meta.log),
    ActionSpec("restart", P, "Alias of start used by old Android SDKs", sessions.StartParams, sessions.start,
               "CreateIfNeeded", writes=True, answers_replays=True),
    ActionSpec("trackGeofence", P, "Track a geofence event", tracking.TrackParams, tracking.track, "CreateIfNeeded",
               writes=True),
]

_REHEARSABLE = frozenset({
    "start", "restart", "stop", "pauseSession", "resumeSession", "heartbeat", "track", "trackGeofence", "advance",
    "pauseState", "resumeState", "setUserAttributes", "setDeviceAttributes", "setTrafficSourceInfo",
})
"""The behaviour actions SDKs batch: their handlers keep what they change in the unit of work."""

ACTIONS: dict[str, ActionSpec] = {
    spec.name: dataclasses.replace(spec, rehearsable=True) if spec.name in _REHEARSABLE else spec for spec in _SPECS
}


def markdown_table() -> str:
    """The README's table of actions."""
    lines = ["| action | key | createDisposition default | status |", "|---|---|---|---|"]
    for spec in _SPECS:
        status = "live" if spec.implemented else "not implemented yet"
        if spec.name == "multi":
            status = "live (JSON batch; CSV import job with createJob=true)"
        lines.append(
            f"| `{spec.name}` | {spec.key_class.label} | {spec.create_disposition or '-'} | {status} |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    print(markdown_table())
