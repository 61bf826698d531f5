"""Insights for supervisors: what the line's calls did, counted when each call ends.

`facts` turns a finished call's record into counts (pure); `counting` counts the calls the
database filed as they ended into roll-ups; `store` holds the roll-ups' SQL on SQLite and
PostgreSQL; `report` turns the rows into the figures that `ivr stats` prints and the
console's insights page shows; `service` is what those two ask.
"""
