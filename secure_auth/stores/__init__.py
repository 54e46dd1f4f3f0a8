"""Where sessions and pending sign-ins live: the store interfaces, memory and Redis."""
