"""Network inventory: sites (towers, NOCs) and their access points."""
