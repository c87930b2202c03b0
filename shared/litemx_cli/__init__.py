"""`litemx`, the operator command line (not shipped to Lambda)."""
