"""Settings of the server: `HSI_*` environment variables, overridden by the add-on's `options.json`.

One validated object is built at start-up. A bad value stops the server before anything starts, with
one line that names the variable and what is allowed, so a user reading the add-on log knows what to fix.
"""

from __future__ import annotations

import difflib
import json
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BeforeValidator,
    Field,
    IPvAnyNetwork,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, NoDecode, PydanticBaseSettingsSource, SettingsConfigDict

from server.alerts.schedule import TimezoneName, load_timezone
from server.hub import ModelRef, parse_model_ref
from server.vocabulary import normalize_label

#: The COCO classes kept by default: people, road vehicles and the animals common around a home.
DEFAULT_SECURITY_CLASSES = ["person", "car", "truck", "dog", "cat", "bird", "bicycle", "motorcycle", "bus"]

#: Where a Home Assistant add-on finds its options; `HSI_OPTIONS_FILE` points elsewhere.
ADDON_OPTIONS_FILE = Path("/data/options.json")

ENV_PREFIX = "HSI_"

CommaList = Annotated[list[str], NoDecode]
CommaNetworks = Annotated[list[IPvAnyNetwork], NoDecode]
#: A model setting: a local path, or a Hugging Face Hub id fetched into `<data>/models` (server.hub).
ModelSetting = Annotated[ModelRef | None, BeforeValidator(parse_model_ref)]


class SettingsError(Exception):
    """A setting is missing or invalid; the message is one line meant for the operator."""


def host_timezone() -> str:
    """`TZ` when it names an IANA zone (Home Assistant's Supervisor sets it for every add-on), else UTC.

    POSIX rule strings (`CET-1CEST`) and `localtime` paths name no zone a baseline slot could be kept
    in, so they count as unset; `HSI_TIMEZONE` is the way to say which zone the home is in.
    """
    name = os.environ.get("TZ", "").strip().removeprefix(":")
    try:
        return load_timezone(name).key
    except ValueError:
        return "UTC"


def asyncpg_url(value: str) -> str:
    """A PostgreSQL URL for asyncpg: users paste `postgresql://` (or `postgres://`) URLs; the server talks
    asyncpg. ValueError for anything else."""
    for prefix in ("postgresql+asyncpg://", "postgresql://", "postgres://"):
        if value.startswith(prefix):
            return "postgresql+asyncpg://" + value[len(prefix) :]
    raise ValueError("must be a postgresql:// URL")


