from __future__ import annotations

from pathlib import Path

import pytest

from omnivox.settings import ConfigError, OpenAICompatSettings, load_settings

GOOD = """
server: {port: 8123}
llm:
  providers:
    - type: openai_compat
      base_url: ${LLM_URL:-http://127.0.0.1:11434/v1}
      model: llama3
      api_key: ${LLM_KEY}
    - type: extractive
workspaces:
  - id: acme
    name: Acme
    persona: {name: Juniper, avoided_terms: [unfortunately]}
"""


def write(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "omnivox.yaml"
    path.write_text(body)
    return path


def test_loads_interpolates_and_keeps_secrets_secret(tmp_path: Path) -> None:
    settings = load_settings(write(tmp_path, GOOD), env={"LLM_KEY": "sk-secret-123"})
    provider = settings.llm.providers[0]
    assert isinstance(provider, OpenAICompatSettings)
    assert provider.base_url == "http://127.0.0.1:11434/v1"
    assert provider.api_key is not None
    assert provider.api_key.get_secret_value() == "sk-secret-123"
    assert "sk-secret-123" not in repr(settings)
    assert settings.server.port == 8123
    assert settings.workspace("acme") is not None
    assert settings.workspace("nope") is None


def test_missing_env_var_names_file_key_and_variable(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD)
    with pytest.raises(ConfigError) as info:
        load_settings(path, env={})
    assert info.value.file == str(path)
    assert info.value.key == "llm.providers[0].api_key"
    assert "LLM_KEY" in info.value.expected


def test_environment_overrides(tmp_path: Path) -> None:
    env = {
        "LLM_KEY": "k",
        "OMNIVOX_DATABASE_URL": "postgresql://u@db/x",
        "OMNIVOX_SERVER__PORT": "9001",
        "OMNIVOX_DATA_DIR": "/tmp/omni",
    }
    settings = load_settings(write(tmp_path, GOOD), env=env)
    assert settings.database.url == "postgresql://u@db/x"
    assert settings.database_url == "postgresql://u@db/x"
    assert settings.server.port == 9001
    assert settings.data_dir == "/tmp/omni"


def test_the_smtp_listen_address_has_a_short_environment_alias(tmp_path: Path) -> None:
    env = {"LLM_KEY": "k", "OMNIVOX_SMTP_LISTEN": "0.0.0.0:25"}
    assert load_settings(write(tmp_path, GOOD), env=env).server.smtp_listen == "0.0.0.0:25"


def test_trusted_proxies_can_be_set_from_the_environment(tmp_path: Path) -> None:
    env = {"LLM_KEY": "k", "OMNIVOX_SERVER__FORWARDED_ALLOW_IPS": "[10.0.0.0/8, '::1']"}
    settings = load_settings(write(tmp_path, GOOD), env=env)
    assert settings.server.forwarded_allow_ips == ["10.0.0.0/8", "::1"]
    default = load_settings(write(tmp_path, GOOD), env={"LLM_KEY": "k"}).server
    assert default.forwarded_allow_ips == ["127.0.0.1", "::1"]


def test_default_database_is_sqlite_under_data_dir(tmp_path: Path) -> None:
    settings = load_settings(
        write(tmp_path, GOOD), env={"LLM_KEY": "k"}, overrides={"data_dir": str(tmp_path / "d")}
    )
    assert settings.database_url == f"sqlite+aiosqlite:///{tmp_path / 'd' / 'omnivox.db'}"


@pytest.mark.parametrize(
    ("body", "key", "expected"),
    [
        ("server: {port: lots}\nworkspaces: [{id: a, name: A}]", "server.port", "integer"),
        ("server: {prot: 1}\nworkspaces: [{id: a, name: A}]", "server.prot", "unknown key"),
        ("workspaces: [{id: a}]", "workspaces[0].name", "Field required"),
        ("workspaces: [{id: 'Bad Id!', name: A}]", "workspaces[0].id", "pattern"),
        ("workspaces: []", "workspaces", "at least 1"),
        (
            "llm: {providers: [{type: gpt}]}\nworkspaces: [{id: a, name: A}]",
            "llm.providers[0].type",
            "a provider type: one of extractive, llamacpp, openai_compat, scripted",
        ),
        (
            "llm: {providers: [{type: openai_compat, model: m}]}\nworkspaces: [{id: a, name: A}]",
            "llm.providers[0].base_url",
            "Field required",
        ),
        ("workspaces: [{id: a, name: A}, {id: a, name: B}]", "workspaces", "repeated: a"),
        (
            "server: {smtp_listen: '2525'}\nworkspaces: [{id: a, name: A}]",
            "server.smtp_listen",
            "pattern",
        ),
        (
            "server: {forwarded_allow_ips: [10.0.0.1/8]}\nworkspaces: [{id: a, name: A}]",
            "server.forwarded_allow_ips",
            "'10.0.0.1/8' is not an IP address or network",
        ),
        (
            "server: {forwarded_allow_ips: ['*', 10.0.0.1]}\nworkspaces: [{id: a, name: A}]",
            "server.forwarded_allow_ips",
            "'*' is not an IP address or network",
        ),
        (
            "workspaces: [{id: a, name: A, channels: {email: {addresses: [support@a.example],"
            " relay: smtp.example.com}}}]",
            "workspaces[0].channels.email.relay",
            "not host:port",
        ),
        (
            "workspaces: [{id: a, name: A,"
            " channels: {email: {addresses: ['Acme <s@a.example>']}}}]",
            "workspaces[0].channels.email.addresses",
            "not a plain address",
        ),
        (
            "workspaces: [{id: a, name: A, handoff: {api_keys: [k]}}]",
            "workspaces[0].handoff.api_keys",
            "omnivox keys create --role integration",
        ),
        (
            "workspaces: [{id: a, name: A, seed: {api_keys: [{name: t, role: admin, key: k}]}}]",
            "workspaces[0].seed.api_keys[0].key",
            "expected ovx_<12 hex digits>_",
        ),
        (
            "workspaces: [{id: a, name: A, seed: {api_keys: [{name: t, role: root,"
            " key: ovx_00000000acde_sixteen-chars-ok}]}}]",
            "workspaces[0].seed.api_keys[0].role",
            "'admin', 'agent', 'analyst', 'marketer' or 'integration'",
        ),
        (
            "knowledge: {embedder: {type: openai_compat, model: e5}}",
            "knowledge.embedder.base_url",
            "Field required",
        ),
        (
            "knowledge: {embedder: {type: cohere}}",
            "knowledge.embedder",
            "'bundled', 'openai_compat'",
        ),
    ],
)
def test_bad_config_names_key_and_expectation(
    tmp_path: Path, body: str, key: str, expected: str
) -> None:
    path = write(tmp_path, body)
    with pytest.raises(ConfigError) as info:
        load_settings(path, env={})
    assert info.value.file == str(path)
    assert info.value.key == key
    assert expected in info.value.expected
    assert str(path) in str(info.value)


def test_not_yaml_and_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_settings(write(tmp_path, "a: [1,"), env={})
    with pytest.raises(ConfigError, match="file not found"):
        load_settings(tmp_path / "absent.yaml", env={})
    with pytest.raises(ConfigError, match="mapping at the top level"):
        load_settings(write(tmp_path, "- 1\n- 2"), env={})


def test_demo_workspace_config_is_valid() -> None:
    root = Path(__file__).resolve().parent.parent
    settings = load_settings(root / "examples/acme/omnivox.yaml", env={})
    acme = settings.workspace("acme")
    assert acme is not None and acme.persona.name == "Juniper"
    assert [p.type for p in settings.llm.providers] == ["llamacpp", "extractive"]
    assert settings.resolve_path(acme.seed.customers or "").is_file()
    email = acme.channels.email
    assert email is not None and email.addresses == ["support@acme.example"]
    assert email.relay == ""  # ACME_SMTP_RELAY unset: replies stored, not sent


def test_a_folder_or_non_utf8_file_is_a_config_error(tmp_path: Path) -> None:
    folder = tmp_path / "conf.yaml"
    folder.mkdir()
    with pytest.raises(ConfigError, match="cannot be read"):
        load_settings(folder, env={})
    latin = tmp_path / "latin.yaml"
    latin.write_bytes("workspaces: [{id: acme, name: Café}]".encode("latin-1"))
    with pytest.raises(ConfigError, match="not UTF-8"):
        load_settings(latin, env={})


def test_errors_never_quote_secrets_or_whole_structures(tmp_path: Path) -> None:
    bad_secret = GOOD.replace("api_key: ${LLM_KEY}", "api_key: [sk-live-SECRET]")
    with pytest.raises(ConfigError) as error:
        load_settings(write(tmp_path, bad_secret), env={})
    assert "api_key" in str(error.value) and "SECRET" not in str(error.value)
    twice = GOOD + "  - {id: acme, name: Again, channels: {slack: {bot_token: xoxb-SECRET}}}\n"
    with pytest.raises(ConfigError) as duplicate:
        load_settings(write(tmp_path, twice), env={"LLM_KEY": "k"})
    assert "SECRET" not in str(duplicate.value)


def test_environment_overrides_keep_text_as_written(tmp_path: Path) -> None:
    env = {
        "LLM_KEY": "k",
        "OMNIVOX_SERVER__SECRET_KEY": "@dm1n #not-a-comment",
        "OMNIVOX_DATA_DIR": "2024",
        "OMNIVOX_SERVER__PORT": "8124",
    }
    settings = load_settings(write(tmp_path, GOOD), env=env)
    assert settings.server.secret_key.get_secret_value() == "@dm1n #not-a-comment"
    assert settings.data_dir == "2024" and settings.server.port == 8124


def test_an_smtp_port_out_of_range_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="1 to 65535"):
        load_settings(write(tmp_path, GOOD), env={"LLM_KEY": "k", "OMNIVOX_SMTP_LISTEN": "h:99999"})


