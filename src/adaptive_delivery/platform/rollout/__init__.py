"""Safe rollouts of a candidate model (spec §8): shadow, canary, ramp; sticky assignment; statistics;
guardrails; automatic promotion and rollback; state that survives a restart."""
