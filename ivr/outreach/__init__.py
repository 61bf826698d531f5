"""Proactive after-sales: campaigns of follow-up calls, surveys, review texts and service-recovery callbacks."""
