"""Live streams (SPEC §9): Server-Sent Events fed by one database listener per API process."""
