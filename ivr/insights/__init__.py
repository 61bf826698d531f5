"""Insights for supervisors: what the line's calls did, counted when each call ends.

`facts` turns a finished call's record into counts (pure); `store` adds them to hourly
roll-ups and reads them back in SQL on SQLite and PostgreSQL; `report` turns the rows into
the figures that `ivr stats` prints and the console's insights page shows; `recorder` is
the line's hook that files each call as it ends.
"""
