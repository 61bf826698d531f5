"""An automated after-sales phone support line: Twilio webhooks, YAML call flows, offline speech."""

__version__ = "0.1.0"
