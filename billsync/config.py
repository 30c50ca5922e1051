"""Settings: read once, at the entry point, from ``BILLSYNC_*`` variables or a TOML file.

Every setting is documented in docs/configuration.md. Secrets are ``SecretStr`` so that they never
print in a repr, a log line or an error message; ``Settings.secrets()`` lists their values for the
log redaction filter.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import AliasChoices, Field, SecretStr, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from billsync.errors import ConfigError

DEFAULT_AMQP_URL = "amqp://guest:guest@127.0.0.1:5672//"
MEMORY_BROKER_URL = "memory://"
DEFAULT_DATABASE_URL = "sqlite:///billsync.db"
CONFIG_FILE_VARIABLE = "BILLSYNC_CONFIG_FILE"
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


class Settings(BaseSettings):
    """Everything billsync can be told; defaults suit the embedded demo and a local RabbitMQ."""

    model_config = SettingsConfigDict(
        env_prefix="BILLSYNC_", extra="ignore", frozen=True, env_ignore_empty=True
    )

    # Where things live
    broker_url: str | None = None
    database_url: str = DEFAULT_DATABASE_URL
    management_url: str | None = None
    queue_prefix: str = "billsync"
    broker_ca_bundle: str | None = None
    broker_cert_file: str | None = None
    broker_key_file: str | None = None
    dead_letter_max_length: int = Field(default=100_000, ge=1)
    broker_heartbeat_s: int = Field(default=20, ge=0, le=600)
    store_connect_timeout_s: float = Field(default=10.0, gt=0)
    store_statement_timeout_s: float = Field(default=60.0, ge=0)

    # Salesforce
    sf_instance_url: str | None = None
    sf_client_id: str | None = None
    sf_client_secret: SecretStr | None = None
    sf_username: str | None = None
    sf_password: SecretStr | None = None
    sf_security_token: SecretStr | None = None
    sf_session_id: SecretStr | None = None
    sf_jwt_key_file: str | None = None
    sf_login_url: str = "https://login.salesforce.com"
    sf_ca_bundle: str | None = None
    sf_api_version: str = "59.0"
    sf_call_client: str = "billsync"
    sf_channels: tuple[str, ...] = (
        "/data/AccountChangeEvent",
        "/data/ContactChangeEvent",
        "/data/AccountContactRelationChangeEvent",
        "/data/OpportunityChangeEvent",
        "/event/LogiSense_Sync_Request__e",
    )
    sf_retention_hours: float = 72.0
    sf_pricebook_name: str = "LogiSense"
    sf_metadata_dir: str | None = None
    sf_proxy: str | None = None
    # Non-urgent reads slow down past this share of the daily API limit
    sf_api_slow_share: float = Field(default=0.8, gt=0, le=1)
    sf_api_slow_max_s: float = Field(default=5.0, ge=0)
    backfill_bulk_threshold: int = Field(default=10_000, ge=0)
    backfill_set_size: int = Field(default=50_000, ge=1)
    ingest_lease_s: float = Field(default=5.0, gt=0)

    # LogiSense
    ls_base_url: str | None = None
    ls_username: str | None = None
    ls_password: SecretStr | None = None
    ls_client_secret: SecretStr | None = None
    ls_client_id: str | None = None
    ls_api_version: int = 7
    ls_ca_bundle: str | None = None
    ls_proxy: str | None = None

    # Outbound proxy of corporate networks (the usual variables; BILLSYNC_*_PROXY win)
    https_proxy: str | None = Field(default=None, validation_alias=AliasChoices("https_proxy"))
    no_proxy: str | None = Field(default=None, validation_alias=AliasChoices("no_proxy"))
    ls_mapping_file: str | None = None

    # Work
    worker_concurrency: int = Field(default=8, ge=1, le=256)
    prefetch: int = Field(default=200, ge=1, le=5000)
    batch_size: int = Field(default=16, ge=1, le=500)
    http_timeout_s: float = Field(default=15.0, gt=0)
    retry_budget_s: float = Field(default=21600.0, gt=0)
    backoff_base_s: float = Field(default=1.0, gt=0)
    backoff_cap_s: float = Field(default=300.0, gt=0)
    delivery_limit: int = Field(default=5, ge=1)
    lease_s: float = Field(default=30.0, gt=0)
    sweep_interval_s: float = Field(default=0.5, gt=0)
    coalesce_s: float = Field(default=1.0, ge=0)
    circuit_threshold: int = Field(default=5, ge=1)
    circuit_probe_s: float = Field(default=2.0, gt=0)
    circuit_probe_cap_s: float = Field(default=15.0, gt=0)
    login_probe_s: float = Field(default=60.0, gt=0)
    max_message_bytes: int = Field(default=1_048_576, ge=1024)
    catalog_interval_s: float = Field(default=0.0, ge=0)
    reference_ttl_s: float = Field(default=300.0, ge=0)
    field_map_file: str | None = None

    # Operations
    metrics_port: int = Field(default=0, ge=0, le=65535)
    metrics_host: str = "127.0.0.1"
    http_port: int = Field(default=8088, ge=0, le=65535)
    http_host: str = "127.0.0.1"
    push_token: SecretStr | None = None
    log_format: Literal["console", "text", "json"] = "console"
    log_level: str = "INFO"
    #: Serve the store-derived gauges (entity states, due entities, queue lag, stored dead
    #: letters) from this process. Exactly one process of a deployment should (they are the same
    #: figures from every process); `billsync worker --store-metrics` sets it.
    store_metrics: bool = False

    # Testing aid for the reliability suite, never for production: a worker that merges a
    # message for this Salesforce record id exits at once (status 70), as a crashing worker would.
    fault_exit_on_record: str | None = None

    @field_validator("log_level")
    @classmethod
    def _known_level(cls, value: str) -> str:
        level = value.strip().upper()
        if level not in LOG_LEVELS:
            raise ValueError(f"{value!r} is not a log level; use one of {', '.join(LOG_LEVELS)}")
        return level

    @model_validator(mode="before")
    @classmethod
    def _one_mapping_file(cls, data: Any) -> Any:
        """Without a field map file, the LogiSense mapping file's ``[salesforce]`` table is it."""
        if (
            isinstance(data, dict)
            and not data.get("field_map_file")
            and data.get("ls_mapping_file")
        ):
            data = {**data, "field_map_file": data["ls_mapping_file"]}
        return data

    @field_validator("sf_instance_url", "ls_base_url")
    @classmethod
    def _strip_slash(cls, value: str | None) -> str | None:
        return value.rstrip("/") if value else value

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Explicit values, then the environment, then the TOML file in BILLSYNC_CONFIG_FILE."""
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        path = os.environ.get(CONFIG_FILE_VARIABLE)
        if path:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=Path(path)))
        return tuple(sources)

    def broker_url_or(self, default: str) -> str:
        """The configured broker, else ``default`` (each command has its own default)."""
        return self.broker_url or default

    def secrets(self) -> list[str]:
        """Every secret value configured, for redaction; never log this list."""
        values = [
            self.sf_client_secret,
            self.sf_password,
            self.sf_security_token,
            self.sf_session_id,
            self.ls_password,
            self.ls_client_secret,
            self.push_token,
        ]
        found = [v.get_secret_value() for v in values if v is not None]
        for url in (self.broker_url, self.database_url, self.management_url):
            password = _url_password(url)
            if password:
                found.append(password)
        return [s for s in found if len(s) >= 4]

    def require(self, *names: str) -> None:
        """Raise a ConfigError naming each missing setting as its environment variable."""
        missing = [n for n in names if getattr(self, n) in (None, "")]
        if missing:
            env = ", ".join(f"BILLSYNC_{n.upper()}" for n in missing)
            raise ConfigError(f"missing configuration: set {env} (see docs/configuration.md)")


def _url_password(url: str | None) -> str | None:
    if not url or "://" not in url or "@" not in url:
        return None
    credentials = url.split("://", 1)[1].split("@", 1)[0]
    if ":" not in credentials:
        return None
    password = credentials.split(":", 1)[1]
    return password if password not in ("", "guest") else None


def check_config_file(path: str) -> None:
    """Refuse a settings file that is missing, is not TOML, or holds a key billsync does not know
    (a misspelt key silently ignored would leave the default in force, e.g. a new empty store)."""
    file = Path(path)
    try:
        data = tomllib.loads(file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"configuration file {path} does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"configuration file {path} cannot be read: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"configuration file {path} is not valid TOML: {exc}") from None
    unknown = sorted(set(data) - set(Settings.model_fields))
    if unknown:
        raise ConfigError(
            f"configuration file {path}: unknown setting(s) {', '.join(unknown)} "
            "(see docs/configuration.md for the names)"
        )


def load_settings(config_file: str | None = None, **overrides: Any) -> Settings:
    """Read the settings once; a validation problem becomes a ConfigError that names the setting.

    ``config_file`` (``billsync --config``) takes the place of ``BILLSYNC_CONFIG_FILE``.
    """
    from pydantic import ValidationError

    previous = os.environ.get(CONFIG_FILE_VARIABLE)
    path = config_file or previous
    if path:
        check_config_file(path)
    try:
        if config_file:
            os.environ[CONFIG_FILE_VARIABLE] = config_file
        return Settings(**overrides)
    except ValidationError as exc:
        problems = "; ".join(
            f"BILLSYNC_{'_'.join(str(p) for p in err['loc']).upper()}: {err['msg']}"
            for err in exc.errors()
        )
        raise ConfigError(f"invalid configuration: {problems}") from None
    finally:
        if config_file:
            if previous is None:
                os.environ.pop(CONFIG_FILE_VARIABLE, None)
            else:
                os.environ[CONFIG_FILE_VARIABLE] = previous
