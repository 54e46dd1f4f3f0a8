"""load_settings / check_settings: one-line ConfigErrors that name the variable, derived values."""

from __future__ import annotations

import string
from pathlib import Path

import pytest

from secure_auth.config import ConfigError, load_settings
from tests.support.certs import cert_pem, key_pem, new_rsa_key, self_signed

SECRET = "s3cr3t-value"
SESSION_KEY = "session-key-" + "q" * 40
BASE = {"entra_client_id": "6f1c2a9e-0000-4c1d-9a8b-123456789abc", "entra_tenant_id": "contoso.onmicrosoft.com"}
PRODUCTION = {
    **BASE,
    "app_env": "production",
    "public_base_url": "https://app.example.com",
    "session_secret_key": SESSION_KEY,
    "trusted_hosts": "app.example.com",
}


pytestmark = pytest.mark.usefixtures("clean_environment")


@pytest.fixture(scope="module")
def pem_parts() -> tuple[bytes, bytes]:
    key = new_rsa_key()
    return key_pem(key), cert_pem(self_signed(key, "config-test"))


@pytest.fixture
def cert_file(tmp_path: Path, pem_parts) -> Path:
    path = tmp_path / "client.pem"
    path.write_bytes(pem_parts[0] + pem_parts[1])
    return path


@pytest.fixture
def cert_only_file(tmp_path: Path, pem_parts) -> Path:
    path = tmp_path / "cert-only.pem"
    path.write_bytes(pem_parts[1])
    return path


def config_error(**overrides) -> str:
    with pytest.raises(ConfigError) as info:
        load_settings(**overrides)
    message = str(info.value)
    assert "\n" not in message and "\r" not in message, message
    return message


# ----- one rule, one line, naming the variable -----

