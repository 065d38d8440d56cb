"""Parameters that describe a device and where it is, shared by ``start`` and ``setDeviceAttributes``."""

from __future__ import annotations

from typing import Any

from openplum.actions.params import Common


class DeviceParams(Common):
    app_version: str | None = None
    system_name: str | None = None
    system_version: str | None = None
    browser_name: str | None = None
    browser_version: str | None = None
    device_name: str | None = None
    device_model: str | None = None
    ios_push_token: str | None = None
    gcm_registration_id: str | None = None
    web_push_subscription: Any = None
    huawei_push_reg_id: str | None = None
    ios_push_types: Any = None
    ios_push_categories: Any = None
    rich_push_enabled: bool | None = None
    limit_tracking: bool | None = None
    install_date: float | None = None
    update_date: float | None = None
    locale: str | None = None
    country: str | None = None
    region: str | None = None
    city: str | None = None
    location: str | None = None
    location_accuracy_type: str | None = None
    timezone: str | None = None
    timezone_offset_seconds: int | None = None
