"""What a grade leaves: the report (the judge's wire format), its text
safety, the history database and the figures drawn from it. No screen code."""
