"""Pure DataFrame -> DataFrame transforms onto the canonical person schema."""
