"""The sandbox telephone network: a local stand-in for Twilio for the demo and the tests."""
