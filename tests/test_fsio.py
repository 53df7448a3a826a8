"""The one atomic write: all or nothing, the mode it is asked for, and a bind-mounted file rewritten in place."""

from __future__ import annotations

import errno
import os
import stat

import pytest

from bot.core import fsio


def test_atomic_write_keeps_the_old_file_when_writing_fails(tmp_path, monkeypatch):
    (tmp_path / "f").mkdir()
    path = tmp_path / "f" / "topics.yaml"
    path.write_text("- 옛 주제\n", encoding="utf-8")

    def broken(self, data):  # the disk fills up while the new text is written
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(type(path), "write_bytes", broken)
    with pytest.raises(OSError):
        fsio.atomic_write(path, "- 새 주제\n")
    monkeypatch.undo()
    assert path.read_text(encoding="utf-8") == "- 옛 주제\n"
    assert [p.name for p in path.parent.iterdir()] == ["topics.yaml"]  # no temp file left behind


def test_atomic_write_sets_the_mode_before_any_byte(tmp_path):
    path = fsio.atomic_write(tmp_path / "sessions" / "naver.json", '{"cookies": []}', mode=0o600)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    other = fsio.atomic_write(tmp_path / "kept.txt", "x")
    os.chmod(other, 0o640)
    fsio.atomic_write(other, "y")  # the mode a file had is kept
    assert stat.S_IMODE(os.stat(other).st_mode) == 0o640


def test_a_file_that_cannot_be_replaced_is_rewritten_in_place_only_when_allowed(tmp_path, monkeypatch):
    """A container's topics.yaml bind-mounted as a single file cannot be renamed over (EBUSY)."""
    (tmp_path / "f").mkdir()
    path = tmp_path / "f" / "topics.yaml"
    path.write_text("# 내 주제\n- 하나\n", encoding="utf-8")
    real = os.replace

    def busy(src, dst):
        if str(dst) == str(path):
            raise OSError(errno.EBUSY, "Device or resource busy")
        return real(src, dst)

    monkeypatch.setattr(os, "replace", busy)
    with pytest.raises(OSError):
        fsio.atomic_write(path, "# 내 주제\n- 하나\n- 둘\n")
    assert path.read_text(encoding="utf-8") == "# 내 주제\n- 하나\n"
    fsio.atomic_write(path, "# 내 주제\n- 하나\n- 둘\n", in_place_ok=True)
    assert path.read_text(encoding="utf-8") == "# 내 주제\n- 하나\n- 둘\n"
    assert [p.name for p in path.parent.iterdir()] == ["topics.yaml"]
