"""People's identity on Amazon Cognito: sign-up with our own emailed codes, log-in, sessions
(Cognito access tokens) verified as principals, log-out and password reset."""
