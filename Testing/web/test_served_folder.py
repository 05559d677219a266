"""What ``gmmseg serve`` lets a browser reach: images under its folder only, other computers only with a token."""

from __future__ import annotations

import os

import pytest

from GmmSegLib.core.errors import InputError
from GmmSegLib.web.access import is_loopback, page_address, session_token
from GmmSegLib.web.served_folder import ServedFolder


@pytest.fixture
def served(tmp_path):
    root = tmp_path / "served"
    (root / "patient 1").mkdir(parents=True)
    (root / "patient 1" / "cine.nii.gz").write_bytes(b"x")
    (root / "b.nrrd").write_bytes(b"x")
    (root / "notes.txt").write_text("not an image")
    (root / ".hidden").mkdir()
    (root / ".hidden" / "c.nii").write_bytes(b"x")
    (tmp_path / "outside.nii.gz").write_bytes(b"x")
    return ServedFolder(root)


def test_the_images_under_the_folder_are_listed_and_nothing_else(served):
    assert served.images() == ["b.nrrd", "patient 1/cine.nii.gz"]
    assert served.resolve("patient 1/cine.nii.gz") == served.root / "patient 1" / "cine.nii.gz"


@pytest.mark.parametrize("name", ["../outside.nii.gz", "patient 1/../../outside.nii.gz", "/etc/passwd", "", "a\\b"])
def test_a_path_that_leaves_the_folder_is_refused(served, name):
    with pytest.raises(InputError, match="outside the served folder|give a path inside"):
        served.resolve(name)


@pytest.mark.skipif(not hasattr(os, "symlink"), reason="symbolic links")
def test_a_link_pointing_out_of_the_folder_is_neither_listed_nor_opened(served):
    (served.root / "link.nii.gz").symlink_to(served.root.parent / "outside.nii.gz")
    assert "link.nii.gz" not in served.images()
    with pytest.raises(InputError, match="outside the served folder"):
        served.resolve("link.nii.gz")


def test_a_missing_image_or_folder_is_said(served, tmp_path):
    with pytest.raises(InputError, match="no such image"):
        served.resolve("patient 2/cine.nii.gz")
    with pytest.raises(InputError, match="not a folder"):
        ServedFolder(tmp_path / "nowhere")


def test_only_this_computer_without_a_token_and_no_short_token():
    assert is_loopback("127.0.0.1") and is_loopback("localhost") and is_loopback("::1")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.168.1.20")
    assert len(session_token("127.0.0.1", None)) >= 16  # a fresh random token even on the loopback
    with pytest.raises(InputError, match="other computers could reach"):
        session_token("0.0.0.0", None)
    with pytest.raises(InputError, match="at least 16 characters"):
        session_token("0.0.0.0", "short")
    assert session_token("0.0.0.0", "a-long-random-token-0123") == "a-long-random-token-0123"
    assert page_address("::1", 8080, "t" * 16) == f"http://[::1]:8080/?secret={'t' * 16}"


def test_the_session_folders_of_a_launcher_that_no_longer_runs_are_removed(tmp_path, monkeypatch):
    import subprocess
    import sys
    import tempfile

    from GmmSegLib.web.serve import SESSIONS_PREFIX, remove_abandoned_session_folders

    ended = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    abandoned = tmp_path / f"{SESSIONS_PREFIX}{ended.stdout.strip()}-a1b2"
    running = tmp_path / f"{SESSIONS_PREFIX}{os.getpid()}-c3d4"
    for folder in (abandoned, running):
        (folder / "session-x").mkdir(parents=True)
        (folder / "session-x" / "gmmseg_input.nii").write_bytes(b"a patient's images")
    remove_abandoned_session_folders()
    assert not abandoned.exists() and (running / "session-x" / "gmmseg_input.nii").exists()
