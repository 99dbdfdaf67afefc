"""MDL-004 Domain Reputation Scorer (spec §2.1): per sending IP and domain, hourly."""
