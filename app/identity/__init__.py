"""Staff identity: users, roles, passwords, sessions."""
