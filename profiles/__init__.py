"""Profile data (device models, DMCs, cohorts), shipped inside the wheel."""
