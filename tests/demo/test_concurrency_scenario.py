"""Tests for apps.debugging.scenarios.concurrency's Ctrl-C handling."""

from __future__ import annotations

import os
import signal

import pytest

from apps.debugging.scenarios.concurrency import ctrl_c_deferred


def test_ctrl_c_inside_the_block_is_raised_when_it_ends(ctrl_c_raises: None) -> None:
    """A SIGINT during the block lets the block finish, then raises."""
    finished = False

    with pytest.raises(KeyboardInterrupt), ctrl_c_deferred():
        os.kill(os.getpid(), signal.SIGINT)
        finished = True

    assert finished
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_without_ctrl_c_the_block_just_runs(ctrl_c_raises: None) -> None:
    """No SIGINT, no exception; the handler is put back."""
    with ctrl_c_deferred():
        pass

    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
