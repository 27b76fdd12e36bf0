"""ballot_templates."""
