"""Wire perfprobe into Django: checks, database instrumentation, exporters."""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Sequence
from itertools import pairwise

from django.apps import AppConfig, apps
from django.core.exceptions import ImproperlyConfigured
from django.core.signals import setting_changed

from .failures import log_failure

logger = logging.getLogger("perfprobe")

_startup_error: ImproperlyConfigured | None = None


def startup_error() -> ImproperlyConfigured | None:
    """Return the error ``PERFPROBE`` raised when the app was loaded, if any."""
    return _startup_error


_told_not_installed = False


def warn_if_not_installed() -> None:
    """Log once, at WARNING, that the middleware runs without the app.

    Without ``ready()`` no query recorder is installed and no check runs,
    so the report would show requests without a query or a finding, and
    nothing would say why. The server still starts: the requests are served
    and timed as before.
    """
    global _told_not_installed
    # Made before django.setup() (by hand, in a test), the registry cannot
    # say yet, and asking it would raise into the caller.
    if _told_not_installed or not apps.ready or apps.is_installed("perfprobe"):
        return
    _told_not_installed = True
    logging.getLogger("perfprobe.request").warning(
        "perfprobe's middleware is in MIDDLEWARE but 'perfprobe' is not in "
        "INSTALLED_APPS, so requests are timed but no database query is "
        "recorded, no N+1 is found and perfprobe's system checks do not run: "
        "add 'perfprobe' to INSTALLED_APPS."
    )


# Commands that run the system checks themselves, whatever their
# requires_system_checks says (the test runner runs them too).
_CHECKING_COMMANDS = frozenset({"check", "runserver", "test"})
# Options with which a command runs no checks, or only prints something.
_NO_CHECKS = frozenset({"--skip-checks", "--list-tags", "-h", "--help", "--version"})


def checks_will_report(argv: Sequence[str]) -> bool:
    """Return whether ``argv`` runs a management command that runs the checks.

    Such a command prints perfprobe.E001 itself, so the start-up log line
    would only repeat it. Anything unclear (a server, a test runner, a
    command that skips the checks) counts as no.
    """
    if len(argv) < 2 or not _NO_CHECKS.isdisjoint(argv):
        return False
    if os.path.basename(argv[0]) not in ("manage.py", "django-admin", "__main__.py"):
        return False
    name = argv[1]
    if name == "check":
        # `check --tag security` runs only the checks of the tags named.
        rest = list(argv[2:])
        tags = [value for option, value in pairwise(rest) if option in ("--tag", "-t")]
        tags += [arg[len("--tag=") :] for arg in rest if arg.startswith("--tag=")]
        return not tags or "perfprobe" in tags
    if name in _CHECKING_COMMANDS:
        return True
    try:
        from django.core.management import get_commands, load_command_class

        app_name = get_commands().get(name)
        if app_name is None:
            return False
        runs = load_command_class(app_name, name).requires_system_checks
        # "__all__", or the tags of the only checks it runs.
        return runs == "__all__" or "perfprobe" in runs
    except Exception:
        return False


def sync_finding_log() -> None:
    """Start or stop logging N+1 findings, as ``LOG_N_PLUS_ONE`` and DEBUG say.

    ``perfprobe.findinglog`` is imported only once wanted: a process that
    never logs findings never loads it.
    """
    from .conf import n_plus_one_log_wanted

    if "perfprobe.findinglog" in sys.modules or n_plus_one_log_wanted():
        from .findinglog import finding_log

        finding_log.sync()


def sync_instrumentation() -> None:
    """Install the query recorder if the settings now want queries recorded.

    Settings that turn perfprobe on after start-up (``override_settings``
    in a test of a project that ships it off) would otherwise time blocks
    and requests but record no query. It is never removed here: the
    recorder reads the switches at each query, so settings turning it off
    make queries pass through unrecorded. Connections already open in other
    threads are not instrumented (see ``perfprobe.db.installer.install``).
    """
    from .conf import settings_or_none
    from .db.installer import install, is_installed

    conf = settings_or_none()
    if conf is None or not (conf.ENABLED and conf.INSTRUMENT_DATABASE):
        return
    if not is_installed():
        install()


def _follow_settings(*, setting: str, **kwargs: object) -> None:
    if setting in ("PERFPROBE", "DEBUG"):
        sync_finding_log()
    if setting == "PERFPROBE":
        # A receiver's exception would reach the code changing the settings.
        try:
            sync_instrumentation()
        except Exception:
            log_failure(
                logger, "instrument", "perfprobe could not install its query recorder"
            )


class PerfprobeConfig(AppConfig):
    """Install the query instrumentation and register the system checks."""

    name = "perfprobe"
    verbose_name = "perfprobe"

    def ready(self) -> None:
        """Register checks and start instrumenting database connections.

        An invalid ``PERFPROBE`` leaves perfprobe off instead of raising:
        system check ``perfprobe.E001`` reports it (so ``manage.py check``
        and every command that runs the checks fail with it), and the
        request middleware refuses to start a server with it.
        """
        global _startup_error
        from . import checks
        from .conf import get_settings
        from .db.installer import install
        from .monitoring import monitor

        checks.register()
        try:
            conf = get_settings()
        except ImproperlyConfigured as exc:
            _startup_error = exc
            # Commands that skip the system checks (shell, dbshell) would
            # otherwise run unmonitored without a word; the others print it.
            if not checks_will_report(sys.argv):
                logger.error("perfprobe is off: %s", exc)
            return
        _startup_error = None
        monitor.reset()
        if conf.ENABLED and conf.INSTRUMENT_DATABASE:
            install()
        # Off in production by default: a scope listener stops request
        # scopes from waiting for the batched close. Connected here, after
        # conf's own receiver, so that the settings it reads are the new ones.
        setting_changed.connect(_follow_settings, dispatch_uid=__name__)
        sync_finding_log()
        if conf.PROMETHEUS:
            # Imported only here, so that with the setting off neither the
            # exporter nor prometheus_client is ever imported.
            from .prometheus import install as install_prometheus

            install_prometheus()
