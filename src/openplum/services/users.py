"""Changing who a user is: ``newUserId`` (register, login, switch; API.md §3.4), delete, block and unblock."""

from __future__ import annotations

from typing import Any

from openplum.services import sessions
from openplum.services.identity import merge_into
from openplum.services.profile import Profile
from openplum.services.sessions import Timeouts
from openplum.services.unit import Unit


def change_user_id(
    unit: Unit, current: Profile, new_user_id: str, device_id: str | None, when: float, timeouts: Timeouts, *,
    dev_mode: bool, client: dict[str, Any],
) -> Profile:
    """Apply ``newUserId`` and return the profile later actions of this device belong to.

    - register: an anonymous profile takes the new id (its history moves along);
    - login: the new id exists, so the anonymous profile is merged into it and deleted;
    - switch: the current user had an id of their own; their session on this device ends and one starts for
      the new user (created when absent).
    """
    if new_user_id == current.user_id:
        return current
    existing = unit.profile(new_user_id)
    if not current.identified:
        if existing is None:
            unit.rename(current, new_user_id)
            current.identified = True
            return current
        unit.reassign(current.user_id, new_user_id)
        merge_into(existing, current)
        existing.identified = True
        unit.drop(current.user_id)
        for device in current.devices:
            unit.link_device(device, new_user_id)
        unit.changed(existing)
        return existing
    device_key = device_id or ""
    had_session = device_key in current.sessions
    sessions.end(unit, current, device_key, when, "user changed")
    target = existing or unit.create(new_user_id, identified=True)
    if device_id:
        moved = current.devices.get(device_id)
        if moved is not None and device_id not in target.devices:
            target.devices[device_id] = moved
        unit.link_device(device_id, new_user_id)
    if had_session:
        sessions.start(unit, target, device_key, when, timeouts, background=False, dev_mode=dev_mode, client=client)
    unit.changed(target)
    return target


def delete(unit: Unit, profile: Profile, *, full_erasure: bool) -> None:
    """Delete the profile; with ``full_erasure`` its sessions, states and events go too, in this transaction."""
    if full_erasure:
        unit.erase_history(profile.user_id)
    unit.tx.delete_devices_of(unit.app_id, profile.user_id)
    unit.drop(profile.user_id)


def block(unit: Unit, profile: Profile) -> None:
    """Erase what is known of the user and keep only the id and the block, so nothing more is collected."""
    unit.erase_history(profile.user_id)
    blocked = Profile(user_id=profile.user_id, created=profile.created, identified=profile.identified, blocked=True)
    unit.replace(blocked)


def unblock(unit: Unit, profile: Profile) -> None:
    profile.blocked = False
    unit.changed(profile)
