"""A customer's life under the GDPR: end of service, retention, erasure, portable export, sub-processors."""
