"""Package data: the EFF Large Wordlist (CC BY 3.0 US, see its header)."""
