"""Speech engines behind narrow async interfaces: synthesis (pyttsx3), recognition (Vosk),
voice activity, and spoken numbers per language. Nothing here knows of calls or Twilio."""