RULES = [
    pytest.param({"entra_tenant_id": "contoso.onmicrosoft.com"}, "ENTRA_CLIENT_ID", id="missing-client-id"),
    pytest.param({**BASE, "entra_client_id": "   "}, "ENTRA_CLIENT_ID", id="blank-client-id"),
    pytest.param({"entra_client_id": "cid"}, "ENTRA_TENANT_ID", id="missing-tenant"),
    pytest.param(
        {**BASE, "entra_oidc_authority": "https://contoso.ciamlogin.com/contoso.onmicrosoft.com"},
        "ENTRA_OIDC_AUTHORITY and ENTRA_TENANT_ID",
        id="tenant-and-oidc-authority",
    ),
    pytest.param({**BASE, "entra_tenant_id": "contoso/evil"}, "ENTRA_TENANT_ID", id="tenant-with-slash"),
    pytest.param({**BASE, "entra_scopes": "User.Read openid"}, "ENTRA_SCOPES", id="reserved-scope-openid"),
    pytest.param({**BASE, "entra_scopes": "offline_access"}, "ENTRA_SCOPES", id="reserved-scope-offline"),
    pytest.param(
        {**BASE, "entra_authority_host": "http://login.microsoftonline.com"},
        "ENTRA_AUTHORITY_HOST",
        id="http-authority",
    ),
    pytest.param({**BASE, "entra_authority_host": "login.microsoftonline.com"}, "ENTRA_AUTHORITY_HOST", id="no-scheme"),
    pytest.param(
        {"entra_client_id": "cid", "entra_oidc_authority": "https://contoso.ciamlogin.com"},
        "ENTRA_OIDC_AUTHORITY",
        id="oidc-authority-without-path",
    ),
    pytest.param(
        {"entra_client_id": "cid", "entra_oidc_authority": "http://contoso.ciamlogin.com/tenant"},
        "ENTRA_OIDC_AUTHORITY",
        id="oidc-authority-http",
    ),
    pytest.param(
        {"entra_client_id": "cid", "entra_oidc_authority": "https://contoso.ciamlogin.com/tenant?x=1"},
        "ENTRA_OIDC_AUTHORITY",
        id="oidc-authority-query",
    ),
    pytest.param({**BASE, "entra_http_timeout": 0}, "ENTRA_HTTP_TIMEOUT", id="timeout-zero"),
    pytest.param({**BASE, "public_base_url": "https://app.example.com/app"}, "PUBLIC_BASE_URL", id="base-url-path"),
    pytest.param({**BASE, "public_base_url": "https://app.example.com/?a=b"}, "PUBLIC_BASE_URL", id="base-url-query"),
    pytest.param({**BASE, "public_base_url": "app.example.com"}, "PUBLIC_BASE_URL", id="base-url-relative"),
    pytest.param({**BASE, "session_idle_timeout": 59}, "SESSION_IDLE_TIMEOUT", id="idle-below-60"),
    pytest.param(
        {**BASE, "session_idle_timeout": 3600, "session_absolute_timeout": 3599},
        "SESSION_ABSOLUTE_TIMEOUT",
        id="absolute-below-idle",
    ),
    pytest.param({**BASE, "trusted_hosts": " , "}, "TRUSTED_HOSTS", id="empty-trusted-hosts"),
    pytest.param({**PRODUCTION, "public_base_url": "http://app.example.com"}, "PUBLIC_BASE_URL", id="prod-http"),
    pytest.param({**PRODUCTION, "trusted_hosts": "other.example.com"}, "TRUSTED_HOSTS", id="base-host-not-trusted"),
    pytest.param({**PRODUCTION, "session_secret_key": None}, "SESSION_SECRET_KEY", id="prod-no-secret-key"),
    pytest.param({**PRODUCTION, "session_secret_key": "  "}, "SESSION_SECRET_KEY", id="prod-blank-secret-key"),
    pytest.param({**PRODUCTION, "debug_info_enabled": True}, "DEBUG_INFO_ROLE", id="prod-debug-without-role"),
    pytest.param({**BASE, "session_idle_timeout": "abc"}, "SESSION_IDLE_TIMEOUT", id="idle-not-an-integer"),
    pytest.param({**BASE, "app_env": "staging"}, "APP_ENV", id="unknown-app-env"),
    # the production profile's refusals (issue: hardening), one rule each
    pytest.param({**PRODUCTION, "session_secret_key": "Zq8#kP2!vL9m"}, "SESSION_SECRET_KEY", id="prod-key-too-short"),
    pytest.param(
        {**PRODUCTION, "session_secret_key": "please-change-me-to-a-long-random-value-0123456789"},
        "SESSION_SECRET_KEY",
        id="prod-key-example-value",
    ),
    pytest.param({**PRODUCTION, "session_secret_key": "a" * 48}, "SESSION_SECRET_KEY", id="prod-key-no-variety"),
    pytest.param({**PRODUCTION, "trusted_hosts": "*"}, "TRUSTED_HOSTS", id="prod-any-host"),
    pytest.param({**PRODUCTION, "forwarded_allow_ips": "*"}, "FORWARDED_ALLOW_IPS", id="prod-trust-any-proxy"),
    pytest.param(
        {**PRODUCTION, "entra_authority_host": "https://127.0.0.1:9443"}, "ENTRA_AUTHORITY_HOST", id="prod-loopback-idp"
    ),
    pytest.param(
        {**PRODUCTION, "entra_authority_host": "https://login.localhost"},
        "ENTRA_AUTHORITY_HOST",
        id="prod-dot-localhost",
    ),
    # rate limits, proxies and CORS
    pytest.param({**BASE, "rate_limit_default": "lots"}, "RATE_LIMIT_DEFAULT", id="rate-limit-garbage"),
    pytest.param({**BASE, "rate_limit_auth": ""}, "RATE_LIMIT_AUTH", id="rate-limit-empty"),
    pytest.param({**BASE, "rate_limit_storage_url": "ftp://x"}, "RATE_LIMIT_STORAGE_URL", id="rate-limit-storage"),
    pytest.param({**BASE, "max_request_body_bytes": 0}, "MAX_REQUEST_BODY_BYTES", id="body-limit-zero"),
    pytest.param({**BASE, "proxy_max_body_bytes": 2 << 30}, "PROXY_MAX_BODY_BYTES", id="proxy-body-limit-huge"),
    pytest.param({**BASE, "forwarded_allow_ips": "proxy.internal"}, "FORWARDED_ALLOW_IPS", id="forwarded-not-an-ip"),
    pytest.param({**BASE, "cors_allowed_origins": "*"}, "CORS_ALLOWED_ORIGINS", id="cors-wildcard"),
    pytest.param({**BASE, "cors_allowed_origins": "https://a.example/path"}, "CORS_ALLOWED_ORIGINS", id="cors-path"),
    pytest.param({**BASE, "log_format": "xml"}, "LOG_FORMAT", id="log-format"),
]


