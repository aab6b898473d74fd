"""Handlers on a router of their own: importing them in the test process leaves the default router alone."""

from tchu import Router

router = Router()


@router.subscribe("audit.#")
def audit(event):
    return event
