"""How messages go out: email over SMTP (smtp), notification URLs through
Apprise (notify), and the digest archive on disk (files)."""
