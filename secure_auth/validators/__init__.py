"""Pure validation: id_tokens, redirect targets and the characters they may hold. No I/O."""
