"""Everything that speaks HTTP to the service: the client, request signing, sessions."""
