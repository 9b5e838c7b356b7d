"""State on the user's machine: config file, OS keyring tokens, session, clipboard, secret prompts."""