def test_production_refuses_the_local_stand_in_ca(tmp_path):
    import trustme

    stand_in = tmp_path / ".local_entra" / "ca.pem"
    stand_in.parent.mkdir()
    trustme.CA(organization_name="local_entra demo CA").cert_pem.write_to_path(str(stand_in))
    assert "ENTRA_CA_BUNDLE" in config_error(**PRODUCTION, entra_ca_bundle=stand_in)
    elsewhere = tmp_path / "corp-ca.pem"
    trustme.CA().cert_pem.write_to_path(str(elsewhere))  # a trustme test CA, wherever it lies
    assert "ENTRA_CA_BUNDLE" in config_error(**PRODUCTION, entra_ca_bundle=elsewhere)


def test_production_accepts_random_keys_that_happen_to_contain_an_example_word():
    """A random key the README's command makes contains "test" or "your" about once in 4,000:
    it must not be refused as an example value (the words in a real example are not random)."""
    import random

    alphabet = string.ascii_letters + string.digits + "-_"
    rng = random.Random(13)
    for word in ("test", "your", "demo", "xxxx", "secret"):
        for _ in range(50):
            key = "".join(rng.choice(alphabet) for _ in range(60))
            at = rng.randrange(len(key))
            load_settings(**{**PRODUCTION, "session_secret_key": key[:at] + word + key[at:]})
    for example in ("change-me-to-a-long-random-secret-value-please", "this-is-my-test-key-for-production-use-0123"):
        with pytest.raises(ConfigError, match="SESSION_SECRET_KEY"):
            load_settings(**{**PRODUCTION, "session_secret_key": example})


def test_production_accepts_a_strong_configuration():
    s = load_settings(
        **PRODUCTION, forwarded_allow_ips="10.0.0.0/24, 10.1.2.3", cors_allowed_origins="https://Portal.Example.com"
    )
    assert s.is_production and s.forwarded_allow_list == ["10.0.0.0/24", "10.1.2.3"]
    assert s.cors_origins == ["https://portal.example.com"]


@pytest.mark.parametrize(("overrides", "variable"), RULES)
def test_each_rule_is_one_line_naming_the_variable(overrides, variable):
    assert variable in config_error(**overrides)


def test_secret_and_certificate_both(cert_file):
    message = config_error(**BASE, entra_client_secret=SECRET, entra_client_certificate=cert_file)
    assert "ENTRA_CLIENT_SECRET" in message and "ENTRA_CLIENT_CERTIFICATE" in message


def test_certificate_path_missing(tmp_path):
    message = config_error(**BASE, entra_client_certificate=tmp_path / "nope.pem")
    assert "ENTRA_CLIENT_CERTIFICATE" in message and "nope.pem" in message


def test_certificate_without_key(cert_only_file):
    assert "ENTRA_CLIENT_CERTIFICATE" in config_error(**BASE, entra_client_certificate=cert_only_file)


def test_ca_bundle_missing(tmp_path):
    assert "ENTRA_CA_BUNDLE" in config_error(**BASE, entra_ca_bundle=tmp_path / "missing-ca.pem")


def test_ca_bundle_without_certificates(tmp_path):
    bundle = tmp_path / "ca.pem"
    bundle.write_text("not a certificate\n")
    assert "ENTRA_CA_BUNDLE" in config_error(**BASE, entra_ca_bundle=bundle)


def test_invalid_integer_in_environment_is_one_line(monkeypatch):
    monkeypatch.setenv("ENTRA_CLIENT_ID", "cid")
    monkeypatch.setenv("ENTRA_TENANT_ID", "contoso.onmicrosoft.com")
    monkeypatch.setenv("SESSION_IDLE_TIMEOUT", "abc")
    message = config_error()
    assert message.startswith("SESSION_IDLE_TIMEOUT is invalid")


# ----- secrets never echoed -----


