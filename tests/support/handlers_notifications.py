"""The notifications service of the README: a welcome email on user.created."""

from recorder import record

from tchu import subscribe


@subscribe("user.created")
def send_welcome_email(event):
    record("send_welcome_email", event)


@subscribe("user.created")
def send_welcome_email_again(event):
    record("send_welcome_email_again", event)
    if event.get("fail"):
        raise RuntimeError("mail server down")
