"""Security tests: the contract's promises under attack, bad input and faults."""
