"""Per-outlet hooks: `<source_id with _ for ->.py` defining `postprocess(record, html) -> record`,
for the quirks an outlet's registry hints cannot express. Each has a stored page and its expected
fields under tests/outlets/<id>/."""
