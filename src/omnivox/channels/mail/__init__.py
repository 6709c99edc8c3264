"""Email: the inbound SMTP server, MIME parsing, reply stripping, threading, the relay."""
