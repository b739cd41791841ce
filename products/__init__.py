"""Map products of a session: the final map (products.map) and its files (products.export)."""
