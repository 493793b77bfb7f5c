"""idp.serving's one-time restart with glibc's huge-page malloc (see its docstring for why)."""

from __future__ import annotations

import sys

import pytest

from idp import serving


@pytest.fixture
def execs(monkeypatch) -> list[tuple[str, list[str]]]:
    calls: list[tuple[str, list[str]]] = []
    monkeypatch.setattr(serving.os, "execv", lambda path, argv: calls.append((path, argv)))
    monkeypatch.setattr(serving.platform, "libc_ver", lambda: ("glibc", "2.36"))
    monkeypatch.setenv("GLIBC_TUNABLES", "")  # empty, and restored afterwards
    return calls


def test_restarts_once_with_the_tunable_added(execs, monkeypatch):
    serving._restart_with_hugepage_malloc()
    assert execs == [(sys.executable, sys.orig_argv)]
    assert serving.os.environ["GLIBC_TUNABLES"] == "glibc.malloc.hugetlb=1"
    serving._restart_with_hugepage_malloc()  # the restarted process: nothing more
    assert len(execs) == 1


def test_keeps_other_tunables_and_an_operators_choice(execs, monkeypatch):
    monkeypatch.setenv("GLIBC_TUNABLES", "glibc.malloc.arena_max=2")
    serving._restart_with_hugepage_malloc()
    assert serving.os.environ["GLIBC_TUNABLES"] == "glibc.malloc.arena_max=2:glibc.malloc.hugetlb=1"
    execs.clear()
    monkeypatch.setenv("GLIBC_TUNABLES", "glibc.malloc.hugetlb=0")
    serving._restart_with_hugepage_malloc()
    assert execs == []


def test_other_c_libraries_are_left_alone(execs, monkeypatch):
    monkeypatch.setattr(serving.platform, "libc_ver", lambda: ("", ""))
    serving._restart_with_hugepage_malloc()
    assert execs == [] and serving.os.environ["GLIBC_TUNABLES"] == ""
