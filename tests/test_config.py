"""Config: defaults, line-numbered errors, unknown keys, secrets."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from bot.core.errors import ConfigError
from platforms import load_config


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "config.yaml"
    p.write_text(text, encoding="utf-8")
    return p


def test_shipped_configs_are_valid() -> None:
    root = Path(__file__).resolve().parents[1]
    for p in (root / "config.yaml", root / "examples/demo/config.yaml"):
        cfg = load_config(p)
        assert cfg.schedule.timezone == "Asia/Seoul"
    assert load_config(root / "examples/demo/config.yaml").data_path == (root / "data/demo").resolve()


def test_missing_default_file_gives_defaults(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("BLOGBOT_CONFIG")
    (tmp_path / "config.yaml").unlink()
    cfg = load_config()
    assert cfg.data_dir == Path("data") and cfg.model.base is None


def test_explicit_missing_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="nope.yaml: file not found"):
        load_config(tmp_path / "nope.yaml")


def test_unknown_key_names_line_and_path(tmp_path: Path) -> None:
    p = write(tmp_path, "data_dir: x\nmodel:\n  base: null\n  bogus: 3\n")
    with pytest.raises(ConfigError) as e:
        load_config(p)
    assert str(e.value) == f"{p}:4 model.bogus: unknown key"


def test_wrong_type_names_line(tmp_path: Path) -> None:
    p = write(tmp_path, "tune:\n  max_steps: many\n")
    with pytest.raises(ConfigError, match=r"config.yaml:2 tune.max_steps: .*integer"):
        load_config(p)


def test_invalid_cron_names_line(tmp_path: Path) -> None:
    p = write(tmp_path, "schedule:\n  timezone: Asia/Seoul\n  crawl:\n    cron: \"0 25 * * *\"\n")
    msg = r'config.yaml:4 schedule.crawl.cron: invalid cron expression "0 25 \* \* \*"'
    with pytest.raises(ConfigError, match=msg):
        load_config(p)


def test_malformed_yaml_names_line(tmp_path: Path) -> None:
    p = write(tmp_path, "data_dir: x\nmodel:\n  base: [unclosed\n  dtype: auto\n")
    with pytest.raises(ConfigError, match=r"config.yaml:\d+: malformed YAML"):
        load_config(p)


@pytest.mark.parametrize("text,msg", [("", "empty file"), ("- a\n- b\n", "must be a mapping")])
def test_empty_or_non_mapping(tmp_path: Path, text: str, msg: str) -> None:
    with pytest.raises(ConfigError, match=msg):
        load_config(write(tmp_path, text))


def test_source_needs_account(tmp_path: Path) -> None:
    p = write(tmp_path, "sources:\n  - platform: velog\n")
    with pytest.raises(ConfigError, match=r"config.yaml:2 sources.0: a velog source needs `username`"):
        load_config(p)


def test_secret_from_env_and_0600_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    sf = tmp_path / "secrets.env"
    sf.write_text("# comment\nSLACK=https://hooks.example/abc\n", encoding="utf-8")
    os.chmod(sf, 0o600)
    cfg = load_config(write(tmp_path, f"secrets_file: {sf.name}\n"))
    assert cfg.secret("slack") == "https://hooks.example/abc"
    monkeypatch.setenv("BLOGBOT_SLACK", "from-env")
    assert cfg.secret("slack") == "from-env"
    assert cfg.secret("missing") is None


def test_secret_file_readable_by_others_is_refused(tmp_path: Path) -> None:
    sf = tmp_path / "secrets.env"
    sf.write_text("A=b\n", encoding="utf-8")
    os.chmod(sf, 0o644)
    with pytest.raises(ConfigError, match=r"config.yaml:1 secrets_file: .*readable by others.*chmod 600"):
        load_config(write(tmp_path, f"secrets_file: {sf.name}\n"))  # at load, not when a webhook fires
    os.chmod(sf, 0o600)
    cfg = load_config(tmp_path / "config.yaml")
    os.chmod(sf, 0o644)  # loosened after the load: still refused when read
    with pytest.raises(ConfigError, match="chmod 600"):
        cfg.secret("a")
    with pytest.raises(ConfigError, match=r"secrets_file: .*missing.env does not exist"):
        load_config(write(tmp_path, "secrets_file: missing.env\n"))


def test_config_check_masks_secrets(tmp_path: Path, cli, monkeypatch: pytest.MonkeyPatch) -> None:
    write(tmp_path, "webhooks:\n  - {url_secret: hook, format: slack}\n")
    monkeypatch.setenv("BLOGBOT_HOOK", "https://hooks.example/SECRET-TOKEN")
    r = cli("config", "check")
    assert r.code == 0, r.err
    assert "valid" in r.out and "url: '***'" in r.out
    assert "SECRET-TOKEN" not in r.out + r.err


def test_config_check_exit_2_on_bad_config(tmp_path: Path, cli) -> None:
    write(tmp_path, "review: sometimes\n")
    r = cli("config", "check")
    assert r.code == 2
    assert "config.yaml:1 review:" in r.err


def test_data_dir_env_override(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BLOGBOT_DATA_DIR", str(tmp_path / "vol"))
    assert load_config(write(tmp_path, "data_dir: elsewhere\n")).data_path == tmp_path / "vol"
