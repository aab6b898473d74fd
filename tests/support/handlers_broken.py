"""A handler module whose import fails, as a typo in a service's set-up would make it."""

import no_such_dependency_module  # noqa: F401
