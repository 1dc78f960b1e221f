"""The CLI's one place for failures: user errors exit 2, bugs exit 1, both as one paragraph."""

from __future__ import annotations

import errno

import pytest


def _raise(exc):
    def f(*a, **k):
        raise exc
    return f


def test_a_bug_is_one_paragraph_naming_the_code(cli, monkeypatch, tmp_path):
    monkeypatch.delenv("SNN2HW_DEBUG", raising=False)
    monkeypatch.setattr("snn2hw.pipeline.evaluate_run", _raise(ZeroDivisionError("division by zero")))
    r = cli("eval", tmp_path)
    assert r.exit_code == 1 and "Traceback" not in r.output
    line = r.output.strip()
    assert "\n" not in line and line.startswith("Error: internal error at tests/test_user_errors.py:")
    assert "ZeroDivisionError: division by zero" in line and "SNN2HW_DEBUG=1" in line


def test_debug_shows_the_real_exception(cli, monkeypatch, tmp_path):
    monkeypatch.setenv("SNN2HW_DEBUG", "1")
    monkeypatch.setattr("snn2hw.pipeline.evaluate_run", _raise(ZeroDivisionError("x")))
    r = cli("eval", tmp_path)
    assert isinstance(r.exception, ZeroDivisionError)


@pytest.mark.parametrize("err,fragment", [(errno.ENOSPC, "the disk is full"),
                                          (errno.EROFS, "read-only"),
                                          (errno.EACCES, "permission denied"),
                                          (errno.EIO, "Input/output error")])
def test_os_errors_are_user_errors(cli, monkeypatch, tmp_path, err, fragment):
    import os

    monkeypatch.delenv("SNN2HW_DEBUG", raising=False)
    e = OSError(err, os.strerror(err), str(tmp_path / "f"))
    monkeypatch.setattr("snn2hw.pipeline.evaluate_run", _raise(e))
    r = cli("eval", tmp_path)
    assert r.exit_code == 2 and r.output.startswith("Error: cannot access ")
    assert fragment in r.output and str(tmp_path / "f") in r.output
