"""``uploadFile`` and ``downloadFile`` as clients send them (API.md §1.9): multipart uploads in the list form that
Android sends (``data`` as a JSON string, sizes as strings, parts ``file0…`` named by their base name) or the
single-file form, and downloads that follow the redirect by hand."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

from tests.conftest import ApiClient


def md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def upload(api: ApiClient, files: dict[str, bytes], *, key: str | None = None,
           meta: list[dict[str, Any]] | None = None, parts: dict[str, bytes] | None = None) -> httpx.Response:
    """The list form: ``meta`` and ``parts`` default to what an honest client sends for ``files``."""
    if meta is None:
        meta = [{"filename": n, "size": str(len(d)), "hash": md5(d)} for n, d in files.items()]
    if parts is None:
        parts = {f"file{i}": d for i, d in enumerate(files.values())}
    names = list(files)
    multipart = {field: (Path(names[i]).name or "blob" if i < len(names) else field, data, "application/octet-stream")
                 for i, (field, data) in enumerate(parts.items())}
    query = {"appId": api.app.app_id, "clientKey": key or api.app.development, "action": "uploadFile"}
    return api.http.post("/api", params=query, data={"data": json.dumps(meta)}, files=multipart)


def upload_one(api: ApiClient, name: str, data: bytes, **fields: str) -> httpx.Response:
    """The single-file form: ``filename``, ``size``, ``hash`` and a ``file`` part."""
    form = {"filename": name, "size": str(len(data)), "hash": md5(data), **fields}
    query = {"appId": api.app.app_id, "clientKey": api.app.development, "action": "uploadFile"}
    return api.http.post("/api", params=query, data=form,
                         files={"file": (Path(name).name, data, "application/octet-stream")})


def uploaded(api: ApiClient, files: dict[str, bytes]) -> None:
    response = upload(api, files)
    assert response.status_code == 200, response.text
    assert response.json() == {"response": [{"success": True}]}


def download(api: ApiClient, name: str, **extra: str) -> httpx.Response:
    """``downloadFile`` as the JS SDK asks for it (GET, no user); the redirect is not followed."""
    return api.http.get("/api", params={"appId": api.app.app_id, "clientKey": api.app.production,
                                        "action": "downloadFile", "filename": name, **extra})


def file_url(api: ApiClient, name: str) -> str:
    """The path and query ``downloadFile`` redirects to (on this server)."""
    response = download(api, name)
    assert response.status_code == 302, response.text
    location = urlsplit(response.headers["location"])
    assert f"{location.scheme}://{location.netloc}" == api.server.url
    return f"{location.path}?{location.query}"


def fetch(api: ApiClient, name: str, headers: dict[str, str] | None = None) -> httpx.Response:
    return api.http.get(file_url(api, name), headers=headers)


def blobs_of(api: ApiClient) -> list[Path]:
    """The blob files the app has under the data directory."""
    folder = api.server.settings.data_dir / "files" / api.app.app_id
    return sorted(p for p in folder.glob("*") if not p.name.startswith(".")) if folder.exists() else []
