"""Twilio Media Streams: the bidirectional WebSocket channel that carries a call's audio."""