class Settings(BaseSettings):
    """Every knob of the server. Field `x_y` is environment variable `HSI_X_Y` and option `x_y`."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore", validate_default=True)

    data_dir: Path = Path("data")
    #: Thumbnails, clips and HTTP-ingested uploads; unset = data_dir. The split variant points the API
    #: and the remote workers at one shared folder mounted at the same path (stored paths are absolute).
    media_dir: Path | None = None
    cameras_dir: Path = Path("/export/foscam")
    #: The home's wall clock: what "night" means to the analysis and which hour a baseline slot is.
    timezone: TimezoneName = Field(default_factory=host_timezone)

    database_url: str | None = None
    redis_url: str | None = None

    host: str = "0.0.0.0"
    port: int = Field(8000, ge=1, le=65535)
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"

    detector: Literal["auto", "rtdetr", "ultralytics", "ssd_mobilenet", "hog"] = "auto"
    detector_model: ModelSetting = None
    detector_device: str = "auto"
    detection_confidence: float = Field(0.5, ge=0.0, le=1.0)
    detection_classes: CommaList = Field(default_factory=lambda: list(DEFAULT_SECURITY_CLASSES))
    detector_batch_size: int = Field(8, ge=1, le=256)
    #: How long a detector call waits for more images once one is there. 0: it starts at once, and the
    #: images that arrive during it make up the next call, so batches grow with the load by themselves;
    #: a wait adds its length to every upload's latency (measured: 25 ms took p95 at 10 uploads/s on a
    #: 2-core machine from ~510 to 720-830 ms) and buys nothing while the detector keeps up.
    detector_batch_wait_ms: int = Field(0, ge=0, le=10_000)
    #: Where `server run` runs the detect role: "child" (a process of its own, see
    #: server/detect_process.py), "inline" (in the server's process) or "auto" (child with more than
    #: one CPU).
    detect_process: Literal["auto", "child", "inline"] = "auto"

    llm: Literal["auto", "llama_cpp", "openai", "rules"] = "auto"
    llm_model: ModelSetting = None
    llm_url: str | None = None
    llm_api_key: str | None = None
    #: The model to ask on the server at `llm_url`, by its id there (Ollama's `nemotron-mini:4b`): a
    #: server with several (Ollama, vLLM) lists them in any order, an embedding model maybe first. Unset:
    #: the first one it lists.
    llm_server_model: str | None = Field(None, max_length=200)
    llm_timeout_seconds: float = Field(30.0, gt=0, le=600)
    llm_gpu_layers: int = Field(-1, ge=-1)
    llm_context: int = Field(4096, ge=512, le=131_072)

    batch_window_seconds: float = Field(90.0, gt=0, le=3600)
    batch_idle_timeout_seconds: float = Field(30.0, gt=0, le=3600)
    batch_max_detections: int = Field(500, ge=1, le=100_000)
    fast_path_confidence: float = Field(0.90, ge=0.0, le=1.0)
    fast_path_object_types: CommaList = Field(default_factory=lambda: ["person"])
    # Stationary objects (server/pipeline/stationary.py): an object that stays put this long is marked
    # stationary and stays out of events until it moves; 0 turns the tracking off.
    stationary_seconds: float = Field(60.0, ge=0, le=86_400)
    #: Classes never marked stationary: a person standing still is what zones' loitering time judges.
    stationary_exempt_types: CommaList = Field(default_factory=lambda: ["person"])
    #: A tracked object unseen this long is forgotten (a car back after that is a new arrival).
    stationary_forget_seconds: float = Field(3600.0, gt=0, le=7 * 86_400)

    dedup_ttl_seconds: int = Field(300, ge=60, le=3600)
    queue_max_len: int = Field(10_000, ge=10)
    stream_max_retries: int = Field(5, ge=1, le=100)
    #: Work queued and nothing finished for this long: the pipeline is stalled (health: unhealthy).
    pipeline_stall_seconds: float = Field(300.0, ge=1, le=86_400)
    #: After the server starts, how long a role with no live worker yet is "starting" rather than
    #: unhealthy: its process is importing and loading its model (health, Home Assistant's problem sensor).
    worker_start_grace_seconds: float = Field(60.0, ge=0, le=3600)

    api_key_enabled: bool = True
    #: Networks alert-rule webhooks may reach besides public addresses (`192.168.1.20/32,10.0.0.0/8`):
    #: loopback, link-local, private and multicast targets are refused unless listed here.
    webhook_allowed_networks: CommaNetworks = Field(default_factory=list)
    #: Silence after which a camera is offline until its own pattern is learned (a day of uploads;
    #: `server.pipeline.upload_pattern`): a day, generous for cameras that upload only on motion.
    camera_offline_seconds: int = Field(86_400, ge=10)
    watcher_polling: bool = False
    file_stable_seconds: float = Field(2.0, ge=0.0, le=60)
    gpu_stats_interval_seconds: float = Field(5.0, gt=0, le=3600)

    # Retention (server/retention.py): what the cleanup task of the API keeps, and for how long.
    retention_enabled: bool = True
    #: How often the cleanup runs (one API process at a time).
    retention_interval_seconds: float = Field(600.0, ge=1, le=86_400)
    #: Events with their detections, thumbnails, clips and HTTP uploads.
    retention_days: int = Field(30, ge=1, le=3650)
    #: Reviewed low-risk events (and theirs) may go sooner.
    retention_reviewed_low_risk_days: int = Field(7, ge=1, le=3650)
    #: Events with an alert (and theirs) stay longer.
    retention_alert_days: int = Field(90, ge=1, le=3650)
    retention_log_days: int = Field(7, ge=1, le=3650)
    retention_audit_days: int = Field(365, ge=1, le=36_500)
    #: GPU samples stay at full resolution this long, then one per bucket (their mean) until deleted.
    retention_gpu_full_hours: int = Field(24, ge=1, le=8760)
    retention_gpu_bucket_minutes: int = Field(5, ge=1, le=1440)
    retention_gpu_days: int = Field(30, ge=1, le=3650)
    #: Rows per cleanup transaction: short transactions, short locks.
    retention_batch_size: int = Field(500, ge=1, le=100_000)
    #: Disk guard: below this share of free space on the media folder's disk, the oldest media go first.
    media_min_free_percent: float = Field(10.0, ge=0, le=90)

    @field_validator(
        "detection_classes", "fast_path_object_types", "stationary_exempt_types", "webhook_allowed_networks", mode="before"
    )
    @classmethod
    def _split_commas(cls, value: Any) -> Any:
        """Accept `person,car` from the environment as well as a JSON list from options.json."""
        if isinstance(value, str):
            stripped = value.strip()
            if stripped.startswith("["):
                return json.loads(stripped)
            return [item.strip() for item in stripped.split(",") if item.strip()]
        return value

    @field_validator("detection_classes", "fast_path_object_types", "stationary_exempt_types")
    @classmethod
    def _class_names(cls, value: list[str], info: ValidationInfo) -> list[str]:
        """Classes as detections name them (`people` is `person`, `traffic_light` is `traffic light`):
        the fast path and the stationary exemption compare them with detections as they are stored.
        No class to detect would drop every box, silently: refused (the other two may be empty)."""
        names = list(dict.fromkeys(normalize_label(name) for name in value if name.strip()))
        if not names and info.field_name == "detection_classes":
            raise ValueError("must name at least one class to detect (for example person,car,dog)")
        return names

    @field_validator("cameras_dir", "data_dir", mode="before")
    @classmethod
    def _blank_is_refused(cls, value: Any) -> Any:
        """An empty path is no folder: left as it is it would be the working directory (the add-on's `/`:
        every top-level folder a camera; a compose file's unset variable: the stores and the API key
        wherever the server happened to start)."""
        if isinstance(value, str) and not value.strip():
            raise ValueError("must name a folder (it is empty)")
        return value

    @field_validator("llm_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        """An LLM server is reached over HTTP: `192.168.1.20:8080` names no scheme."""
        if value is not None and not value.strip().lower().startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https:// (for example http://192.168.1.20:8080)")
        return value

    @field_validator(
        "database_url",
        "redis_url",
        "llm_url",
        "llm_api_key",
        "llm_server_model",
        "detector_model",
        "llm_model",
        "media_dir",
        mode="before",
    )
    @classmethod
    def _blank_is_unset(cls, value: Any) -> Any:
        """An add-on option left empty means "not configured", not an empty URL or path."""
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("timezone", mode="before")
    @classmethod
    def _blank_is_host_timezone(cls, value: Any) -> Any:
        """An empty add-on option means the host's zone, as if the option were not there."""
        return host_timezone() if isinstance(value, str) and not value.strip() else value

    @field_validator("data_dir", "media_dir", "cameras_dir")
    @classmethod
    def _absolute(cls, value: Path | None) -> Path | None:
        """Stored paths (a camera's folder, a detection's file) must not depend on the working directory."""
        return None if value is None else value.expanduser().absolute()

    @field_validator("detector_model", "llm_model")
    @classmethod
    def _absolute_model(cls, value: ModelRef | None) -> ModelRef | None:
        """A model path, like the folders, must not depend on the working directory; Hub ids stay."""
        return value.expanduser().absolute() if isinstance(value, Path) else value

    @field_validator("database_url")
    @classmethod
    def _async_driver(cls, value: str | None) -> str | None:
        return None if value is None else asyncpg_url(value)

    @field_validator("redis_url")
    @classmethod
    def _redis_scheme(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("must be a redis://, rediss:// or unix:// URL")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> Settings:
        # Settings are named by their fields: `describe_validation_error` writes each as its reader sets
        # it (the variable, or the add-on's option).
        if self.batch_idle_timeout_seconds > self.batch_window_seconds:
            raise ValueError("batch_idle_timeout_seconds must not exceed batch_window_seconds")
        if not self.retention_reviewed_low_risk_days <= self.retention_days <= self.retention_alert_days:
            raise ValueError(
                "retention must be retention_reviewed_low_risk_days <= retention_days <= retention_alert_days"
            )
        if self.retention_gpu_full_hours > 24 * self.retention_gpu_days:
            raise ValueError("retention_gpu_full_hours must not exceed retention_gpu_days (in hours)")
        return self

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Keyword arguments first, then the add-on's options.json, then the environment."""
        return (init_settings, OptionsFileSource(settings_cls), env_settings)

    # Paths derived from data_dir and media_dir, so every component agrees on where things live.
    @property
    def media_root(self) -> Path:
        """The folder thumbnails, clips and ingested uploads live under (media_dir, else data_dir)."""
        return self.media_dir or self.data_dir

    @property
    def thumbnails_dir(self) -> Path:
        return self.media_root / "thumbnails"

    @property
    def clips_dir(self) -> Path:
        return self.media_root / "clips"

    @property
    def ingest_dir(self) -> Path:
        """Where HTTP-ingested media is written before it joins the pipeline like an FTP upload."""
        return self.media_root / "ingest"

    @property
    def models_dir(self) -> Path:
        """Where models named by a Hub id are downloaded to (huggingface_hub's cache layout)."""
        return self.data_dir / "models"

    @property
    def postgres_dir(self) -> Path:
        return self.data_dir / "postgres"

    @property
    def redis_dir(self) -> Path:
        return self.data_dir / "redis"


class OptionsFileSource(PydanticBaseSettingsSource):
    """Reads the Home Assistant add-on's options.json (keys are the field names, lower case)."""

    def __init__(self, settings_cls: type[BaseSettings]) -> None:
        super().__init__(settings_cls)
        self._options = _read_options_file()

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return self._options.get(field_name), field_name, False

    def __call__(self) -> dict[str, Any]:
        return {
            name: value
            for name, value in self._options.items()
            if name in self.settings_cls.model_fields and value is not None
        }


def _read_options_file() -> dict[str, Any]:
    configured = os.environ.get(f"{ENV_PREFIX}OPTIONS_FILE")
    path = Path(configured) if configured else ADDON_OPTIONS_FILE
    if not path.is_file():
        if configured:
            raise SettingsError(f"HSI_OPTIONS_FILE: {path} does not exist")
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as err:
        raise SettingsError(f"{path}: not valid JSON ({err})") from err
    if not isinstance(data, dict):
        raise SettingsError(f"{path}: must hold a JSON object of options")
    return data


def load_settings(**overrides: Any) -> Settings:
    """Build the settings, turning pydantic's report into one line per bad variable."""
    try:
        return Settings(**overrides)
    except ValidationError as err:
        raise SettingsError(describe_validation_error(err)) from None


#: `HSI_` variables read on their own, not settings: the add-on's options file, alembic's folder.
_OTHER_VARIABLES = frozenset({f"{ENV_PREFIX}OPTIONS_FILE", f"{ENV_PREFIX}MIGRATIONS_DIR"})


def unknown_variables(environ: Mapping[str, str]) -> list[str]:
    """A line for each `HSI_` variable of `environ` that names no setting, with the one it most resembles:
    a typo (`HSI_RETENTION_DAY=365`) would leave the default in force, silently (footage deleted after
    30 days, not 365)."""
    known = {_setting_name(field, False) for field in Settings.model_fields} | _OTHER_VARIABLES
    lines = []
    for name in sorted(environ):
        if name.startswith(ENV_PREFIX) and name not in known:
            close = difflib.get_close_matches(name, known, n=1)
            lines.append(f"{name} names no setting" + (f" (did you mean {close[0]}?)" if close else "") + ": ignored")
    return lines


def load_addon_settings() -> Settings:
    """Like `load_settings`, but errors name the add-on option the user typed, not the variable."""
    try:
        return Settings()
    except ValidationError as err:
        raise SettingsError(describe_validation_error(err, as_option=True)) from None


def _setting_name(field: str, as_option: bool) -> str:
    """A setting as its reader sets it: the add-on's option, or the variable."""
    return f"option {field}" if as_option else f"{ENV_PREFIX}{field.upper()}"


#: Settings whose value an error line never prints (the line goes to logs that are pasted into issues).
_SECRET_SETTINGS = frozenset({"llm_api_key"})
#: Settings whose value may hold a password (`postgresql://hsi:<password>@db/hsi`): printed without it.
_URL_SETTINGS = frozenset({"database_url", "redis_url", "llm_url"})
_URL_PASSWORD = re.compile(r"(//[^/@:]*:)[^/@]*@")


def _shown_value(field: str, value: Any) -> str:
    """`=<value>` for an error line: nothing for a secret, a URL without its password."""
    if field in _SECRET_SETTINGS or isinstance(value, dict):
        return ""
    if field in _URL_SETTINGS and isinstance(value, str):
        return "=" + repr(_URL_PASSWORD.sub(r"\1***@", value))
    return f"={value!r}"


def describe_validation_error(err: ValidationError, *, as_option: bool = False) -> str:
    """`HSI_PORT='abc': Input should be a valid integer` — the variable, the value, what is allowed."""
    lines = []
    for problem in err.errors():
        location = problem.get("loc", ())
        if not location:
            name = "settings"
        else:
            name = _setting_name(str(location[0]), as_option)
            name = name if as_option else f"setting {name}"
        message = problem["msg"].removeprefix("Value error, ")
        if not location:  # a check across settings names them by their fields
            fields = Settings.model_fields
            message = re.sub(
                r"\b[a-z][a-z0-9_]*\b",
                lambda word: _setting_name(word[0], as_option) if word[0] in fields else word[0],
                message,
            )
        shown = _shown_value(str(location[0]), problem.get("input")) if location else ""
        lines.append(f"invalid {name}{shown}: {message}")
    return "; ".join(lines)
