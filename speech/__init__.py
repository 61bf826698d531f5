"""Speech engines behind narrow async interfaces (synthesis today; recognition comes with Media Streams)."""