def test_config_check_hides_a_database_password_in_the_query_string() -> None:
    from omnivox.cli import _redact

    shown = _redact("postgresql+asyncpg://u:pw@db/omni?password=s3cret&sslmode=require")
    assert "s3cret" not in shown and "pw@" not in shown and "sslmode=require" in shown
    assert _redact("not a url") == "(not a database URL)"


def test_an_empty_variable_takes_the_default_as_in_the_shell(tmp_path: Path) -> None:
    body = GOOD.replace("server: {port: 8123}", "server:\n  port: ${PORTX:-9001}")
    assert (
        load_settings(write(tmp_path, body), env={"PORTX": "", "LLM_KEY": "k"}).server.port == 9001
    )
    assert (
        load_settings(write(tmp_path, body), env={"PORTX": "9002", "LLM_KEY": "k"}).server.port
        == 9002
    )


def test_a_key_written_twice_is_refused_with_both_lines(tmp_path: Path) -> None:
    body = GOOD + "server: {port: 9000}\n"  # PyYAML alone keeps the last `server` silently
    with pytest.raises(ConfigError) as info:
        load_settings(write(tmp_path, body), env={"LLM_KEY": "k"})
    assert info.value.key == "server"
    assert "lines 2 and 14" in info.value.expected


def test_a_merge_key_may_be_overridden_beside_it(tmp_path: Path) -> None:
    body = GOOD.replace("server: {port: 8123}", "server: {<<: {port: 1}, port: 8123}")
    settings = load_settings(write(tmp_path, body), env={"LLM_KEY": "k"})
    assert settings.server.port == 8123


