"""Access tokens after sign-in: single-flight refresh, and the refresh-once-on-401 rule."""
