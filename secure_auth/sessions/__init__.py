"""Server-side sessions behind an opaque, signed session id: the record, and its lifecycle."""