def _messages_with_secrets(cert_file: Path) -> list[str]:
    with_secret = {"entra_client_secret": SECRET, "session_secret_key": SESSION_KEY}
    return [
        config_error(entra_tenant_id="t", **with_secret),
        config_error(entra_client_id="cid", **with_secret),
        config_error(**BASE, **with_secret, entra_client_certificate=cert_file),
        config_error(**BASE, **with_secret, entra_scopes="openid"),
        config_error(**BASE, **with_secret, session_idle_timeout="abc"),
        config_error(**BASE, **with_secret, entra_http_timeout="later"),
        config_error(**BASE, **with_secret, public_base_url="https://x.example/path"),
        config_error(**{**PRODUCTION, "entra_client_secret": SECRET, "debug_info_enabled": True}),
        config_error(**BASE, entra_client_certificate=cert_file, entra_client_secret=SECRET),
        config_error(**BASE, entra_client_certificate=cert_file, session_idle_timeout=1),
        config_error(**BASE, entra_client_certificate=cert_file, entra_ca_bundle=cert_file.parent / "none.pem"),
    ]


def test_secret_values_never_appear_in_config_errors(cert_file, pem_parts):
    key_body_line = pem_parts[0].decode().splitlines()[1]
    messages = _messages_with_secrets(cert_file)
    assert len(messages) == 11
    for message in messages:
        assert SECRET not in message
        assert SESSION_KEY not in message
        assert key_body_line not in message
        assert "PRIVATE KEY-----" not in message


def test_secret_from_environment_never_appears(monkeypatch):
    monkeypatch.setenv("ENTRA_CLIENT_SECRET", SECRET)
    monkeypatch.setenv("ENTRA_CLIENT_ID", "cid")
    monkeypatch.setenv("ENTRA_TENANT_ID", "t")
    monkeypatch.setenv("ENTRA_HTTP_TIMEOUT", "soon")
    message = config_error()
    assert "ENTRA_HTTP_TIMEOUT" in message
    assert SECRET not in message


def test_secret_is_not_in_settings_repr():
    settings = load_settings(**BASE, entra_client_secret=SECRET, session_secret_key=SESSION_KEY)
    assert SECRET not in repr(settings) and SECRET not in str(settings)
    assert SESSION_KEY not in repr(settings)
    assert settings.entra_client_secret.get_secret_value() == SECRET
    assert settings.secret_key == SESSION_KEY


# ----- derived values -----


def test_tenant_authority_and_urls():
    s = load_settings(**BASE, public_base_url="HTTPS://App.Example.com:443/", trusted_hosts="app.example.com")
    assert s.base_url == "https://app.example.com"  # as browsers write Origin and Host
    assert s.redirect_uri == "https://app.example.com/auth/callback"
    assert s.post_logout_redirect_uri == "https://app.example.com/auth/signed-out"
    assert s.authority == "https://login.microsoftonline.com/contoso.onmicrosoft.com"
    assert s.discovery_url == (
        "https://login.microsoftonline.com/contoso.onmicrosoft.com/v2.0/.well-known/openid-configuration"
    )
    assert s.uses_oidc_authority is False
    assert s.instance_discovery is True
    assert s.uses_https is True


def test_oidc_authority_and_urls():
    s = load_settings(
        entra_client_id="cid", entra_oidc_authority="https://contoso.ciamlogin.com/contoso.onmicrosoft.com/"
    )
    assert s.uses_oidc_authority is True
    assert s.authority == "https://contoso.ciamlogin.com/contoso.onmicrosoft.com"
    assert s.discovery_url == "https://contoso.ciamlogin.com/contoso.onmicrosoft.com/.well-known/openid-configuration"
    assert s.instance_discovery is False
    assert s.redirect_uri == "http://localhost:8000/auth/callback"


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("https://login.microsoftonline.com", True),
        ("https://login.microsoftonline.us/", True),
        ("https://127.0.0.1:8443", False),
        ("https://localhost:9443", False),
        ("https://login.microsoftonline.com.evil.example", False),
    ],
)
def test_instance_discovery_only_for_microsoft_hosts(host, expected):
    s = load_settings(**BASE, entra_authority_host=host)
    assert s.instance_discovery is expected
    assert s.authority == host.rstrip("/") + "/contoso.onmicrosoft.com"


