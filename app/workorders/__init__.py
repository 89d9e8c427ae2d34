"""Work orders: installation, repair, maintenance, removal, with their state machine."""
