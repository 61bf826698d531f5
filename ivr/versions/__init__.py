"""Flow versions: drafts and published versions in the database, and the live versions calls run on."""
