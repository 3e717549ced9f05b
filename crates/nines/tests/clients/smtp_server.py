"""A real SMTP server (aiosmtpd) on loopback for tests/channels.rs.

Usage: smtp_server.py PORT. Prints `ready` once it listens, then one JSON
line per message it accepts (envelope, headers, and the text and HTML parts
decoded by Python's own email parser). Refuses any recipient whose address
starts with `nobody@`, as a real server refuses an unknown user. Stops when
its standard input closes.
"""

import email
import email.policy
import json
import sys

from aiosmtpd.controller import Controller


class Handler:
    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address.startswith("nobody@"):
            return f"550 5.1.1 <{address}>: Recipient address rejected: User unknown in local recipient table"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        msg = email.message_from_bytes(envelope.original_content, policy=email.policy.default)
        text = msg.get_body(preferencelist=("plain",))
        html = msg.get_body(preferencelist=("html",))
        print(
            json.dumps(
                {
                    "mail_from": envelope.mail_from,
                    "rcpt_tos": envelope.rcpt_tos,
                    "ehlo": session.host_name,
                    "subject": str(msg["Subject"]),
                    "from": str(msg["From"]),
                    "to": str(msg["To"]),
                    "message_id": str(msg["Message-ID"]),
                    "content_type": msg.get_content_type(),
                    "text": text.get_content() if text else None,
                    "html": html.get_content() if html else None,
                }
            ),
            flush=True,
        )
        return "250 Message accepted for delivery"


def main():
    port = int(sys.argv[1])
    controller = Controller(Handler(), hostname="127.0.0.1", port=port)
    controller.start()
    print("ready", flush=True)
    try:
        sys.stdin.read()
    finally:
        controller.stop()


if __name__ == "__main__":
    main()
