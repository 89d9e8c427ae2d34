"""Rate plans: speeds, monthly price, optional data cap, setup fee and tax rate."""
