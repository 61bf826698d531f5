"""The HTTP side: Twilio webhooks, prompt audio, health."""
