"""Proactive after-sales: follow-up calls, surveys, review texts and service-recovery callbacks."""