def test_public_client_kind():
    s = load_settings(**BASE)
    assert s.is_confidential is False
    assert s.client_kind == "public client (no secret)"


def test_secret_client_kind():
    s = load_settings(**BASE, entra_client_secret=SECRET)
    assert s.is_confidential is True
    assert s.client_kind == "confidential client (secret)"


def test_certificate_client_kind(cert_file):
    s = load_settings(**BASE, entra_client_certificate=str(cert_file))
    assert s.is_confidential is True
    assert s.client_kind == "confidential client (certificate)"
    assert s.entra_client_certificate == cert_file


@pytest.mark.parametrize("value", ["", "   "])
def test_empty_client_secret_means_public_client(value):
    s = load_settings(**BASE, entra_client_secret=value)
    assert s.entra_client_secret is None
    assert s.is_confidential is False


def test_empty_client_secret_in_environment_means_public_client(monkeypatch):
    monkeypatch.setenv("ENTRA_CLIENT_ID", "cid")
    monkeypatch.setenv("ENTRA_TENANT_ID", "common")
    monkeypatch.setenv("ENTRA_CLIENT_SECRET", "")
    monkeypatch.setenv("ENTRA_CLIENT_CERTIFICATE", "")
    s = load_settings()
    assert s.entra_client_certificate is None
    assert s.is_confidential is False
    assert s.client_kind == "public client (no secret)"


def test_cookie_names_in_production():
    s = load_settings(**PRODUCTION)
    assert s.is_production is True
    assert s.session_cookie_name == "__Host-session"
    assert s.flow_cookie_name == "__Host-auth_flow"
    assert s.show_debug_info is False


def test_cookie_names_in_development():
    s = load_settings(**BASE)
    assert s.is_production is False
    assert s.session_cookie_name == "session"
    assert s.flow_cookie_name == "auth_flow"
    assert s.show_debug_info is True


def test_production_debug_info_with_role_is_accepted():
    s = load_settings(**PRODUCTION, debug_info_enabled=True, debug_info_role="Support")
    assert s.show_debug_info is True


def test_allowed_tenants_parsing():
    s = load_settings(**BASE, entra_allowed_tenants=" 72F988BF-86f1-41af-91ab-2d7cd011db47 , ,Contoso.com,")
    assert s.allowed_tenants == frozenset({"72f988bf-86f1-41af-91ab-2d7cd011db47", "contoso.com"})
    assert load_settings(**BASE).allowed_tenants == frozenset()


def test_scopes_and_trusted_hosts_parsing():
    s = load_settings(**BASE, entra_scopes=" User.Read  Mail.Read ", trusted_hosts="a.example, b.example ,localhost")
    assert s.scopes == ["User.Read", "Mail.Read"]
    assert s.trusted_host_list == ["a.example", "b.example", "localhost"]


def test_generated_secret_key_is_stable_within_a_process():
    first, second = load_settings(**BASE), load_settings(**BASE)
    assert first.session_secret_key is None
    assert len(first.secret_key) >= 48
    assert first.secret_key == second.secret_key


# ----- where values come from -----


def test_environment_variables_are_read(monkeypatch):
    monkeypatch.setenv("ENTRA_CLIENT_ID", "env-client")
    monkeypatch.setenv("ENTRA_TENANT_ID", "organizations")
    monkeypatch.setenv("PUBLIC_BASE_URL", "https://env.example.com")
    monkeypatch.setenv("TRUSTED_HOSTS", "env.example.com")
    monkeypatch.setenv("SESSION_IDLE_TIMEOUT", "120")
    monkeypatch.setenv("SESSION_ABSOLUTE_TIMEOUT", "600")
    monkeypatch.setenv("ENTRA_ALLOWED_TENANTS", "A,B")
    monkeypatch.setenv("ENTRA_CLIENT_SECRET", SECRET)
    s = load_settings()
    assert s.entra_client_id == "env-client"
    assert s.authority == "https://login.microsoftonline.com/organizations"
    assert s.redirect_uri == "https://env.example.com/auth/callback"
    assert (s.session_idle_timeout, s.session_absolute_timeout) == (120, 600)
    assert s.allowed_tenants == frozenset({"a", "b"})
    assert s.client_kind == "confidential client (secret)"


