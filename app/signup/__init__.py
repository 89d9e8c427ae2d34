"""Self-serve signup of a new WISP on the base host."""
