"""Agents: the queue, warm transfer, callbacks, voicemail, and the desk the console shows."""
