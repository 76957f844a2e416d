"""One router per resource: tenants, events, stats and projections, health."""
