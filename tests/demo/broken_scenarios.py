"""A scenario module that fails to import, as a project's typo would."""

import perfprobe_no_such_dependency  # noqa: F401
