"""Analyses: trajectory models, schedule comparison and audit KPIs, returned as result objects."""
