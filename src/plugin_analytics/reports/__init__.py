"""Weekly email reports: the week's numbers (build), the email (render), SMTP (mailer), the claim
that sends each week once (claims), and the in-process schedule (schedule)."""
