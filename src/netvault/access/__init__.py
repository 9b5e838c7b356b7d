"""Who may see what: grants, time-limited access, people, incident requests and break-glass."""