def test_an_override_error_blames_the_variable_or_option_not_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD)
    with pytest.raises(ConfigError) as info:
        load_settings(path, env={"LLM_KEY": "k", "OMNIVOX_SERVER__PORT": "99999"})
    assert info.value.file == "environment variable OMNIVOX_SERVER__PORT"
    assert info.value.key == "server.port"
    with pytest.raises(ConfigError) as info:
        load_settings(path, env={"LLM_KEY": "k"}, overrides={"server.port": 0})
    assert info.value.file == "command-line option for server.port"
    bad_file = write(tmp_path, GOOD.replace("8123", "99999"))
    with pytest.raises(ConfigError) as info:
        load_settings(bad_file, env={"LLM_KEY": "k"})
    assert info.value.file == str(bad_file)  # the file's own mistake still names the file


def test_a_routing_override_for_an_unknown_channel_is_refused(tmp_path: Path) -> None:
    body = GOOD.replace(
        "persona: {name: Juniper,",
        "understanding: {routing: {channels: {twilio_voice: {clarify: false}}}}\n"
        "    persona: {name: Juniper,",
    )
    with pytest.raises(ConfigError) as info:
        load_settings(write(tmp_path, body), env={"LLM_KEY": "k"})
    assert info.value.key == "workspaces[0].understanding.routing.channels"
    assert "unknown channel 'twilio_voice'; one of api, webchat, sms, voice" in info.value.expected


