"""What comes in and goes out about cameras: the fields a page, the API and the ``video.camera``
message share, the API's create, change and read views."""

from __future__ import annotations

import datetime as dt
from typing import Any
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator

from jcjg.core.forms import Id
from jcjg.core.text import TextModel
from jcjg.video.choices import CameraForm, PlaceKind

CODE_PATTERN = r"^[0-9A-Za-z][0-9A-Za-z\-_.]{0,63}$"
RESOLUTION_PATTERN = r"^([0-9]{3,5}x[0-9]{3,5})?$"
# what the schema can say of the addresses (the validators below say the rest)
STREAM_URL_PATTERN = r"^[Rr][Tt][Ss][Pp][Ss]?://[^@/?#\s]+([/?#][^\s]*)?$"
ONVIF_PATTERN = r"^([Hh][Tt][Tt][Pp][Ss]?://[^\s]+)?$"
USERINFO_REFUSED = "地址中不能包含用户名或密码，请分别填写在“用户名”“密码”栏"


def check_stream_url(value: str) -> str:
    """An RTSP address (``rtsp://`` or ``rtsps://``) with a host and no credentials in it."""
    try:
        parts = urlsplit(value)
        port = parts.port
    except ValueError as exc:
        raise ValueError("视频流地址格式不正确") from exc
    if parts.scheme.lower() not in ("rtsp", "rtsps"):
        raise ValueError("视频流地址须以 rtsp:// 或 rtsps:// 开头")
    if "@" in parts.netloc:
        raise ValueError(USERINFO_REFUSED)
    if not parts.hostname or (port is not None and not 0 < port < 65536):
        raise ValueError("视频流地址缺少主机名")
    if any(c.isspace() for c in value):
        raise ValueError("视频流地址不能含空格")
    return value


def check_onvif(value: str) -> str:
    if not value:
        return value
    parts = urlsplit(value)
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        raise ValueError("ONVIF 地址须以 http:// 或 https:// 开头")
    if "@" in parts.netloc:
        raise ValueError(USERINFO_REFUSED)
    return value


class CameraFields(TextModel):
    """A camera's own facts (references to the lab, machine and project apart)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    code: str = Field(pattern=CODE_PATTERN, description="摄像机编号（机构内唯一，用于匹配）")
    name: str = Field(min_length=1, max_length=100, description="名称")
    place_kind: PlaceKind = Field(description="监控场所类别")
    form: CameraForm = Field(default=CameraForm.BULLET, description="摄像机形式")
    location: str = Field(default="", max_length=200, description="安装位置")
    resolution: str = Field(
        default="", pattern=RESOLUTION_PATTERN, description="分辨率，如 1920x1080"
    )
    stream_url: str = Field(
        min_length=8,
        max_length=500,
        json_schema_extra={"pattern": STREAM_URL_PATTERN},  # the validator says why not
        description=(
            "视频流地址（rtsp:// 或 rtsps://，不含用户名和密码）；不得指向本机回环、未指定、"
            "链路本地、组播、保留、内网（平台允许的网段除外）或平台自身的地址，"
            "主机名按解析到的每个地址判断"
        ),
    )
    username: str = Field(default="", max_length=64, description="视频流用户名")
    onvif_address: str = Field(
        default="",
        max_length=200,
        json_schema_extra={"pattern": ONVIF_PATTERN},
        description="ONVIF 设备地址（http:// 或 https://）",
    )

    @field_validator("stream_url")
    @classmethod
    def _stream(cls, value: str) -> str:
        return check_stream_url(value)

    @field_validator("onvif_address")
    @classmethod
    def _onvif(cls, value: str) -> str:
        return check_onvif(value)


class CameraIn(CameraFields):
    """A camera as a page or the API gives it: its lab, machine and project by id."""

    institution_id: Id | None = Field(
        default=None, description="所属检测机构（机构账号可省略：本机构）"
    )
    lab_id: Id | None = Field(default=None, description="所在检测场所")
    equipment_id: Id | None = Field(default=None, description="监控的仪器设备（设备摄像机）")
    project_id: Id | None = Field(default=None, description="工程项目（现场检测摄像机）")
    password: str | None = Field(
        default=None, max_length=128, description="视频流密码（加密保存，不再显示；不修改则省略）"
    )


class CameraUpdate(TextModel):
    """A change through the API: only the fields given change (``null`` clears a reference)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    code: str | None = Field(default=None, pattern=CODE_PATTERN)
    name: str | None = Field(default=None, min_length=1, max_length=100)
    place_kind: PlaceKind | None = None
    form: CameraForm | None = None
    location: str | None = Field(default=None, max_length=200)
    resolution: str | None = Field(default=None, pattern=RESOLUTION_PATTERN)
    stream_url: str | None = Field(default=None, min_length=8, max_length=500)
    username: str | None = Field(default=None, max_length=64)
    onvif_address: str | None = Field(default=None, max_length=200)
    lab_id: Id | None = None
    equipment_id: Id | None = None
    project_id: Id | None = None
    password: str | None = Field(default=None, max_length=128)
    retired: bool | None = Field(default=None, description="true：停用这台摄像机")


class CameraRead(BaseModel):
    """A camera as the API shows it (never its password)."""

    id: int
    institution_id: int
    region_code: str
    code: str
    name: str
    place_kind: str
    place_kind_label: str
    form: str
    lab_id: int | None
    equipment_id: int | None
    project_id: int | None
    location: str
    resolution: str
    stream_url: str
    username: str
    has_password: bool
    onvif_address: str
    status: str
    status_label: str
    status_since: dt.datetime | None
    last_segment_at: dt.datetime | None
    verified_at: dt.datetime | None
    integrity: list[dict[str, Any]]
