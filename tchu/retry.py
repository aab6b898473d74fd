"""Per-handler retries: which failures are tried again, and after how long.

A policy belongs to one subscription. When its handler raises one of ``retry_for``, only that handler runs again
after ``backoff * 2 ** (attempt - 1)`` seconds (capped at ``backoff_max``), up to ``max_retries`` times; the
handlers that succeeded for the event do not run again. A failure past the last retry is dead-lettered.
"""

from __future__ import annotations

from dataclasses import dataclass

from tchu.errors import SetupError

DEFAULT_MAX_RETRIES = 3  # Celery's default for max_retries
DEFAULT_BACKOFF = 1.0
DEFAULT_BACKOFF_MAX = 600.0  # Celery's default for retry_backoff_max


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How one handler is retried. ``max_retries`` counts runs after the first."""

    max_retries: int = DEFAULT_MAX_RETRIES
    backoff: float = DEFAULT_BACKOFF
    backoff_max: float = DEFAULT_BACKOFF_MAX
    retry_for: tuple[type[BaseException], ...] = (Exception,)

    def __post_init__(self) -> None:
        if self.max_retries < 0 or self.backoff < 0 or self.backoff_max < 0:
            raise SetupError(f"retry settings must not be negative: {self}")
        if not self.retry_for or not all(isinstance(t, type) and issubclass(t, BaseException) for t in self.retry_for):
            raise SetupError(f"retry_for must name exception classes, got {self.retry_for!r}")

    def delay(self, exc: BaseException, attempt: int) -> float | None:
        """Seconds until the next run after ``attempt`` (1 for the first run) failed with ``exc``; ``None`` when
        the failure is final."""
        if attempt > self.max_retries or not isinstance(exc, self.retry_for):
            return None
        return float(min(self.backoff * 2 ** (attempt - 1), self.backoff_max))


def retry_policy(
    retry: RetryPolicy | int | None = None,
    *,
    autoretry_for: tuple[type[BaseException], ...] | None = None,
    max_retries: int | None = None,
    retry_backoff: bool | float | None = None,
    retry_backoff_max: float | None = None,
) -> RetryPolicy | None:
    """The policy a subscription asks for, from ``retry=`` or Celery's option names; ``None`` for no retries.

    ``retry=3`` retries three times; Celery's ``autoretry_for``, ``max_retries``, ``retry_backoff`` (``True`` for
    one second, or a number of seconds) and ``retry_backoff_max`` mean what they mean for a Celery task.
    """
    if isinstance(retry, RetryPolicy):
        return retry
    celery_style = (autoretry_for, max_retries, retry_backoff, retry_backoff_max)
    if retry is None and all(option is None for option in celery_style):
        return None
    backoff = DEFAULT_BACKOFF if retry_backoff in {None, True} else float(retry_backoff or 0)
    count = retry if isinstance(retry, int) and not isinstance(retry, bool) else max_retries
    return RetryPolicy(
        max_retries=DEFAULT_MAX_RETRIES if count is None else count,
        backoff=backoff,
        backoff_max=DEFAULT_BACKOFF_MAX if retry_backoff_max is None else retry_backoff_max,
        retry_for=tuple(autoretry_for) if autoretry_for else (Exception,),
    )