def test_a_postgresql_schema_name_must_be_plain(tmp_path: Path) -> None:
    body = GOOD + "database: {schema: Acme-Prod}\n"
    with pytest.raises(ConfigError) as info:
        load_settings(write(tmp_path, body), env={"LLM_KEY": "k"})
    assert info.value.key == "database.schema" and "a-z0-9_" in info.value.expected
    ok = load_settings(
        write(tmp_path, GOOD + "database: {schema: acme_prod}\n"), env={"LLM_KEY": "k"}
    )
    assert ok.database.schema_name == "acme_prod"


def test_a_redis_url_must_be_one_and_is_not_echoed(tmp_path: Path) -> None:
    config = tmp_path / "omnivox.yaml"
    config.write_text(
        "redis: {url: 'http://:hunter2@cache:6379'}\nworkspaces: [{id: a, name: A}]\n"
    )
    with pytest.raises(ConfigError) as caught:
        load_settings(config)
    assert caught.value.key == "redis.url" and "redis://" in caught.value.expected
    assert "hunter2" not in str(caught.value)


EXPERIMENT = "workspaces: [{id: a, name: A, experiment: {name: tone, variants: [%s]}}]\n"


@pytest.mark.parametrize(
    ("variants", "key", "expected"),
    [
        ("{name: A}", "workspaces[0].experiment.variants", "at least 2 items"),
        ("{name: A}, {name: B, weight: 0}", "workspaces[0].experiment.variants[1].weight",
         "greater than 0"),
        ("{name: A}, {name: A}", "workspaces[0].experiment.variants",
         "variant names must be unique; repeated: A"),
        ("{name: A}, {name: B, persona: {tone: warm}}",
         "workspaces[0].experiment.variants[1].persona.tone", "unknown key"),
        ("{name: A}, {name: B, temperature: 3}",
         "workspaces[0].experiment.variants[1].temperature", "less than or equal to 2"),
        ("{name: A}, {name: B}, {name: C}, {name: D}, {name: E}",
         "workspaces[0].experiment.variants", "at most 4 items"),
    ],
)  # fmt: skip
def test_a_bad_experiment_names_its_key(
    tmp_path: Path, variants: str, key: str, expected: str
) -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(write(tmp_path, EXPERIMENT % variants), env={})
    assert info.value.key == key and expected in info.value.expected


def test_an_experiment_reads_weights_and_persona_overrides(tmp_path: Path) -> None:
    body = EXPERIMENT % "{name: A}, {name: B, weight: 3, temperature: 0.9, persona: {voice: Warm.}}"
    experiment = load_settings(write(tmp_path, body), env={}).workspaces[0].experiment
    assert experiment is not None and [v.weight for v in experiment.variants] == [1.0, 3.0]
    b = experiment.variants[1]
    assert (b.persona.voice, b.persona.name, b.temperature) == ("Warm.", None, 0.9)
    assert (
        load_settings(write(tmp_path, GOOD), env={"LLM_KEY": "k"}).workspaces[0].experiment is None
    )


SHARED_MAILBOX = """
llm: {providers: [{type: extractive}]}
workspaces:
  - id: acme
    name: Acme
    channels: {email: {addresses: [support@acme.example]}}
  - id: globex
    name: Globex
    channels: {email: {addresses: [help@globex.example, Support@Acme.example]}}
"""


def test_a_support_address_of_two_workspaces_names_file_key_and_address(tmp_path: Path) -> None:
    """The later workspace silently took all of the earlier's mail."""
    path = write(tmp_path, SHARED_MAILBOX)
    with pytest.raises(ConfigError) as info:
        load_settings(path, env={})
    assert info.value.file == str(path)
    assert info.value.key == "workspaces[1].channels.email.addresses[1]"
    assert "support@acme.example" in info.value.expected
    assert "workspaces[0].channels.email.addresses[0]" in info.value.expected
    assert "'acme'" in info.value.expected