def test_overrides_win_over_environment(monkeypatch):
    monkeypatch.setenv("ENTRA_CLIENT_ID", "env-client")
    monkeypatch.setenv("ENTRA_TENANT_ID", "organizations")
    assert load_settings(entra_client_id="override").entra_client_id == "override"


def test_dotenv_in_working_directory_is_read(clean_environment: Path, monkeypatch):
    (clean_environment / ".env").write_text(
        "ENTRA_CLIENT_ID=dotenv-client\nENTRA_TENANT_ID=common\nENTRA_CLIENT_SECRET=\n"
    )
    s = load_settings()
    assert s.entra_client_id == "dotenv-client"
    assert s.is_confidential is False
    monkeypatch.setenv("ENTRA_CLIENT_ID", "env-client")
    assert load_settings().entra_client_id == "env-client"  # the environment beats .env


def test_no_dotenv_means_defaults(clean_environment: Path):
    assert not (clean_environment / ".env").exists()
    assert "ENTRA_CLIENT_ID" in config_error()


def test_base_url_keeps_a_non_default_port():
    s = load_settings(**BASE, public_base_url="http://LOCALHOST:8000")
    assert s.base_url == "http://localhost:8000"
    assert s.public_host == "localhost"


def test_several_workers_on_the_memory_store_warn(caplog):
    with caplog.at_level("WARNING", logger="secure_auth.config"):
        load_settings(**BASE, web_concurrency=4)
    assert any("state mismatch" in r.getMessage() and "SESSION_STORE_URL" in r.getMessage() for r in caplog.records)
    caplog.clear()
    with caplog.at_level("WARNING", logger="secure_auth.config"):
        load_settings(**BASE, web_concurrency=4, session_store_url="redis://127.0.0.1:6379/0")
    assert not any("state mismatch" in r.getMessage() for r in caplog.records)


def test_production_on_redis_requires_a_token_cache_key():
    on_redis = {**PRODUCTION, "session_store_url": "redis://redis.internal:6379/0"}
    with pytest.raises(ConfigError, match=r"^TOKEN_CACHE_KEY is required in production"):
        load_settings(**on_redis)
    with pytest.raises(ConfigError, match=r"^TOKEN_CACHE_KEY holds a key shorter than 32 bytes"):
        load_settings(**on_redis, token_cache_key="k" * 40 + ",short")
    with pytest.raises(ConfigError, match=r"^TOKEN_CACHE_KEY holds no key"):
        load_settings(**on_redis, token_cache_key=" , ")
    settings = load_settings(**on_redis, token_cache_key="n" * 40 + ", " + "o" * 40)
    assert settings.token_cache_keys == ["n" * 40, "o" * 40]  # the first seals, both open


def test_shutdown_grace_is_twenty_seconds_unless_set(monkeypatch):
    assert load_settings(**BASE).shutdown_grace_seconds == 20
    monkeypatch.setenv("SHUTDOWN_GRACE_SECONDS", "2.5")
    assert load_settings(**BASE).shutdown_grace_seconds == 2.5


@pytest.mark.parametrize("value", ["0", "-3", "inf", "nan", "soon", ""])
def test_shutdown_grace_must_be_a_positive_number(monkeypatch, value):
    monkeypatch.setenv("SHUTDOWN_GRACE_SECONDS", value)
    assert config_error(**BASE).startswith("SHUTDOWN_GRACE_SECONDS")


# ----- ADMIN_AUTH_CONTEXT -----


@pytest.mark.parametrize("value", ["c0", "c100", "C1", "admin", "c1,c2"])
def test_admin_auth_context_must_be_an_authentication_context_id(value):
    message = config_error(**BASE, admin_auth_context=value)
    assert message.startswith("ADMIN_AUTH_CONTEXT is invalid") and "c1 to c99" in message


def test_admin_auth_context_empty_means_none_and_spaces_are_trimmed(monkeypatch):
    assert load_settings(**BASE).admin_auth_context == ""
    monkeypatch.setenv("ADMIN_AUTH_CONTEXT", " c7 ")
    assert load_settings(**BASE).admin_auth_context == "c7"
